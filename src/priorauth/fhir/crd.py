"""Da Vinci CRD as CDS Hooks 2.0 services: order-select, order-sign and order-dispatch.

Each order gets the `coverage-information` extension in a `systemActions` update, decided by the
engine from the chart (prefetch, else fetched from `fhirServer`), with no case created:

    no policy covers the order          covered, pa-needed no-auth
    the engine approves from the chart  covered, satisfied + coverage-assertion-id
    questions remain / chart too thin   covered, auth-needed, doc-needed clinical, the DTR
                                        Questionnaire
    over the quantity limit             covered, auth-needed (the quantity would be cut)
    investigational under the policy    not-covered, with the policy's reason
    criteria not met from the chart     covered, auth-needed (a pharmacist reviews a request)
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from priorauth.errors import PriorAuthError
from priorauth.fhir.dtr import policy_in_force, questionnaire_id
from priorauth.fhir.mapping import Chart, Entry, medication_concept, medication_name, to_request
from priorauth.fhir.models import CoverageAssertion
from priorauth.fhir.outcome import FhirError, json_value, pydantic_expression
from priorauth.service.auth import Principal
from priorauth.service.workflow import Service

CRD_EXT = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
HOOKS = {
    "priorauth-order-select": "order-select",
    "priorauth-order-sign": "order-sign",
    "priorauth-order-dispatch": "order-dispatch",
}
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&category=laboratory",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
}
FETCH_TIMEOUT = 3.0


def discovery() -> dict[str, Any]:
    services = []
    for sid, hook in HOOKS.items():
        services.append(
            {
                "hook": hook,
                "id": sid,
                "title": f"priorauth coverage requirements ({hook})",
                "description": "Whether a medication order needs prior authorization under the "
                "plan's drug policies, decided from the chart; the DTR questionnaire when "
                "questions remain.",
                "prefetch": PREFETCH,
                "usageRequirements": "Send the API key or a SMART access token as Bearer.",
            }
        )
    return {"services": services}


def _card(
    summary: str, detail: str, indicator: str = "info", links: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary[:139],
        "indicator": indicator,
        "detail": detail,
        "source": {
            "label": "priorauth",
            "topic": {
                "system": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp",
                "code": "coverage",
                "display": "Coverage",
            },
        },
    }
    if links:
        card["links"] = links
    return card


def _parse(raw: bytes, service_id: str) -> dict[str, Any]:
    if service_id not in HOOKS:
        raise FhirError(f"no CDS service {service_id!r}", "service", 404, "not-found")
    data = json_value(raw)
    if not isinstance(data, dict):
        raise FhirError("the body must be a JSON object", None, 400, "structure")
    if data.get("hook") != HOOKS[service_id]:
        raise FhirError(
            f"hook {data.get('hook')!r}: this service answers {HOOKS[service_id]}", "hook"
        )
    if not isinstance(data.get("hookInstance"), str):
        raise FhirError("hookInstance is required", "hookInstance", code="required")
    if not isinstance(data.get("context"), dict):
        raise FhirError("context is required", "context", code="required")
    return data


class _Fetcher:
    """Reads from the EHR's FHIR server what the prefetch did not bring."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.base = str(data.get("fhirServer") or "").rstrip("/")
        auth = data.get("fhirAuthorization") or {}
        token = auth.get("access_token") if isinstance(auth, dict) else None
        self.headers = {"Accept": "application/fhir+json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.notes: list[str] = []
        self.filled = False

    def get(self, query: str) -> dict[str, Any] | None:
        if not self.base:
            self.notes.append(f"{query}: not in prefetch, and no fhirServer to read it from")
            return None
        try:
            r = httpx.get(f"{self.base}/{query}", headers=self.headers, timeout=FETCH_TIMEOUT)
            if r.status_code != 200:
                self.notes.append(f"{query}: the EHR answered HTTP {r.status_code}")
                return None
            body = r.json()
            return body if isinstance(body, dict) else None
        except (httpx.HTTPError, ValueError) as exc:
            self.notes.append(f"{query}: could not be read from the EHR ({type(exc).__name__})")
            return None


def _chart(data: dict[str, Any]) -> tuple[Chart, _Fetcher]:
    """The prefetch as a chart; `_fill` adds what it lacks when a decision needs it."""
    chart = Chart()
    fetcher = _Fetcher(data)
    given = data.get("prefetch")
    prefetch: dict[str, Any] = given if isinstance(given, dict) else {}
    for key, value in prefetch.items():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            chart.add_bundle(value, f"prefetch.{key}")
        elif isinstance(value, dict) and value.get("resourceType"):
            chart.add(value, f"prefetch.{key}")
    return chart, fetcher


def _fill(data: dict[str, Any], chart: Chart, fetcher: _Fetcher) -> None:
    """Read from the EHR what the prefetch did not bring (once per call)."""
    if fetcher.filled:
        return
    fetcher.filled = True
    given = data.get("prefetch")
    prefetch: dict[str, Any] = given if isinstance(given, dict) else {}
    pid = str(data["context"].get("patientId") or "")
    if not pid:
        return
    for key, template in PREFETCH.items():
        if prefetch.get(key) is not None:
            continue
        found = fetcher.get(template.replace("{{context.patientId}}", pid))
        if found is None:
            continue
        if found.get("resourceType") == "Bundle":
            chart.add_bundle(found, f"fetched.{key}")
        elif found.get("resourceType"):
            chart.add(found, f"fetched.{key}")


def _orders(data: dict[str, Any], chart: Chart, fetcher: _Fetcher) -> list[Entry]:
    context = data["context"]
    hook = data["hook"]
    if hook in ("order-select", "order-sign"):
        draft = context.get("draftOrders")
        if not isinstance(draft, dict):
            raise FhirError(
                "context.draftOrders (a Bundle) is required", "context.draftOrders", code="required"
            )
        before = len(chart.entries)
        chart.add_bundle(draft, "context.draftOrders")
        orders = chart.entries[before:]
        selections = context.get("selections")
        if hook == "order-select" and isinstance(selections, list) and selections:
            chosen = {str(s) for s in selections}
            orders = [o for o in orders if o.key in chosen] or orders
        return orders
    refs = context.get("dispatchedOrders")
    if not isinstance(refs, list) or not refs:
        raise FhirError(
            "context.dispatchedOrders is required", "context.dispatchedOrders", code="required"
        )
    out = []
    for ref in refs:
        found = chart.resolve(str(ref))
        if found is None:
            fetched = fetcher.get(str(ref))
            if fetched is not None and fetched.get("resourceType"):
                found = chart.add(fetched, f"fetched.{ref}")
        if found is not None:
            out.append(found)
    return out


def _coverage_info(
    covered: str,
    pa_needed: str,
    coverage: Entry | None,
    today: dt.date,
    assertion: str,
    doc_needed: str | None = None,
    questionnaire: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"url": "covered", "valueCode": covered},
        {"url": "pa-needed", "valueCode": pa_needed},
    ]
    if doc_needed:
        parts.append({"url": "doc-needed", "valueCode": doc_needed})
        parts.append({"url": "doc-purpose", "valueCode": "withpa"})
    if questionnaire:
        parts.append({"url": "questionnaire", "valueCanonical": questionnaire})
    if reason:
        parts.append({"url": "reason", "valueCodeableConcept": {"text": reason[:1000]}})
    if coverage is not None:
        parts.append({"url": "coverage", "valueReference": {"reference": coverage.key}})
    parts.append({"url": "date", "valueDate": today.isoformat()})
    parts.append({"url": "coverage-assertion-id", "valueString": assertion})
    return {"url": CRD_EXT, "extension": parts}


