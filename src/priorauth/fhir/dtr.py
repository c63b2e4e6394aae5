"""Da Vinci DTR: Questionnaires generated from the policy in force, and SDC adaptive forms.

- `$questionnaire-package` (input: coverage, order and the chart) answers a package Bundle with
  the Questionnaire of the policy version in force: a read-only group of what the chart says
  (birth date, medication and dose, ICD-10-CM diagnoses, therapies, the results of the genes the
  criteria name) and one boolean item per question of the policy (`linkId` = our question id,
  `text` = the question in the policy's words). Every item that the chart can answer carries an
  SDC `initialExpression` (FHIRPath over the `patient` and `order` launch contexts and the chart
  variables; prepopulate.py); the Bundle also carries a QuestionnaireResponse with the answers
  those expressions give on the resources sent. An order no policy covers gets no questionnaire:
  an OperationOutcome (`not-found`) naming its medication.
- `$next-question` works on the package's Questionnaire (or on an order the client sends with
  its own adaptive shell) as on a pended case's adaptive form (`case-<case id>`): it asks only
  the questions that can still change the outcome (the engine's pend questions, in the policy's
  order), one at a time, and marks the response completed once the outcome is settled. The
  completed QuestionnaireResponse goes back with the Claim through PAS `$submit`.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from typing import Any
from weakref import WeakKeyDictionary

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

from priorauth.engine.decide import open_questions
from priorauth.engine.logic import Status, k_and, k_or
from priorauth.engine.plan import Plan
from priorauth.errors import NoPolicyError, PriorAuthError
from priorauth.fhir import prepopulate
from priorauth.fhir.mapping import (
    Chart,
    Entry,
    codings,
    medication_concept,
    medication_name,
    patient_of,
    to_request,
)
from priorauth.fhir.outcome import FhirError, json_value, outcome, pydantic_expression
from priorauth.policy.model import BiomarkerCondition, Criterion, Policy
from priorauth.request import parse_request
from priorauth.service.auth import Principal
from priorauth.service.workflow import Service

SDC = prepopulate.SDC
DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition"
QR_CONTEXT = f"{DTR}/qr-context"
ADAPTIVE = {"url": f"{SDC}/sdc-questionnaire-questionnaireAdaptive", "valueBoolean": True}
KINDS = ("initial", "renewal")


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


def _add(chart: Chart, resource: dict[str, Any], path: str) -> Entry | None:
    if resource.get("resourceType") == "Bundle":
        chart.add_bundle(resource, path)
        return None
    return chart.add(resource, path)


def _chart_of(params: dict[str, Any]) -> tuple[Chart, dict[str, list[Entry]]]:
    chart = Chart()
    named: dict[str, list[Entry]] = {}
    for i, p in enumerate(params.get("parameter") or []):
        res = p.get("resource")
        if isinstance(res, dict):
            entry = _add(chart, res, f"Parameters.parameter[{i}].resource")
            if entry is not None:
                named.setdefault(str(p.get("name")), []).append(entry)
    return chart, named


def policy_in_force(service: Service, name: str, when: dt.date) -> Policy | None:
    try:
        every = service.engine.versions(name)
    except NoPolicyError:
        return None
    versions = [p for p in every if p.effective_date <= when]
    return versions[-1] if versions else None


def questionnaire_id(policy: Policy, kind: str) -> str:
    return f"pa-{policy.number}-{policy.effective_date.isoformat()}-{kind}"


def _form_named(service: Service, qid: str) -> tuple[Policy, str] | None:
    for policy in service.engine.policies:
        for kind in KINDS:
            if questionnaire_id(policy, kind) == qid:
                return policy, kind
    return None


# --- the policy's Questionnaire ------------------------------------------------------------------

# Expressions generated once a plan (policy version and kind), for as long as its engine lives.
_EXPRESSIONS: WeakKeyDictionary[Plan, tuple[dict[str, Any], dict[str, str | None]]] = (
    WeakKeyDictionary()
)


def _expressions(
    service: Service, policy: Policy, kind: str
) -> tuple[dict[str, Any], dict[str, str | None]]:
    """The chart group, and each question's initialExpression (None: the chart cannot say)."""
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
        found = (prepopulate.chart_items(genes, kb), by_question)
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
    chart_group, by_question = _expressions(service, policy, kind)
    items: list[dict[str, Any]] = [chart_group]
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


