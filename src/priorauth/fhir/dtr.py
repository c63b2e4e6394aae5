"""Da Vinci DTR operations: Questionnaires generated from the policy in force (forms.py),
prepopulated from the chart sent (prepopulate.py), and SDC adaptive forms (adaptive.py).

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

import datetime as dt
import json
import uuid
from typing import Any

from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

from priorauth.fhir import prepopulate
from priorauth.fhir.adaptive import case_questionnaire, next_for_case, next_for_form, order_of
from priorauth.fhir.forms import (
    DTR,
    KINDS,
    QR_CONTEXT,
    form_named,
    order_date,
    order_policy,
    patient_for,
    policy_in_force,
    policy_questionnaire,
    questionnaire_id,
    response_items,
)
from priorauth.fhir.mapping import Chart, Entry, codings, medication_concept, medication_name
from priorauth.fhir.outcome import FhirError, json_value, outcome, pydantic_expression
from priorauth.service.auth import Principal
from priorauth.service.workflow import Service

__all__ = [
    "next_question",
    "policy_in_force",
    "questionnaire_by_id",
    "questionnaire_id",
    "questionnaire_package",
    "warm",
]


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
        "item": response_items(form["item"], answers) or None,
    }
    if patient is not None:
        body["subject"] = {"reference": patient.key}
    return QuestionnaireResponse.model_validate(body).model_dump(mode="json", exclude_none=True)


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
        when = order_date(order) or service.clock().date()
        _, policy = order_policy(service, chart, order, when)
        if policy is None:
            said, where = _medication_element(service, chart, order)
            notes.append((f"{said}; no questionnaire is needed", where))
            continue
        form = policy_questionnaire(service, policy, "initial", base)
        patient = patient_for(chart, order)
        answers = prepopulate.prefill(form, prepopulate.environment(chart, order, patient))
        entries = [{"fullUrl": form["url"], "resource": form}]
        if answers:
            qr = _prefilled_response(form, answers, order, patient)
            entries.append({"fullUrl": f"urn:uuid:{qr['id']}", "resource": qr})
        packages.append(
            {
                "resourceType": "Bundle",
                "id": str(uuid.uuid4()),
                "meta": {"profile": [f"{DTR}/DTR-QPackageBundle"]},
                "type": "collection",
                "timestamp": service.clock().isoformat(),
                "entry": entries,
            }
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
    body = {"resourceType": "Parameters", "id": str(uuid.uuid4()), "parameter": out}
    # Validated whole, Bundles and forms inside included; the form was dumped by the model
    # already, so dumping it again would only cost (a third of a request).
    Parameters.model_validate(body)
    return body


def questionnaire_by_id(service: Service, who: Principal, qid: str, base: str) -> dict[str, Any]:
    if qid.startswith("case-"):
        return case_questionnaire(service, who, qid.removeprefix("case-"), base)
    found = form_named(service, qid)
    if found is not None:
        return policy_questionnaire(service, *found, base)
    raise FhirError(f"no Questionnaire {qid}", "Questionnaire.id", 404, "not-found")


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
        return next_for_case(service, who, response, questionnaire, case_id, where, base)
    # The chart: resources the response contains and those sent beside it (DTR allows both).
    chart = Chart()
    for i, c in enumerate(response.get("contained") or []):
        if isinstance(c, dict) and c.get("resourceType") != "Questionnaire":
            _add(chart, c, f"{where}.contained[{i}]")
    for i, p in enumerate(params.get("parameter") or []):
        if i != index and isinstance(p.get("resource"), dict):
            _add(chart, p["resource"], f"Parameters.parameter[{i}].resource")
    order = order_of(chart, response)
    tail = url.rsplit("/Questionnaire/", 1)[-1] if "/Questionnaire/" in url else ""
    form = form_named(service, tail) if tail else None
    if tail.startswith("pa-") and form is None:
        raise FhirError(
            f"no Questionnaire {tail} (it names no policy version here)",
            f"{where}.questionnaire",
            404,
            "not-found",
        )
    if form is None and order is not None:
        when = order_date(order) or service.clock().date()
        _, policy = order_policy(service, chart, order, when)
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
    return next_for_form(service, response, questionnaire, chart, order, *form, base)


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