def answer(
    service: Service, who: Principal, service_id: str, raw: bytes, base: str
) -> dict[str, Any]:
    data = _parse(raw, service_id)
    chart, fetcher = _chart(data)
    orders = _orders(data, chart, fetcher)
    today = service.clock().date()
    cards: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for order in orders:
        res = order.resource
        try:
            get_fhir_model_class(str(res.get("resourceType"))).model_validate(res)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = pydantic_expression(order.path, tuple(err.get("loc", ())))
            cards.append(
                _card(
                    f"{order.key}: not a valid {res.get('resourceType')}",
                    f"`{where}`: {err.get('msg')}. Coverage requirements could not be checked.",
                    "warning",
                )
            )
            continue
        except Exception as exc:
            cards.append(_card(f"{order.key}: not a valid resource", str(exc), "warning"))
            continue
        assertion = str(uuid.uuid4())
        info, card = _decide(service, who, data, chart, order, today, assertion, base, fetcher)
        updated = {**res, "extension": [*(res.get("extension") or []), info]}
        actions.append(
            {
                "type": "update",
                "description": f"coverage information for {order.key}",
                "resource": updated,
            }
        )
        if card is not None:
            cards.append(card)
    if fetcher.notes:
        cards.append(
            _card(
                "Some of the chart could not be read",
                "What is missing is treated as unknown: " + "; ".join(fetcher.notes),
                "info",
            )
        )
    return {"cards": cards, "systemActions": actions}


