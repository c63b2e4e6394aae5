"""HTTP routes: thin, each one call into the workflow. Every body passes `json_body` first
(media type, limits, the text rule); the request schema in the OpenAPI document is embedded by
openapi.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from priorauth.service.auth import Principal
from priorauth.service.contract import check_dates
from priorauth.service.errors import Invalid, ServiceError
from priorauth.service.http import current_principal, get_service
from priorauth.service.inbound import json_body, known_query
from priorauth.service.logs import error_log, failure_line
from priorauth.service.models import Authorization, Event
from priorauth.service.workflow import Service, case_view

router = APIRouter(dependencies=[Depends(json_body), Depends(known_query)])
Status = Literal[
    "pended", "in_review", "approved", "partially_approved", "denied", "in_appeal", "withdrawn"
]


class Unavailable(ServiceError):
    status = 503
    title = "Service unavailable"


Who = Annotated[Principal, Depends(current_principal)]
Svc = Annotated[Service, Depends(get_service)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewBody(_Body):
    action: Literal["confirm_denial", "overturn"]
    reason: str = Field(min_length=1)


class AppealBody(_Body):
    reason: str = Field(min_length=1)


class AppealDecisionBody(_Body):
    action: Literal["uphold", "overturn"]
    reason: str = Field(min_length=1)


class WithdrawBody(_Body):
    reason: str = ""


def _auth_view(a: Authorization) -> dict[str, Any]:
    return {
        "id": a.id,
        "case_id": a.case_id,
        "member_id": a.member_id,
        "drug": a.drug,
        "policy_number": a.policy_number,
        "start": a.start.isoformat(),
        "end": a.end.isoformat(),
        "max_daily_dose_mg": a.max_daily_dose_mg,
    }


def _event_view(e: Event) -> dict[str, Any]:
    at = e.at if e.at.tzinfo else e.at.replace(tzinfo=dt.UTC)
    return {
        "at": at.isoformat(),
        "actor": e.actor,
        "role": e.role,
        "action": e.action,
        "from_status": e.from_status,
        "to_status": e.to_status,
        "detail": e.detail,
    }


@router.get("/health")
def health(service: Svc) -> dict[str, str]:
    """200 when the service can answer: the database answered a query just now; else 503."""
    try:
        service.db.ping()
    except Exception as exc:
        error_log.error("health: the database does not answer: %s", failure_line(exc))
        raise Unavailable("the database does not answer") from None
    return {"status": "ok", "database": "ok"}


@router.post(
    "/cases",
    status_code=201,
    responses={
        200: {
            "description": "A retry with the same Idempotency-Key: the case it created",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def submit(
    request: Request,
    response: Response,
    who: Who,
    service: Svc,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> dict[str, Any]:
    """Submit a prior-authorization request; the answer carries the case and its determination.
    A retry with the same Idempotency-Key returns the same case (200), never a second one."""
    raw = await request.body()
    if idempotency_key is not None and not idempotency_key.strip():
        raise Invalid(
            "Idempotency-Key: empty; leave the header out or give a key", "Idempotency-Key"
        )
    if not raw.strip():
        raise Invalid("request: empty body; send the request as JSON", "body")
    check_dates(request.state.json)
    case, created = await run_in_threadpool(service.submit, who, raw, idempotency_key)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/cases/{case.id}"
    return case_view(case, service.clock())


@router.get("/cases")
def list_cases(
    who: Who,
    service: Svc,
    status: Status | None = None,
    member_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    now = service.clock()
    return [case_view(c, now) for c in service.list_cases(who, status, member_id, limit)]


@router.get("/cases/{case_id}")
def get_case(case_id: str, who: Who, service: Svc) -> dict[str, Any]:
    return case_view(service.get(who, case_id), service.clock())


@router.post("/cases/{case_id}/information")
def add_information(
    case_id: str, who: Who, service: Svc, info: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Answers (`answers`) or clinical data (diagnoses, biomarkers, therapies, attestations,
    disease status) for a pended case; it is evaluated again."""
    check_dates(info)
    return case_view(service.add_information(who, case_id, info), service.clock())


