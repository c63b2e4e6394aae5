"""The policy's DTR Questionnaire: a read-only group of what the chart says, then one boolean
item per question of the policy in its words, with the SDC prepopulation expressions
(prepopulate.py). Generated once a policy version and kind, validated by fhir.resources."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any
from weakref import WeakKeyDictionary

from fhir.resources.R4B.questionnaire import Questionnaire

from priorauth.engine.plan import Plan
from priorauth.errors import NoPolicyError
from priorauth.fhir import prepopulate
from priorauth.fhir.mapping import Chart, Entry, medication_concept, medication_name, patient_of
from priorauth.fhir.outcome import FhirError
from priorauth.policy.asked import observations_compared
from priorauth.policy.model import BiomarkerCondition, Policy
from priorauth.policy.observations import load_observations
from priorauth.service.workflow import Service

SDC = prepopulate.SDC
DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition"
QR_CONTEXT = f"{DTR}/qr-context"
KINDS = ("initial", "renewal")


def policy_in_force(service: Service, name: str, when: dt.date) -> Policy | None:
    try:
        every = service.engine.versions(name)
    except NoPolicyError:
        return None
    versions = [p for p in every if p.effective_date <= when]
    return versions[-1] if versions else None


def order_policy(
    service: Service, chart: Chart, order: Entry, when: dt.date
) -> tuple[str, Policy | None]:
    """The drug's name in an order, and the policy in force for it on `when` (None when the order
    names no drug or no policy covers it)."""
    concept, _ = medication_concept(chart, order)
    name = medication_name(concept)
    return name, (policy_in_force(service, name, when) if name else None)


def questionnaire_id(policy: Policy, kind: str) -> str:
    return f"pa-{policy.number}-{policy.effective_date.isoformat()}-{kind}"


def form_named(service: Service, qid: str) -> tuple[Policy, str] | None:
    for policy in service.engine.policies:
        for kind in KINDS:
            if questionnaire_id(policy, kind) == qid:
                return policy, kind
    return None


# --- the policy's Questionnaire ------------------------------------------------------------------

# Expressions generated once a plan (policy version and kind), for as long as its engine lives.
_EXPRESSIONS: WeakKeyDictionary[
    Plan, tuple[dict[str, Any], dict[str, str | None], list[dict[str, Any]]]
] = WeakKeyDictionary()


def _observation_groups(plan: Plan) -> list[dict[str, Any]]:
    """A group per observation the criteria compare, in the policy's order."""
    table = load_observations()
    keys: list[str] = []
    for node in plan.order:
        keys += [k for k in observations_compared(node.condition) if k not in keys]
    groups = []
    for key in keys:
        kind = table.kind(key)
        link = kind.loinc[0] if kind.loinc else key
        groups.append(prepopulate.observation_group(link, kind.name, kind.unit, kind.loinc))
    return groups


def _expressions(
    service: Service, policy: Policy, kind: str
) -> tuple[dict[str, Any], dict[str, str | None], list[dict[str, Any]]]:
    """The chart group, each question's initialExpression (None: the chart cannot say), and
    the groups that ask for observations."""
    plan = service.engine.plan(policy, kind)
    found = _EXPRESSIONS.get(plan)
    if found is None:
        kb = service.engine.kb
        own = kb.drug_aliases.get(policy.drug.generic.lower(), policy.drug.generic.lower())
        genes: list[str] = []
        for node in plan.order:
            if isinstance(node.condition, BiomarkerCondition):
                gene = kb.gene(node.condition.gene)
                if gene not in genes and gene not in kb.gene_parts:
                    genes.append(gene)
        by_question = {
            q.id: prepopulate.criterion_expression(plan.nodes[q.id].condition, kb, own)
            for q in service.engine.questions(policy, kind)
        }
        found = (prepopulate.chart_items(genes, kb), by_question, _observation_groups(plan))
        _EXPRESSIONS[plan] = found
    return found


# The validated form of a plan by base URL: validating and dumping a form of some hundred
# elements through fhir.resources costs more than the rest of a request.
_FORMS: WeakKeyDictionary[Plan, dict[str, dict[str, Any]]] = WeakKeyDictionary()


def policy_questionnaire(service: Service, policy: Policy, kind: str, base: str) -> dict[str, Any]:
    by_base = _FORMS.setdefault(service.engine.plan(policy, kind), {})
    if base not in by_base:
        if len(by_base) > 16:
            by_base.clear()  # a client choosing Host headers does not grow it without end
        by_base[base] = _policy_questionnaire(service, policy, kind, base)
    return copy.deepcopy(by_base[base])


def _policy_questionnaire(service: Service, policy: Policy, kind: str, base: str) -> dict[str, Any]:
    qid = questionnaire_id(policy, kind)
    chart_group, by_question, observation_groups = _expressions(service, policy, kind)
    items: list[dict[str, Any]] = [chart_group, *copy.deepcopy(observation_groups)]
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
        expression = by_question.get(q.id)
        if expression:
            item["extension"] = [
                {
                    "url": prepopulate.INITIAL,
                    "valueExpression": {"language": prepopulate.FHIRPATH, "expression": expression},
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
        "extension": prepopulate.context_extensions(),
        "effectivePeriod": {"start": policy.effective_date.isoformat()},
        "description": f"Questions of policy {policy.number}, in the policy's words; "
        "true means the criterion holds. The chart group shows what was read from the chart.",
        "item": items,
    }
    return Questionnaire.model_validate(body).model_dump(mode="json", exclude_none=True)


def response_items(
    items: list[dict[str, Any]], answers: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The answered items, nested as the form nests them."""
    out = []
    for item in items:
        if item.get("type") == "group":
            kids = response_items(item.get("item") or [], answers)
            if kids:
                out.append({"linkId": item["linkId"], "text": item.get("text"), "item": kids})
        elif answers.get(item["linkId"]):
            out.append(
                {
                    "linkId": item["linkId"],
                    "text": item.get("text"),
                    "answer": answers[item["linkId"]],
                }
            )
    return out


def patient_for(chart: Chart, order: Entry | None) -> Entry | None:
    if order is None:
        return chart.first("Patient")
    try:
        return patient_of(chart, order)
    except FhirError:
        return chart.first("Patient")


def order_date(order: Entry) -> dt.date | None:
    text = order.resource.get("authoredOn")
    try:
        return dt.date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None
