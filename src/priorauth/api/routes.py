"""HTTP routes: thin, each one call into the workflow. Every body passes `json_body` first
(media type, limits, the text rule); the request schema in the OpenAPI document is embedded by
openapi.py."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from priorauth.service import reports
from priorauth.service.auth import Principal
from priorauth.service.contract import check_dates
from priorauth.service.errors import Invalid, ServiceError
from priorauth.service.http import current_principal, get_service
from priorauth.service.inbound import json_body, known_query
from priorauth.service.logs import error_log, failure_line
from priorauth.service.models import Authorization, Event
from priorauth.service.paging import MAX_LIMIT, Page
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

# The lists' pagination (docs/service.md): keyset pages, the next one named by a Link header.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"rows per page, 1 to {MAX_LIMIT}")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=512,
        description="where the page starts: the cursor of the previous page's Link header "
        "(opaque); leave it out for the first page",
    ),
]
PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One page of the list",
        "headers": {
            "Link": {
                "description": 'The next page, as `<URL>; rel="next"` (RFC 8288); absent on '
                "the last page",
                "schema": {"type": "string"},
            }
        },
    }
}


def _paged(request: Request, response: Response, page: Page[Any], view: Any) -> list[Any]:
    if page.next_cursor is not None:
        following = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{following}>; rel="next"'
    return [view(item) for item in page.items]


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


@router.get("/cases", responses=PAGED)
def list_cases(
    request: Request,
    response: Response,
    who: Who,
    service: Svc,
    status: Status | None = None,
    member_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[dict[str, Any]]:
    """Cases, newest first (a submitter: its organization's), one page at a time."""
    page = service.list_cases(who, status, member_id, limit, cursor)
    now = service.clock()
    return _paged(request, response, page, lambda c: case_view(c, now))


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


@router.get("/queue", responses=PAGED)
def queue(
    request: Request,
    response: Response,
    who: Who,
    service: Svc,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[dict[str, Any]]:
    """Recommended denials and appeals waiting for a pharmacist, the most urgent (soonest
    due) first, one page at a time."""
    page = service.queue(who, limit, cursor)
    now = service.clock()
    return _paged(request, response, page, lambda c: case_view(c, now))


@router.get("/members/{member_id}/authorizations", responses=PAGED)
def member_authorizations(
    request: Request,
    response: Response,
    member_id: str,
    who: Who,
    service: Svc,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[dict[str, Any]]:
    """The member's authorizations, latest ending first, one page at a time."""
    page = service.member_authorizations(who, member_id, limit, cursor)
    return _paged(request, response, page, _auth_view)


@router.get("/authorizations/expiring", responses=PAGED)
def expiring(
    request: Request,
    response: Response,
    who: Who,
    service: Svc,
    within_days: Annotated[int, Query(ge=0, le=3660)] = 30,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[dict[str, Any]]:
    """Authorizations ending within N days, the soonest first: the renewal work list."""
    page = service.expiring(who, within_days, limit, cursor)
    return _paged(request, response, page, _auth_view)


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
    # parameters): no check that `from` comes first.
    figures = reports.prior_authorization(service, who, from_, to)
    if format == "json":
        return figures
    return Response(reports.prior_authorization_csv(figures), media_type="text/csv")
