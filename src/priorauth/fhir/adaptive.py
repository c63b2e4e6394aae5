"""SDC adaptive forms (`$next-question`): on the policy's form before any case exists, and on a
pended case's open questions. Each step asks only a question that can still change the outcome,
in the policy's order, and completes the response once the outcome is settled."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from priorauth.engine.decide import open_questions
from priorauth.engine.logic import Status, combine
from priorauth.errors import PriorAuthError
from priorauth.fhir import prepopulate
from priorauth.fhir.forms import (
    KINDS,
    QR_CONTEXT,
    SDC,
    order_date,
    patient_for,
    policy_questionnaire,
    response_items,
)
from priorauth.fhir.mapping import Chart, Entry, to_request
from priorauth.fhir.outcome import FhirError
from priorauth.policy.asked import observations_compared
from priorauth.policy.model import Criterion, Policy
from priorauth.policy.observations import load_observations
from priorauth.request import parse_request
from priorauth.service.auth import Principal
from priorauth.service.workflow import Service

ADAPTIVE = {"url": f"{SDC}/sdc-questionnaire-questionnaireAdaptive", "valueBoolean": True}


def case_questionnaire(
    service: Service, who: Principal, case_id: str, base: str, asked: list[str] | None = None
) -> dict[str, Any]:
    """The adaptive Questionnaire of a pended case: the items asked so far."""
    case = service.get(who, case_id)
    missing = {q["id"]: q for q in case.determination.get("missing", [])}
    ids = asked if asked is not None else list(missing)[:1]
    policy_texts = {}
    for p in service.engine.versions(case.policy_number):
        for k in KINDS:
            policy_texts.update({q.id: q for q in service.engine.questions(p, k)})
    items = []
    for qid in ids:
        q = policy_texts.get(qid)
        text = q.text if q is not None else missing.get(qid, {}).get("text", qid)
        items.append({"linkId": qid, "text": text, "type": "boolean"})
    body = {
        "resourceType": "Questionnaire",
        "id": f"case-{case_id}",
        "meta": {"profile": [f"{SDC}/sdc-questionnaire-adapt"]},
        "extension": [ADAPTIVE],
        "url": f"{base}/fhir/Questionnaire/case-{case_id}",
        "title": f"Questions for prior-authorization case {case_id} ({case.drug})",
        "status": "active",
        "subjectType": ["Patient"],
        "item": items or None,
    }
    return Questionnaire.model_validate(body).model_dump(mode="json", exclude_none=True)


def _answers(items: list[dict[str, Any]]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for item in items:
        for ans in item.get("answer") or []:
            if isinstance(ans.get("valueBoolean"), bool):
                out[str(item.get("linkId"))] = ans["valueBoolean"]
            out.update(_answers(ans.get("item") or []))
        out.update(_answers(item.get("item") or []))
    return out


def _given(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """linkId -> the answers a response gives (values only), at any depth."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        answers = item.get("answer") or []
        values = [{k: v for k, v in a.items() if k.startswith("value")} for a in answers]
        if any(values):
            out[str(item.get("linkId"))] = [v for v in values if v]
        for a in answers:
            out.update(_given(a.get("item") or []))
        out.update(_given(item.get("item") or []))
    return out


def _leaf_ids(items: list[dict[str, Any]]) -> list[str]:
    out = []
    for item in items:
        if item.get("item"):
            out += _leaf_ids(item["item"])
        if item.get("type") != "group":
            out.append(str(item.get("linkId")))
    return out


def order_of(chart: Chart, response: dict[str, Any]) -> Entry | None:
    """The order the response is about: its DTR qr-context, else the one MedicationRequest."""
    for ext in response.get("extension") or []:
        if ext.get("url") == QR_CONTEXT:
            found = chart.resolve(ext.get("valueReference"))
            if found is not None and found.resource.get("resourceType") == "MedicationRequest":
                return found
    return chart.first("MedicationRequest")


def _open_by_answers(root: Criterion, answers: dict[str, bool]) -> list[str]:
    """Without a chart to decide on, the criteria as the answers alone leave them."""
    st: dict[str, Status] = {}

    def walk(node: Criterion) -> Status:
        if node.condition is not None:
            s = answers.get(node.id)
        else:
            kids = [walk(c) for c in node.children]
            s = combine(node.shape, kids)
        st[node.id] = s
        return s

    walk(root)
    return [n.id for n in open_questions(root, st)]


def _still_open(
    service: Service,
    policy: Policy,
    kind: str,
    chart: Chart,
    order: Entry | None,
    patient: Entry | None,
    answers: dict[str, bool],
) -> list[str]:
    """The questions that can still change the outcome, in the policy's order: the engine's pend
    questions on the chart with the answers; on the answers alone when the chart is too thin to
    make a request of (no order, no patient, no quantity)."""
    engine = service.engine
    if order is not None and patient is not None:
        try:
            when = order_date(order) or service.clock().date()
            mapped = to_request(
                chart, order, engine, date_of_service=when, kind=kind, patient=patient
            )
            body = mapped.request.model_dump(mode="json", exclude_none=True)
            body["answers"] = {**body.get("answers", {}), **answers}
            request = parse_request(body)
            # The order decides under the form's policy only when it is that policy's drug.
            if engine.policy_for(request).number == policy.number:
                det = engine.evaluate_model(request)
                return [q.id for q in det.missing] if det.decision == "pended" else []
        except (FhirError, PriorAuthError):
            pass
    return _open_by_answers(engine.plan(policy, kind).root, answers)


