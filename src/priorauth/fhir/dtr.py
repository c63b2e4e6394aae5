"""Da Vinci DTR: Questionnaires generated from the policy in force, and SDC adaptive forms.

- `$questionnaire-package` (input: coverage and order) answers a package Bundle whose
  Questionnaire has one boolean item per question of the policy version in force
  (`linkId` = our question id, `text` = the question in the policy's words). When the input
  carries chart resources (Patient, Condition, Observation, ...), the items they settle are
  pre-filled (`initial`) from the engine's own reading of them.
- `$next-question` works on a pended case's adaptive Questionnaire (`case-<case id>`): it asks
  only what can still change the outcome, one question at a time, and marks the response
  completed when the case is decidable. The completed QuestionnaireResponse goes back with
  the Claim through PAS `$submit`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

from priorauth.errors import PriorAuthError
from priorauth.fhir.mapping import Chart, Entry, medication_concept, medication_name, to_request
from priorauth.fhir.outcome import FhirError, json_value, outcome, pydantic_expression
from priorauth.policy.model import AgeCondition, Policy
from priorauth.request import parse_request
from priorauth.service.auth import Principal
from priorauth.service.workflow import Service

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition"
DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition"


def parse_parameters(raw: bytes) -> dict[str, Any]:
    data = json_value(raw)
    if not isinstance(data, dict) or data.get("resourceType") != "Parameters":
        got = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise FhirError(f"expected Parameters, got {got!r}", "Parameters", 422, "structure")
    try:
        Parameters.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = pydantic_expression("Parameters", tuple(err.get("loc", ())))
        raise FhirError(f"{where}: {err.get('msg', 'invalid')}", where, 422, "structure") from None
    except Exception as exc:
        raise FhirError(f"not valid FHIR Parameters: {exc}", "Parameters") from None
    return data


def _chart_of(params: dict[str, Any]) -> tuple[Chart, dict[str, list[Entry]]]:
    chart = Chart()
    named: dict[str, list[Entry]] = {}
    for i, p in enumerate(params.get("parameter") or []):
        res = p.get("resource")
        if not isinstance(res, dict):
            continue
        path = f"Parameters.parameter[{i}].resource"
        if res.get("resourceType") == "Bundle":
            chart.add_bundle(res, path)
            continue
        entry = chart.add(res, path)
        named.setdefault(str(p.get("name")), []).append(entry)
    return chart, named


def policy_in_force(service: Service, name: str, when: dt.date) -> Policy | None:
    versions = [p for p in service.engine.versions(name) if p.effective_date <= when]
    return versions[-1] if versions else None


def questionnaire_id(policy: Policy, kind: str) -> str:
    return f"pa-{policy.number}-{policy.effective_date.isoformat()}-{kind}"


def policy_questionnaire(
    service: Service,
    policy: Policy,
    kind: str,
    base: str,
    initial: dict[str, bool] | None = None,
) -> dict[str, Any]:
    qid = questionnaire_id(policy, kind)
    items = []
    nodes = service.engine.plan(policy, kind).nodes
    for q in service.engine.questions(policy, kind):
        item: dict[str, Any] = {
            "linkId": q.id,
            "text": q.text,
            "type": "boolean",
            "required": False,
            "code": [
                {
                    "system": f"{base}/fhir/CodeSystem/pa-questions",
                    "code": q.id,
                    "display": q.criterion_text[:250],
                }
            ],
        }
        if initial and q.id in initial:
            item["initial"] = [{"valueBoolean": initial[q.id]}]
        else:
            expression = _fhirpath(nodes[q.id].condition if q.id in nodes else None)
            if expression:
                item["extension"] = [
                    {
                        "url": f"{SDC}/sdc-questionnaire-initialExpression",
                        "valueExpression": {"language": "text/fhirpath", "expression": expression},
                    }
                ]
        items.append(item)
    body = {
        "resourceType": "Questionnaire",
        "id": qid,
        "meta": {"profile": [f"{DTR}/dtr-std-questionnaire"]},
        "url": f"{base}/fhir/Questionnaire/{qid}",
        "version": policy.effective_date.isoformat(),
        "name": f"PA_{policy.number.replace('.', '_')}_{kind}",
        "title": f"{policy.title} ({policy.number}), {kind} requirements",
        "status": "active",
        "subjectType": ["Patient"],
        "extension": [LAUNCH_PATIENT],
        "effectivePeriod": {"start": policy.effective_date.isoformat()},
        "description": f"Questions of policy {policy.number}, in the policy's words; "
        "true means the criterion holds.",
        "item": items,
    }
    return Questionnaire.model_validate(body).model_dump(mode="json", exclude_none=True)


LAUNCH_PATIENT = {
    "url": f"{SDC}/sdc-questionnaire-launchContext",
    "extension": [
        {
            "url": "name",
            "valueCoding": {
                "system": "http://hl7.org/fhir/uv/sdc/CodeSystem/launchContext",
                "code": "patient",
            },
        },
        {"url": "type", "valueCode": "Patient"},
    ],
}


def _fhirpath(condition: Any) -> str | None:
    """An SDC initialExpression for what a DTR client can read from the chart by itself: the
    age (the other criteria need the engine's tables: histology, tests, regimens). The server
    pre-fills the rest (`initial`) when the chart comes with the order."""
    if isinstance(condition, AgeCondition):
        return f"%patient.birthDate <= today() - {condition.min_years} years"
    return None


def _settled(det_trace: Any, ids: set[str]) -> dict[str, bool]:
    """Questions the chart settles: the trace's met / not met criteria among `ids`."""
    out: dict[str, bool] = {}

    def walk(node: Any) -> None:
        if node.id in ids and node.status in ("met", "not_met") and not node.answered:
            out[node.id] = node.status == "met"
        for child in node.children:
            walk(child)

    walk(det_trace)
    return out


def questionnaire_package(service: Service, raw: bytes, base: str) -> dict[str, Any]:
    params = parse_parameters(raw)
    chart, named = _chart_of(params)
    orders = named.get("order") or []
    if not orders:
        raise FhirError(
            "no 'order' parameter (the MedicationRequest to be authorized)",
            "Parameters.parameter",
            code="required",
        )
    packages = []
    notes = []
    for order in orders:
        if order.resource.get("resourceType") != "MedicationRequest":
            notes.append(
                f"{order.key}: no prior-authorization policy here covers a "
                f"{order.resource.get('resourceType')}; no questionnaire is needed"
            )
            continue
        concept, _ = medication_concept(chart, order)
        name = medication_name(concept)
        when = _order_date(order) or service.clock().date()
        policy = policy_in_force(service, name, when) if name else None
        if policy is None:
            notes.append(f"{order.key}: no prior-authorization policy here covers {name!r}")
            continue
        kind = "initial"
        initial = _prefill(service, chart, order, named, policy, kind, when)
        q = policy_questionnaire(service, policy, kind, base, initial)
        packages.append(
            Bundle.model_validate(
                {
                    "resourceType": "Bundle",
                    "id": str(uuid.uuid4()),
                    "meta": {"profile": [f"{DTR}/DTR-QPackageBundle"]},
                    "type": "collection",
                    "timestamp": service.clock().isoformat(),
                    "entry": [{"fullUrl": q["url"], "resource": q}],
                }
            ).model_dump(mode="json", exclude_none=True)
        )
    out: list[dict[str, Any]] = [{"name": "PackageBundle", "resource": b} for b in packages]
    if notes:
        out.append(
            {
                "name": "outcome",
                "resource": outcome("; ".join(notes), None, "not-found", "information"),
            }
        )
    return Parameters.model_validate(
        {"resourceType": "Parameters", "id": str(uuid.uuid4()), "parameter": out}
    ).model_dump(mode="json", exclude_none=True)


def _order_date(order: Entry) -> dt.date | None:
    text = order.resource.get("authoredOn")
    try:
        return dt.date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


def _prefill(
    service: Service,
    chart: Chart,
    order: Entry,
    named: dict[str, list[Entry]],
    policy: Policy,
    kind: str,
    when: dt.date,
) -> dict[str, bool]:
    """What the chart sent with the order settles, as the engine reads it; nothing when the
    chart is too thin to make a request of."""
    covs = named.get("coverage") or []
    coverage = covs[0] if covs else None
    try:
        mapped = to_request(
            chart, order, service.engine, date_of_service=when, kind=kind, coverage=coverage
        )
        det = service.engine.evaluate_model(mapped.request)
    except (FhirError, PriorAuthError):
        return {}
    ids = {q.id for q in service.engine.questions(policy, kind)}
    return _settled(det.trace, ids)


# --- adaptive forms on a pended case -----------------------------------------------------------


def case_questionnaire(
    service: Service, who: Principal, case_id: str, base: str, asked: list[str] | None = None
) -> dict[str, Any]:
    """The adaptive Questionnaire of a pended case: the items asked so far."""
    case = service.get(who, case_id)
    missing = {q["id"]: q for q in case.determination.get("missing", [])}
    ids = asked if asked is not None else list(missing)[:1]
    policy_texts = {}
    for p in service.engine.versions(case.policy_number):
        for k in ("initial", "renewal"):
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
        "extension": [
            {"url": f"{SDC}/sdc-questionnaire-questionnaireAdaptive", "valueBoolean": True}
        ],
        "url": f"{base}/fhir/Questionnaire/case-{case_id}",
        "title": f"Questions for prior-authorization case {case_id} ({case.drug})",
        "status": "active",
        "subjectType": ["Patient"],
        "item": items or None,
    }
    return Questionnaire.model_validate(body).model_dump(mode="json", exclude_none=True)