@router.post("/cases/{case_id}/review")
def review(case_id: str, body: ReviewBody, who: Who, service: Svc) -> dict[str, Any]:
    """A pharmacist confirms the recommended denial or overturns it, with the reason."""
    return case_view(service.review(who, case_id, body.action, body.reason), service.clock())


@router.post("/cases/{case_id}/appeal")
def appeal(case_id: str, body: AppealBody, who: Who, service: Svc) -> dict[str, Any]:
    return case_view(service.appeal(who, case_id, body.reason), service.clock())


@router.post("/cases/{case_id}/appeal-decision")
def appeal_decision(
    case_id: str, body: AppealDecisionBody, who: Who, service: Svc
) -> dict[str, Any]:
    """Decided by a different reviewer than the one who denied."""
    case = service.decide_appeal(who, case_id, body.action, body.reason)
    return case_view(case, service.clock())


@router.post("/cases/{case_id}/withdraw")
def withdraw(
    case_id: str, who: Who, service: Svc, body: WithdrawBody | None = None
) -> dict[str, Any]:
    return case_view(service.withdraw(who, case_id, body.reason if body else ""), service.clock())


@router.get("/cases/{case_id}/history")
def history(case_id: str, who: Who, service: Svc) -> list[dict[str, Any]]:
    return [_event_view(e) for e in service.history(who, case_id)]


@router.get("/cases/{case_id}/trace")
def trace(case_id: str, who: Who, service: Svc) -> dict[str, Any]:
    """The whole criteria tree of the determination, each criterion's status and the facts
    (and request fields) that decided it."""
    return service.trace(who, case_id)


@router.get("/queue")
def queue(who: Who, service: Svc) -> list[dict[str, Any]]:
    """Recommended denials and appeals waiting for a pharmacist, the most urgent first."""
    now = service.clock()
    return [case_view(c, now) for c in service.queue(who)]


@router.get("/members/{member_id}/authorizations")
def member_authorizations(member_id: str, who: Who, service: Svc) -> list[dict[str, Any]]:
    return [_auth_view(a) for a in service.member_authorizations(who, member_id)]


@router.get("/authorizations/expiring")
def expiring(
    who: Who, service: Svc, within_days: Annotated[int, Query(ge=0, le=3660)] = 30
) -> list[dict[str, Any]]:
    """Authorizations ending within N days: the renewal work list."""
    return [_auth_view(a) for a in service.expiring(who, within_days)]


@router.get(
    "/metrics/prior-authorization",
    response_model=None,
    responses={
        200: {
            "description": "The figures: JSON, or CSV with format=csv",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
def metrics(
    who: Who,
    service: Svc,
    from_: Annotated[dt.date, Query(alias="from")],
    to: dt.date,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Percent approved, denied, approved after appeal, and average and median time to
    decision, for standard and expedited requests received from `from` up to `to` inclusive
    (`from` after `to` is an empty period: nothing was received in it)."""
    # Any two dates are a period, as the OpenAPI document says (it cannot compare two
    # parameters): the day after the last date there is ends it.
    start = dt.datetime.combine(from_, dt.time(), dt.UTC)
    end = (
        dt.datetime.combine(to + dt.timedelta(days=1), dt.time(), dt.UTC)
        if to < dt.date.max
        else dt.datetime.max.replace(tzinfo=dt.UTC)
    )
    figures = service.metrics(who, start, end)
    figures["to"] = to.isoformat()
    figures["from"] = from_.isoformat()
    if format == "json":
        return figures
    buf = io.StringIO()
    keys = list(figures["standard"])
    writer = csv.writer(buf)
    writer.writerow(["urgency", *keys])
    for urgency in ("standard", "expedited"):
        writer.writerow([urgency, *(figures[urgency][k] for k in keys)])
    return Response(buf.getvalue(), media_type="text/csv")
