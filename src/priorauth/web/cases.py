"""Cases: the reviewers' queue, case lists, the case page and the decisions taken on it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from priorauth.policy.observations import load_observations
from priorauth.service.errors import Conflict, Forbidden, Invalid
from priorauth.service.workflow import OPEN, Service, case_view
from priorauth.web.common import Visitor, page, posted, redirect, service_of, values_of, visitor
from priorauth.web.letters import case_authorization
from priorauth.web.views import (
    DECIDED,
    STATUS_LABEL,
    checklist,
    join_reason,
    observation_label,
    observations_asked,
    relied_observations,
    split_reason,
    time_left,
    when,
)

router = APIRouter()
Signed = Annotated[Visitor, Depends(visitor)]
PAGE_SIZE = 20
CASES_PAGE_SIZE = 50
# "N cases waiting" counts this far and no further: a count costs as much as the rows it counts.
COUNTED_UP_TO = 1000

# Messages after a decision, chosen by code so that nothing from the address is echoed.
DONE = {
    "confirm_denial": "The denial is confirmed. The letter is ready.",
    "overturn": "The denial is overturned: the request is approved and the authorization recorded.",
    "uphold": "The denial is upheld on appeal.",
    "appeal_overturn": "The appeal is granted: the request is approved.",
    "answered": "Your answers were recorded and the request was evaluated again.",
    "withdrawn": "The request is withdrawn.",
    "appealed": "The appeal is filed; a different pharmacist will decide it.",
    "submitted": "The request is submitted.",
}


def _row(case: Any, now: Any) -> dict[str, Any]:
    view = case_view(case, now)
    view["status_label"] = STATUS_LABEL.get(view["status"], view["status"])
    view["time_left"] = time_left(case.due_by, now) if case.status in OPEN else ""
    view["received"] = when(view["received_at"])
    view["due"] = when(view["due_by"])
    return view


def _address(path: str, **params: str | None) -> str:
    return f"{path}?{urlencode({k: v for k, v in params.items() if v})}".rstrip("?")


@router.get("/queue")
def queue(
    request: Request,
    v: Signed,
    drug: str = "",
    status: str = "",
    org: str = "",
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    service = service_of(request)
    now = service.clock()
    filters = {"drug": drug or None, "status": status or None, "org": org or None}
    shown = service.queue(v.who, PAGE_SIZE, cursor or None, **filters)
    waiting = service.queue_size(v.who, COUNTED_UP_TO, **filters)
    return page(
        request,
        "queue.html",
        {
            "title": "Review queue",
            "rows": [_row(c, now) for c in shown.items],
            "waiting": waiting,
            "counted_up_to": COUNTED_UP_TO,
            "next_url": shown.next_cursor
            and _address("/ui/queue", **filters, cursor=shown.next_cursor),
            "first_url": cursor and _address("/ui/queue", **filters),
            "filters": {"drug": drug, "status": status, "org": org},
            "choices": service.queue_choices(v.who),
            "nav": "queue",
        },
        v=v,
    )


@router.get("/cases")
def case_list(
    request: Request,
    v: Signed,
    status: str = "",
    member: str = "",
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    service = service_of(request)
    now = service.clock()
    member = member.strip()
    shown = service.list_cases(
        v.who, status or None, member or None, CASES_PAGE_SIZE, cursor or None
    )
    return page(
        request,
        "cases.html",
        {
            "title": "Cases" if v.who.role != "submitter" else f"Cases of {v.who.org}",
            "rows": [_row(c, now) for c in shown.items],
            "status": status,
            "member": member,
            "statuses": STATUS_LABEL,
            "next_url": shown.next_cursor
            and _address("/ui/cases", status=status, member=member, cursor=shown.next_cursor),
            "first_url": cursor and _address("/ui/cases", status=status, member=member),
            "nav": "cases",
        },
        v=v,
    )


def _case_page_context(service: Service, v: Visitor, case_id: str) -> dict[str, Any]:
    case = service.get(v.who, case_id)  # the read is in the audit log, as GET /cases/{id}
    now = service.clock()
    view = _row(case, now)
    det = view["determination"]
    # One page, one read in the audit log (the get above): not three.
    trace = service.trace(v.who, case_id, audit=False)
    events = service.history(v.who, case_id, audit=False)
    note, cited = split_reason(view["decision_reason"])
    authorization = case_authorization(service, case_id) if case.status in DECIDED else None
    return {
        "authorization": authorization,
        "case": view,
        "request_body": case.request,
        "det": det,
        "rows": checklist(trace),
        "relied": relied_observations(trace),
        "asked": observations_asked(service.engine, det, [q["id"] for q in view["questions"]])
        if case.status == "pended"
        else {},
        "observation_labels": [
            observation_label(o) for o in case.request.get("observations") or []
        ],
        "unmet": [r for r in det.get("reasons", []) if r["status"] == "not_met"],
        "history": [
            {
                "at": when(e.at),
                "actor": e.actor,
                "role": e.role,
                "action": e.action.replace("_", " "),
                "from": e.from_status or "",
                "to": e.to_status or "",
                "reason": (e.detail or {}).get("reason", ""),
            }
            for e in events
        ],
        "note": note,
        "cited": cited,
        "decided": view["status"] in DECIDED,
        "open": view["status"] in OPEN,
        "denied_by_me": case.denied_by == v.who.name,
    }


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: str, v: Signed, done: str = "") -> Response:
    ctx = _case_page_context(service_of(request), v, case_id)
    case = ctx["case"]
    ctx.update(
        title=f"Case {case_id[:8]}: {case['member_id']}, {case['drug']}",
        done=DONE.get(done, ""),
        nav="cases",
    )
    return page(request, "case.html", ctx, v=v)


async def _decide(request: Request, v: Visitor, case_id: str, act: Any, done: str) -> Response:
    """Run a decision; a conflict or a refusal is shown on the case page, not as an error."""
    service = service_of(request)
    form = await posted(request, v.csrf)
    try:
        await run_in_threadpool(act, service, form)
    except (Conflict, Forbidden, Invalid) as exc:
        ctx = await run_in_threadpool(_case_page_context, service, v, case_id)
        problem = exc.detail
        if isinstance(exc, Conflict):
            problem = (
                f"Your action was not recorded: {exc.detail}. The page below shows the case as "
                "it is now."
            )
        ctx.update(
            title=f"Case {case_id[:8]}",
            problem=problem,
            problem_field=exc.field or "",
            form=form,
            nav="cases",
        )
        return page(request, "case.html", ctx, status=exc.status, v=v)
    return redirect(f"/ui/cases/{case_id}?done={done}")


@router.post("/cases/{case_id}/review")
async def review(request: Request, case_id: str, v: Signed) -> Response:
    action = ""

    def act(service: Service, form: dict[str, Any]) -> None:
        nonlocal action
        action = str(form.get("action", ""))
        cited = values_of(form, "cite") if action == "confirm_denial" else []
        note = str(form.get("note", ""))
        if not note.strip():
            raise Invalid("Write the reason for your decision.", "note")
        service.review(v.who, case_id, action, join_reason(note, cited))

    response = await _decide(request, v, case_id, act, "")
    if response.status_code == 303:
        return redirect(f"/ui/cases/{case_id}?done={action}")
    return response


@router.post("/cases/{case_id}/appeal-decision")
async def appeal_decision(request: Request, case_id: str, v: Signed) -> Response:
    action = ""

    def act(service: Service, form: dict[str, Any]) -> None:
        nonlocal action
        action = str(form.get("action", ""))
        note = str(form.get("note", ""))
        if not note.strip():
            raise Invalid("Write the reason for your decision.", "note")
        service.decide_appeal(v.who, case_id, action, note)

    response = await _decide(request, v, case_id, act, "")
    if response.status_code == 303:
        code = "uphold" if action == "uphold" else "appeal_overturn"
        return redirect(f"/ui/cases/{case_id}?done={code}")
    return response


@router.post("/cases/{case_id}/answers")
async def answer(request: Request, case_id: str, v: Signed) -> Response:
    def act(service: Service, form: dict[str, Any]) -> None:
        answers = {
            key.removeprefix("q:"): value == "yes"
            for key, value in form.items()
            if key.startswith("q:") and value in ("yes", "no")
        }
        measured = _measured(form)
        if not answers and not measured:
            raise Invalid(
                "Answer at least one question (yes or no), or give a value asked for.", "answers"
            )
        info: dict[str, Any] = {"answers": answers} if answers else {}
        if measured:
            # The request's list is replaced by what is sent: the values on file stay in it.
            on_file = service.get(v.who, case_id).request.get("observations") or []
            info["observations"] = [*on_file, *measured]
        service.add_information(v.who, case_id, info)

    return await _decide(request, v, case_id, act, "answered")


def _measured(form: dict[str, Any]) -> list[dict[str, Any]]:
    """The observations given in the answer form (`o:<question>:<observation>.value`, `.unit`,
    `.date`): those with a value."""
    out = []
    for key in sorted(form):
        if not (key.startswith("o:") and key.endswith(".value")):
            continue
        stem = key.removesuffix(".value")
        value = str(form[key]).strip()
        if not value:
            continue
        name = stem.rsplit(":", 1)[-1]
        try:
            number = float(value)
        except ValueError:
            raise Invalid(f"{value!r} is not a number ({name.replace('_', ' ')})", key) from None
        table = load_observations()
        label = table.kind(name).name if name in table.kinds else name
        obs: dict[str, Any] = {"name": label, "value": number}
        for part in ("unit", "date"):
            given = str(form.get(f"{stem}.{part}", "")).strip()
            if given:
                obs[part] = given
        out.append(obs)
    return out


@router.post("/cases/{case_id}/withdraw")
async def withdraw(request: Request, case_id: str, v: Signed) -> Response:
    def act(service: Service, form: dict[str, Any]) -> None:
        service.withdraw(v.who, case_id, str(form.get("reason", "")))

    return await _decide(request, v, case_id, act, "withdrawn")


@router.post("/cases/{case_id}/appeal")
async def appeal(request: Request, case_id: str, v: Signed) -> Response:
    def act(service: Service, form: dict[str, Any]) -> None:
        reason = str(form.get("reason", ""))
        if not reason.strip():
            raise Invalid("Say why the denial should be overturned.", "reason")
        service.appeal(v.who, case_id, reason)

    return await _decide(request, v, case_id, act, "appealed")
