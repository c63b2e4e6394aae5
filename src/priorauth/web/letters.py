"""Decision letters: what was decided and why, in the policy's words, as a PDF (WeasyPrint).

CMS-0057-F requires a specific reason for every denial; the letter is where it reaches the
member and the prescriber: each unmet requirement in the policy's words, what would be needed
instead, the appeal rights and their deadline, and the policy number and version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from priorauth.service import explain
from priorauth.service.auth import Principal
from priorauth.service.errors import Conflict
from priorauth.service.http import current_principal, get_service
from priorauth.service.models import Authorization
from priorauth.service.workflow import Service, case_view
from priorauth.web.common import Visitor, service_of, templates, visitor
from priorauth.web.views import (
    DECIDED,
    denial_reasons,
    observation_label,
    policy_version,
    relied_observations,
    split_reason,
    utc,
)

router = APIRouter()
api_router = APIRouter()


def case_authorization(service: Service, case_id: str) -> Authorization | None:
    """The authorization a case's approval recorded (the engine's, or a reviewer's overturn).
    Read only for a case the caller has just been allowed to read."""
    with service.db.reading() as s:
        return s.scalar(select(Authorization).where(Authorization.case_id == case_id).limit(1))


def letter_context(service: Service, who: Principal, case_id: str) -> dict[str, Any]:
    case = service.get(who, case_id)  # audited like any read of the case
    if case.status not in DECIDED:
        raise Conflict(
            f"case {case_id} is {case.status}: a letter is written once the case is decided"
        )
    now = service.clock()
    view = case_view(case, now)
    det = view["determination"]
    policy = policy_version(
        service.engine, det["policy"]["number"], det["policy"]["effective_date"]
    )
    request = case.request
    decided = utc(case.decided_at or now).date()
    authorization = case_authorization(service, case.id)
    note, _ = split_reason(case.decision_reason)
    limits = getattr(policy.limits, det["policy"]["requirements"]) if policy else None
    # The explanation kept when the denial was made; worked out now for a case denied before
    # denials kept one.
    told = det.get("explanation") or {}
    steps = told.get("appeal") or explain.appeal(case.status, case.appealed, decided)
    return {
        "plan": service.settings.plan_name,
        "case": view,
        "date": decided.isoformat(),
        "member": request["member"],
        "prescriber": request.get("prescriber") or {},
        "medication": request["medication"],
        "det": det,
        "policy": policy,
        "decision": {
            "approved": "Approved",
            "partially_approved": "Partially approved",
            "denied": "Denied",
        }[case.status],
        "authorization": authorization,
        "limits": limits,
        "reasons": (told.get("unmet") or denial_reasons(view, policy))
        if case.status == "denied"
        else [],
        "limit_reasons": [r for r in det.get("reasons", []) if r["status"] == "not_met"]
        if case.status == "partially_approved"
        else [],
        "note": note,
        "steps": steps["steps"] if steps else [],
        "deadline": steps["deadline"] if steps else "",
        "by": case.decided_by,
        "observations": _relied(service, who, case.id, request),
    }


def _relied(
    service: Service, who: Principal, case_id: str, request: dict[str, Any]
) -> list[dict[str, Any]]:
    """The observations the decision rested on (a criterion met or not met by them), with the
    criteria: the member and the prescriber see which value, in which unit, of which day."""
    given = request.get("observations") or []
    if not given:
        return []
    relied = relied_observations(service.trace(who, case_id, audit=False))
    return [
        {**given[i], "label": observation_label(given[i]), "criteria": ids}
        for i, ids in sorted(relied.items())
        if i < len(given)
    ]


def render_pdf(context: dict[str, Any]) -> bytes:
    import weasyprint  # type: ignore[import-untyped]  # imported on first use: it loads Pango, which costs a second

    html = templates.get_template("letter.html").render(context)
    pdf: bytes = weasyprint.HTML(string=html, url_fetcher=_fetch_nothing).write_pdf()
    return pdf


def _fetch_nothing(url: str, *args: Any, **kwargs: Any) -> Any:
    # The letter is self-contained: it never loads a file or a URL, whatever a request held.
    raise ValueError(f"the letter loads no resources ({url[:40]})")


def _pdf_response(pdf: bytes, case_id: str) -> Response:
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="decision-letter-{case_id}.pdf"',
            "Cache-Control": "no-store",
        },
    )


def letter_pdf(service: Service, who: Principal, case_id: str) -> bytes:
    return render_pdf(letter_context(service, who, case_id))


@router.get("/cases/{case_id}/letter.pdf")
async def web_letter(
    request: Request, case_id: str, v: Annotated[Visitor, Depends(visitor)]
) -> Response:
    pdf = await run_in_threadpool(letter_pdf, service_of(request), v.who, case_id)
    return _pdf_response(pdf, case_id)


@api_router.get(
    "/cases/{case_id}/letter.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "the decision letter"},
        409: {"description": "The case is not decided yet: no letter"},
    },
)
async def api_letter(
    case_id: str,
    who: Annotated[Principal, Depends(current_principal)],
    service: Annotated[Service, Depends(get_service)],
) -> Response:
    """The decision letter of a decided case (PDF): the decision, each reason in the policy's
    words, what would be needed instead, the appeal rights and deadline. 409 while undecided."""
    pdf = await run_in_threadpool(letter_pdf, service, who, case_id)
    return _pdf_response(pdf, case_id)