def questionnaire_by_id(service: Service, who: Principal, qid: str, base: str) -> dict[str, Any]:
    if qid.startswith("case-"):
        return case_questionnaire(service, who, qid.removeprefix("case-"), base)
    for policy in service.engine.policies:
        for kind in ("initial", "renewal"):
            if questionnaire_id(policy, kind) == qid:
                return policy_questionnaire(service, policy, kind, base)
    raise FhirError(f"no Questionnaire {qid}", "Questionnaire.id", 404, "not-found")


def _answers(items: list[dict[str, Any]]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for item in items:
        for ans in item.get("answer") or []:
            if isinstance(ans.get("valueBoolean"), bool):
                out[str(item.get("linkId"))] = ans["valueBoolean"]
            out.update(_answers(ans.get("item") or []))
        out.update(_answers(item.get("item") or []))
    return out


def next_question(service: Service, who: Principal, raw: bytes, base: str) -> dict[str, Any]:
    """SDC `$next-question`: the response with the next question added to its contained
    Questionnaire, or completed when the case can be decided."""
    params = parse_parameters(raw)
    qr = next(
        (
            (i, p["resource"])
            for i, p in enumerate(params.get("parameter") or [])
            if p.get("name") == "questionnaire-response" and isinstance(p.get("resource"), dict)
        ),
        None,
    )
    if qr is None or qr[1].get("resourceType") != "QuestionnaireResponse":
        raise FhirError(
            "no 'questionnaire-response' parameter holding a QuestionnaireResponse",
            "Parameters.parameter",
            code="required",
        )
    index, response = qr
    where = f"Parameters.parameter[{index}].resource"
    canonical = str(response.get("questionnaire") or "")
    contained = {c.get("id"): c for c in response.get("contained") or [] if isinstance(c, dict)}
    questionnaire = (
        contained.get(canonical.removeprefix("#")) if canonical.startswith("#") else None
    )
    url = str((questionnaire or {}).get("url") or canonical)
    if "/Questionnaire/case-" not in url:
        raise FhirError(
            f"the questionnaire {url!r} is not one of this server's adaptive forms (they are "
            "named .../Questionnaire/case-<case id>, given in a pended ClaimResponse)",
            f"{where}.questionnaire",
            422,
            "not-supported",
        )
    case_id = url.rsplit("/Questionnaire/case-", 1)[1].split("|")[0]
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