def _decide(
    service: Service,
    who: Principal,
    data: dict[str, Any],
    chart: Chart,
    order: Entry,
    today: dt.date,
    assertion: str,
    base: str,
    fetcher: _Fetcher,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    res = order.resource
    coverage = chart.first("Coverage")
    if res.get("resourceType") != "MedicationRequest":
        return _coverage_info("covered", "no-auth", coverage, today, assertion), None
    concept, _ = medication_concept(chart, order)
    name = medication_name(concept)
    when = _date(res.get("authoredOn")) or today
    policy = policy_in_force(service, name, when) if name else None
    if policy is None:
        return _coverage_info("covered", "no-auth", coverage, today, assertion), None
    _fill(data, chart, fetcher)
    coverage = chart.first("Coverage")
    pid = str(data["context"].get("patientId") or "")
    patient = chart.resolve(f"Patient/{pid}") if pid else None
    patient = patient or chart.first("Patient")
    qurl = f"{base}/fhir/Questionnaire/{questionnaire_id(policy, 'initial')}"
    link = [{"label": "Prior-authorization questionnaire (DTR)", "url": qurl, "type": "absolute"}]
    title = f"{policy.title} ({policy.number})"
    try:
        mapped = to_request(
            chart, order, service.engine, date_of_service=when, patient=patient, coverage=coverage
        )
        det = service.engine.evaluate_model(mapped.request)
    except (FhirError, PriorAuthError) as exc:
        detail = exc.diagnostics if isinstance(exc, FhirError) else str(exc)
        info = _coverage_info(
            "covered",
            "auth-needed",
            coverage,
            today,
            assertion,
            "clinical",
            qurl,
            f"The chart does not settle {title}: {detail}",
        )
        return info, _card(f"Prior authorization needed: {title}", detail, "info", link)
    if det.decision == "approved":
        with service.db.session() as s:
            s.add(
                CoverageAssertion(
                    id=assertion,
                    org=who.org,
                    member_id=mapped.request.member.id,
                    drug=policy.title,
                    decision=det.decision,
                    request=mapped.request.model_dump(mode="json", exclude_none=True),
                    created_at=service.clock(),
                )
            )
        info = _coverage_info("covered", "satisfied", coverage, today, assertion)
        met = "; ".join(r.text for r in det.reasons if r.status == "met")[:900]
        return info, _card(f"{title}: the chart meets the policy", f"Criteria met: {met}")
    if det.decision == "denied" and det.denial_basis == "investigational":
        reason = "; ".join(r.text for r in det.reasons)[:900]
        info = _coverage_info(
            "not-covered",
            "no-auth",
            coverage,
            today,
            assertion,
            reason=f"Investigational under {title}: {reason}",
        )
        return info, _card(f"Not covered: investigational under {title}", reason, "warning")
    if det.decision == "partially_approved":
        limit = det.authorization.quantity_limit if det.authorization else None
        text = (
            f"The requested {det.requested_daily_dose_mg} mg per day is over the limit "
            f"({limit}); an authorization would cut the quantity."
        )
        info = _coverage_info("covered", "auth-needed", coverage, today, assertion, reason=text)
        return info, _card(f"{title}: quantity over the limit", text, "warning")
    if det.decision == "pended":
        questions = "\n".join(f"- {q.text}" for q in det.missing)
        info = _coverage_info(
            "covered",
            "auth-needed",
            coverage,
            today,
            assertion,
            "clinical",
            qurl,
            f"Questions remain under {title}",
        )
        return info, _card(
            f"Prior authorization needed: {title}",
            f"Questions the chart does not answer:\n{questions}",
            "info",
            link,
        )
    failed = "; ".join(r.text for r in det.reasons if r.status == "not_met")[:900]
    info = _coverage_info(
        "covered",
        "auth-needed",
        coverage,
        today,
        assertion,
        "clinical",
        qurl,
        f"From the chart, not met: {failed}",
    )
    return info, _card(
        f"{title}: criteria not met from the chart",
        f"Not met: {failed}. A request goes to a pharmacist before any denial.",
        "warning",
        link,
    )


def _date(text: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None