def _adaptive_copy(items: list[dict[str, Any]], shown: set[str]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        if item.get("type") == "group":
            kids = _adaptive_copy(item.get("item") or [], shown)
            if kids:
                out.append({**item, "item": kids})
        elif item["linkId"] in shown:
            ext = [e for e in item.get("extension") or [] if e.get("url") != prepopulate.INITIAL]
            copy = {k: v for k, v in item.items() if k != "extension"}
            out.append({**copy, "extension": ext} if ext else copy)
    return out


def _with_response(
    chart: Chart, response: dict[str, Any], form: dict[str, Any], answered: dict[str, Any]
) -> Chart:
    """The chart and the response as answered so far: its observation items (a BMI the provider
    gave) are facts of the request like the chart's Observations."""
    if not any(k.startswith("observation.") for k in answered):
        return chart
    out = Chart()
    for e in chart.entries:
        out.add(e.resource, e.path)
    given = {**response, "id": response.get("id") or "in-progress"}
    given["item"] = response_items(form["item"], answered)
    out.add(given, "QuestionnaireResponse")
    return out


def _observation_items(service: Service, policy: Policy, kind: str, ids: list[str]) -> set[str]:
    """The form's observation items that the questions `ids` need answered (value and date)."""
    plan = service.engine.plan(policy, kind)
    table = load_observations()
    out: set[str] = set()
    for qid in ids:
        node = plan.nodes.get(qid)
        for key in observations_compared(node.condition if node is not None else None):
            k = table.kind(key)
            link = k.loinc[0] if k.loinc else key
            out |= {f"observation.{link}.value", f"observation.{link}.date"}
    return out


def next_for_form(
    service: Service,
    response: dict[str, Any],
    previous: dict[str, Any] | None,
    chart: Chart,
    order: Entry | None,
    policy: Policy,
    kind: str,
    base: str,
) -> dict[str, Any]:
    """One step of the policy's form: what the chart answers (the form's initialExpressions),
    what the provider answered, and the next question that can change the outcome."""
    form = policy_questionnaire(service, policy, kind, base)
    patient = patient_for(chart, order)
    found = prepopulate.prefill(form, prepopulate.environment(chart, order, patient))
    answered = {**found, **_given(response.get("item") or [])}
    ids = {q.id for q in service.engine.questions(policy, kind)}
    booleans = {
        k: v[0]["valueBoolean"]
        for k, v in answered.items()
        if k in ids and v and isinstance(v[0].get("valueBoolean"), bool)
    }
    remaining = [
        q
        for q in _still_open(
            service,
            policy,
            kind,
            _with_response(chart, response, form, answered),
            order,
            patient,
            booleans,
        )
        if q not in booleans
    ]
    # The items of the previous step's adaptive form were asked; a whole form the client
    # contained (the package's, not adaptive) asked nothing yet.
    adaptive = ADAPTIVE in ((previous or {}).get("extension") or [])
    asked = _leaf_ids((previous or {}).get("item") or []) if adaptive else []
    nxt = [q for q in remaining if q not in asked][:1]
    shown = set(answered) | set(asked) | set(nxt) | _observation_items(service, policy, kind, nxt)
    step = {
        "resourceType": "Questionnaire",
        "id": "q",
        "meta": {"profile": [f"{SDC}/sdc-questionnaire-adapt"]},
        "extension": [ADAPTIVE],
        "url": form["url"],
        "version": form.get("version"),
        "title": form["title"],
        "status": "active",
        "subjectType": ["Patient"],
        "item": _adaptive_copy(form["item"], shown) or None,
    }
    out = dict(response)
    out["contained"] = [
        step,
        *[
            c
            for c in response.get("contained") or []
            if c.get("id") != "q" and c is not previous and c.get("resourceType") != "Questionnaire"
        ],
    ]
    out["questionnaire"] = "#q"
    out["item"] = response_items(form["item"], answered) or None
    out["status"] = "in-progress" if remaining else "completed"
    if order is not None and not any(
        e.get("url") == QR_CONTEXT for e in response.get("extension") or []
    ):
        out["extension"] = [
            *(response.get("extension") or []),
            {"url": QR_CONTEXT, "valueReference": {"reference": order.key}},
        ]
    if patient is not None and not response.get("subject"):
        out["subject"] = {"reference": patient.key}
    return QuestionnaireResponse.model_validate(
        {k: v for k, v in out.items() if v is not None}
    ).model_dump(mode="json", exclude_none=True)


def next_for_case(
    service: Service,
    who: Principal,
    response: dict[str, Any],
    questionnaire: dict[str, Any] | None,
    case_id: str,
    where: str,
    base: str,
) -> dict[str, Any]:
    case = service.get(who, case_id)
    answers = _answers(response.get("item") or [])
    asked = [str(i.get("linkId")) for i in (questionnaire or {}).get("item") or []]
    remaining: list[str] = []
    if case.status == "pended":
        merged = dict(case.request)
        merged["answers"] = {**merged.get("answers", {}), **answers}
        try:
            det = service.engine.evaluate_model(parse_request(merged))
        except PriorAuthError as exc:
            raise FhirError(str(exc), f"{where}.item", 422, "invalid") from None
        if det.decision == "pended":
            remaining = [q.id for q in det.missing if q.id not in answers]
    nxt = [qid for qid in remaining if qid not in asked][:1]
    asked_now = asked + nxt
    q = case_questionnaire(service, who, case_id, base, asked_now)
    q["id"] = "q"
    out = dict(response)
    out["contained"] = [
        q,
        *[
            c
            for c in response.get("contained") or []
            if c.get("id") != "q" and c is not questionnaire
        ],
    ]
    out["questionnaire"] = "#q"
    items = [i for i in response.get("item") or [] if i.get("linkId") in answers]
    out["item"] = items or None
    out["status"] = "in-progress" if nxt or remaining else "completed"
    if out["item"] is None:
        del out["item"]
    return QuestionnaireResponse.model_validate(out).model_dump(mode="json", exclude_none=True)