def _response_items(
    items: list[dict[str, Any]], answers: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The answered items, nested as the form nests them."""
    out = []
    for item in items:
        if item.get("type") == "group":
            kids = _response_items(item.get("item") or [], answers)
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


def _prefilled_response(
    form: dict[str, Any],
    answers: dict[str, list[dict[str, Any]]],
    order: Entry,
    patient: Entry | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{DTR}/dtr-questionnaireresponse"]},
        "questionnaire": form["url"],
        "status": "in-progress",
        "extension": [{"url": QR_CONTEXT, "valueReference": {"reference": order.key}}],
        "item": _response_items(form["item"], answers) or None,
    }
    if patient is not None:
        body["subject"] = {"reference": patient.key}
    return QuestionnaireResponse.model_validate(body).model_dump(mode="json", exclude_none=True)


def _patient(chart: Chart, order: Entry | None) -> Entry | None:
    if order is None:
        return chart.first("Patient")
    try:
        return patient_of(chart, order)
    except FhirError:
        return chart.first("Patient")


def _medication_element(service: Service, chart: Chart, order: Entry) -> tuple[str, str]:
    """The words that name an order's medication (with its RxNorm code) and where they are."""
    concept, med = medication_concept(chart, order)
    name = medication_name(concept)
    codes = [f"{c.get('code')}" for c in codings(concept) if c.get("code")]
    said = f"{name!r}" + (f" (code {', '.join(codes)})" if codes else "")
    where = (
        f"{med.path}.code"
        if med is not None
        else f"{order.path}.medicationReference"
        if order.resource.get("medicationReference")
        else f"{order.path}.medicationCodeableConcept"
    )
    covered = ", ".join(sorted({p.drug.brand for p in service.engine.policies})) or "none"
    return f"no prior-authorization policy here covers {said} (policies for: {covered})", where


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
    notes: list[tuple[str, str]] = []
    for order in orders:
        if order.resource.get("resourceType") != "MedicationRequest":
            notes.append(
                (
                    f"no prior-authorization policy here covers a "
                    f"{order.resource.get('resourceType')}; no questionnaire is needed",
                    order.path,
                )
            )
            continue
        concept, _ = medication_concept(chart, order)
        name = medication_name(concept)
        when = _order_date(order) or service.clock().date()
        policy = policy_in_force(service, name, when) if name else None
        if policy is None:
            said, where = _medication_element(service, chart, order)
            notes.append((f"{said}; no questionnaire is needed", where))
            continue
        form = policy_questionnaire(service, policy, "initial", base)
        patient = _patient(chart, order)
        answers = prepopulate.prefill(form, prepopulate.environment(chart, order, patient))
        entries = [{"fullUrl": form["url"], "resource": form}]
        if answers:
            qr = _prefilled_response(form, answers, order, patient)
            entries.append({"fullUrl": f"urn:uuid:{qr['id']}", "resource": qr})
        packages.append(
            Bundle.model_validate(
                {
                    "resourceType": "Bundle",
                    "id": str(uuid.uuid4()),
                    "meta": {"profile": [f"{DTR}/DTR-QPackageBundle"]},
                    "type": "collection",
                    "timestamp": service.clock().isoformat(),
                    "entry": entries,
                }
            ).model_dump(mode="json", exclude_none=True)
        )
    out: list[dict[str, Any]] = [{"name": "PackageBundle", "resource": b} for b in packages]
    for text, where in notes:
        # DTR's output parameter for an order without a questionnaire: not an error, the order
        # needs none here.
        out.append(
            {
                "name": "operationOutcome",
                "resource": outcome(text, where, "not-found", "information"),
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


def questionnaire_by_id(service: Service, who: Principal, qid: str, base: str) -> dict[str, Any]:
    if qid.startswith("case-"):
        return case_questionnaire(service, who, qid.removeprefix("case-"), base)
    found = _form_named(service, qid)
    if found is not None:
        return policy_questionnaire(service, *found, base)
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


def next_question(service: Service, who: Principal, raw: bytes, base: str) -> dict[str, Any]:
    """SDC `$next-question`: the response with the next question added to its contained
    Questionnaire, or completed when the outcome is settled."""
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
    url = str((questionnaire or {}).get("url") or canonical).split("|")[0]
    if "/Questionnaire/case-" in url:
        case_id = url.rsplit("/Questionnaire/case-", 1)[1]
        return _next_for_case(service, who, response, questionnaire, case_id, where, base)
    # The chart: resources the response contains and those sent beside it (DTR allows both).
    chart = Chart()
    for i, c in enumerate(response.get("contained") or []):
        if isinstance(c, dict) and c.get("resourceType") != "Questionnaire":
            _add(chart, c, f"{where}.contained[{i}]")
    for i, p in enumerate(params.get("parameter") or []):
        if i != index and isinstance(p.get("resource"), dict):
            _add(chart, p["resource"], f"Parameters.parameter[{i}].resource")
    order = _order_of(chart, response)
    tail = url.rsplit("/Questionnaire/", 1)[-1] if "/Questionnaire/" in url else ""
    form = _form_named(service, tail) if tail else None
    if tail.startswith("pa-") and form is None:
        raise FhirError(
            f"no Questionnaire {tail} (it names no policy version here)",
            f"{where}.questionnaire",
            404,
            "not-found",
        )
    if form is None and order is not None:
        concept, _ = medication_concept(chart, order)
        name = medication_name(concept)
        when = _order_date(order) or service.clock().date()
        policy = policy_in_force(service, name, when) if name else None
        if policy is None:
            said, element = _medication_element(service, chart, order)
            raise FhirError(f"{said}: there is no questionnaire to ask", element, 422, "not-found")
        form = (policy, "initial")
    if form is None:
        raise FhirError(
            f"the questionnaire {url!r} is not one of this server's forms (a policy's "
            ".../Questionnaire/pa-..., from $questionnaire-package, or a pended case's "
            ".../Questionnaire/case-<case id>), and no order (MedicationRequest) came with it",
            f"{where}.questionnaire",
            422,
            "not-supported",
        )
    return _next_for_form(service, response, questionnaire, chart, order, *form, base)


def _order_of(chart: Chart, response: dict[str, Any]) -> Entry | None:
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
            s = k_and(kids) if node.all is not None else k_or(kids)
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
            when = _order_date(order) or service.clock().date()
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


def _next_for_form(
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
    patient = _patient(chart, order)
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
        for q in _still_open(service, policy, kind, chart, order, patient, booleans)
        if q not in booleans
    ]
    asked = _leaf_ids((previous or {}).get("item") or [])
    nxt = [q for q in remaining if q not in asked][:1]
    shown = set(answered) | set(asked) | set(nxt)
    adaptive = {
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
        adaptive,
        *[
            c
            for c in response.get("contained") or []
            if c.get("id") != "q" and c is not previous and c.get("resourceType") != "Questionnaire"
        ],
    ]
    out["questionnaire"] = "#q"
    out["item"] = _response_items(form["item"], answered) or None
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
    Questionnaire.model_validate(adaptive)
    return QuestionnaireResponse.model_validate(
        {k: v for k, v in out.items() if v is not None}
    ).model_dump(mode="json", exclude_none=True)


def _next_for_case(
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


# --- start-up ------------------------------------------------------------------------------------


def warm(service: Service) -> None:
    """Do once, at start-up, what the first DTR request would otherwise pay for: fhir.resources
    imports each resource and element type on first use (a chart of Patient, Coverage, order,
    Condition, Observation and MedicationStatement costs about 0.4 s), and each policy's form is
    generated with its FHIRPath expressions parsed. Runs a package and a next-question on a small
    chart of the first policy's drug, then builds every other form."""
    base = "http://localhost"
    if not service.engine.policies:
        return
    first = service.engine.policies[0]
    chart = _warm_chart(first.drug.generic, first.effective_date)
    inputs: list[dict[str, Any]] = [{"name": "context", "resource": r} for r in chart]
    inputs.append(
        {"name": "order", "resource": _warm_order(first.drug.generic, first.effective_date)}
    )
    package = {"resourceType": "Parameters", "parameter": inputs}
    questionnaire_package(service, json.dumps(package).encode(), base)
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "questionnaire": f"{base}/fhir/Questionnaire/{questionnaire_id(first, 'initial')}",
    }
    step = {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaire-response", "resource": qr}, *inputs],
    }
    next_question(service, _WARM_PRINCIPAL, json.dumps(step).encode(), base)
    for policy in service.engine.policies:
        for kind in KINDS:
            form = policy_questionnaire(service, policy, kind, base)
            prepopulate.prefill(form, prepopulate.environment(Chart(), None, None))
    outcome("warm", "Parameters")


_WARM_PRINCIPAL = Principal(name="warm-up", role="admin", org=None)


def _warm_order(drug: str, when: dt.date) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "warm-order",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": drug},
        "subject": {"reference": "Patient/warm"},
        "authoredOn": when.isoformat(),
        "dosageInstruction": [
            {
                "text": "once daily",
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
            }
        ],
        "dispenseRequest": {
            "quantity": {"value": 30, "unit": "tablet"},
            "expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"},
        },
    }


def _warm_chart(drug: str, when: dt.date) -> list[dict[str, Any]]:
    """One resource of each type a DTR client sends, with the elements the mapping reads (no
    clinical meaning: it only loads the models)."""
    subject = {"reference": "Patient/warm"}
    concept = {"coding": [{"system": "http://loinc.org", "code": "0", "display": "-"}], "text": "-"}
    return [
        {
            "resourceType": "Patient",
            "id": "warm",
            "birthDate": "1970-01-01",
            "name": [{"family": "-"}],
        },
        {
            "resourceType": "Coverage",
            "id": "warm-cov",
            "status": "active",
            "subscriberId": "-",
            "beneficiary": subject,
            "payor": [{"reference": "Organization/warm-org"}],
        },
        {"resourceType": "Organization", "id": "warm-org", "name": "-"},
        {
            "resourceType": "Practitioner",
            "id": "warm-dr",
            "name": [{"text": "-"}],
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "0"}],
        },
        {
            "resourceType": "Condition",
            "id": "warm-dx",
            "subject": subject,
            "code": concept,
            "clinicalStatus": concept,
            "stage": [{"summary": concept}],
            "evidence": [{"code": [concept]}],
        },
        {
            "resourceType": "Observation",
            "id": "warm-obs",
            "status": "final",
            "code": concept,
            "subject": subject,
            "valueCodeableConcept": concept,
            "method": concept,
            "component": [{"code": concept, "valueCodeableConcept": concept}],
        },
        {
            "resourceType": "MedicationStatement",
            "id": "warm-ms",
            "status": "completed",
            "subject": subject,
            "medicationCodeableConcept": {"text": drug},
            "effectivePeriod": {"start": when.isoformat(), "end": when.isoformat()},
        },
    ]
