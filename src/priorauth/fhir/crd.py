"""Da Vinci CRD as CDS Hooks 2.0 services: order-select, order-sign and order-dispatch.

Each order gets the `coverage-information` extension (coverage_info.py) in a `systemActions`
update, decided by the engine from the chart (prefetch, else fetched from `fhirServer`), with no
case created:

    no policy covers the order          covered, no-auth
    the drug is named only by a code    indeterminate (priorauth reads drug names)
    the engine approves from the chart  covered, satisfied + satisfied-pa-id
    questions remain / chart too thin   covered, auth-needed, doc-needed clinical, the DTR
                                        Questionnaire
    over the quantity limit             covered, auth-needed (the quantity would be cut)
    investigational under the policy    not-covered (no pa-needed), with the policy's reason
    criteria not met from the chart     covered, auth-needed (a pharmacist reviews a request)
    the Coverage is not in force        not-covered, reason no-active-coverage
    no Coverage in the chart            no extension (it must name one): a card says so
    an unexpected failure               indeterminate, reason technical (and the log)
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import httpx
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from priorauth.fhir.coverage_info import Assertion, coverage_of, extension, with_extension
from priorauth.fhir.crd_decide import card, decide, outside_policies, policy_of, unnamed_drug
from priorauth.fhir.mapping import Chart, Entry
from priorauth.fhir.outcome import FhirError, json_value, pydantic_expression
from priorauth.service.auth import Principal
from priorauth.service.workflow import Service

log = logging.getLogger("priorauth.fhir.crd")
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
    # BMI, weight and height are vital signs, not laboratory results: a second query, as US Core
    # searches Observations by one category at a time.
    "vitalSigns": "Observation?patient={{context.patientId}}&category=vital-signs",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
}
FETCH_TIMEOUT = 3.0
CRD_VERSION = "2.2"
"""The CRD version whose rules the answers keep (discovery's `davinci-crd.version`)."""
ORDER_TYPES = frozenset(
    {
        "Appointment",
        "CommunicationRequest",
        "DeviceRequest",
        "Encounter",
        "MedicationRequest",
        "NutritionOrder",
        "ServiceRequest",
        "VisionPrescription",
    }
)
"""The resources the coverage-information extension may be put on (its context)."""


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
                "extension": {
                    "davinci-crd.version": [CRD_VERSION],
                    "davinci-crd.configuration-options": [
                        {
                            "code": "coverage-info",
                            "type": "boolean",
                            "name": "Coverage information",
                            "description": "Whether each order needs prior authorization, "
                            "with the questions still open; false: no answer at all.",
                            "default": True,
                        }
                    ],
                },
            }
        )
    return {"services": services}


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
    for key in ("prefetch", "extension"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise FhirError(f"{key} must be a JSON object", key)
    return data


def _wants_coverage_info(data: dict[str, Any]) -> bool:
    config = (data.get("extension") or {}).get("davinci-crd.configuration")
    return not (isinstance(config, dict) and config.get("coverage-info") is False)


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
        self.done: set[str] = set()

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


def _add(chart: Chart, value: Any, path: str) -> None:
    if not isinstance(value, dict):
        return
    if value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        # A prefetch value that is no Bundle of entries is left out, as if not sent.
        if isinstance(entries, list) and all(isinstance(e, dict) for e in entries):
            chart.add_bundle(value, path)
    elif value.get("resourceType"):
        chart.add(value, path)


def _chart(data: dict[str, Any]) -> tuple[Chart, _Fetcher]:
    """The prefetch as a chart; `_fill` adds what it lacks when a decision needs it."""
    chart = Chart()
    for key, value in (data.get("prefetch") or {}).items():
        _add(chart, value, f"prefetch.{key}")
    return chart, _Fetcher(data)


def _fill(data: dict[str, Any], chart: Chart, fetcher: _Fetcher, keys: tuple[str, ...]) -> None:
    """Read from the EHR the prefetch keys the client did not send (once per call). A key sent
    as null means the EHR has no such data (CDS Hooks): it is not asked for again."""
    prefetch = data.get("prefetch") or {}
    pid = data["context"].get("patientId")
    if not isinstance(pid, str) or not pid:
        return
    for key in keys:
        if key in prefetch or key in fetcher.done:
            continue
        fetcher.done.add(key)
        _add(
            chart,
            fetcher.get(PREFETCH[key].replace("{{context.patientId}}", pid)),
            f"fetched.{key}",
        )


def _orders(data: dict[str, Any], chart: Chart, fetcher: _Fetcher) -> list[Entry]:
    context = data["context"]
    hook = data["hook"]
    if hook in ("order-select", "order-sign"):
        draft = context.get("draftOrders")
        if not isinstance(draft, dict) or draft.get("resourceType") != "Bundle":
            raise FhirError(
                "context.draftOrders (a Bundle) is required", "context.draftOrders", code="required"
            )
        entries = draft.get("entry") or []
        if not isinstance(entries, list):
            raise FhirError("a Bundle's entry is a list", "context.draftOrders.entry")
        for i, e in enumerate(entries):
            if not isinstance(e, dict):
                raise FhirError("an entry is an object", f"context.draftOrders.entry[{i}]")
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


def _invalid(order: Entry) -> dict[str, Any] | None:
    """A warning card when the order is not valid FHIR R4 (nothing can be said about it)."""
    res = order.resource
    try:
        get_fhir_model_class(str(res.get("resourceType"))).model_validate(res)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = pydantic_expression(order.path, tuple(err.get("loc", ())))
        return card(
            f"{order.key}: not a valid {res.get('resourceType')}",
            f"`{where}`: {err.get('msg')}. Coverage requirements could not be checked.",
            "warning",
        )
    except Exception as exc:
        return card(f"{order.key}: not a valid resource", str(exc), "warning")
    return None


def answer(
    service: Service, who: Principal, service_id: str, raw: bytes, base: str
) -> dict[str, Any]:
    data = _parse(raw, service_id)
    if not _wants_coverage_info(data):
        return {"cards": []}
    chart, fetcher = _chart(data)
    orders = _orders(data, chart, fetcher)
    today = service.clock().date()
    cards: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    uncovered: list[str] = []
    for order in orders:
        refused = _invalid(order)
        if refused is not None:
            cards.append(refused)
            continue
        if order.resource.get("resourceType") not in ORDER_TYPES:
            continue
        action, shown = _answer_order(service, who, data, chart, fetcher, order, today, base)
        if action is None:
            uncovered.append(order.key)
        else:
            actions.append(action)
        if shown is not None:
            cards.append(shown)
    if uncovered:
        cards.append(
            card(
                "No coverage found for this patient: coverage requirements not checked",
                "Neither the prefetch nor the EHR gave an active Coverage for the patient, so "
                f"nothing can be said about {', '.join(uncovered)}.",
            )
        )
    if fetcher.notes:
        cards.append(
            card(
                "Some of the chart could not be read",
                "What is missing is treated as unknown: " + "; ".join(fetcher.notes),
            )
        )
    out: dict[str, Any] = {"cards": cards}
    if actions:  # CDS Hooks: an optional array is left out rather than sent empty
        out["systemActions"] = actions
    return out


def _answer_order(
    service: Service,
    who: Principal,
    data: dict[str, Any],
    chart: Chart,
    fetcher: _Fetcher,
    order: Entry,
    today: dt.date,
    base: str,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The systemAction for one order (None without a Coverage to name) and its card."""
    res = order.resource
    when = _date(res.get("authoredOn")) or today
    assertion_id = str(uuid.uuid4())
    shown: dict[str, Any] | None = None
    try:
        name, policy = policy_of(service, chart, order, when)
        _fill(data, chart, fetcher, tuple(PREFETCH) if policy else ("coverage",))
        coverage, in_force = coverage_of(chart, today)
        if coverage is None:
            return None, None
        label = _payer(chart, coverage)
        if not in_force:
            assertion = Assertion(
                "not-covered",
                None,
                f"{coverage.key} is not in force on {today.isoformat()} "
                f"(status {coverage.resource.get('status')}, period "
                f"{_period(coverage.resource)}).",
                "no-active-coverage",
            )
        elif res.get("resourceType") != "MedicationRequest":
            assertion = outside_policies(f"this {res.get('resourceType')}", when)
        elif not name:
            assertion = unnamed_drug(chart, order)
        elif policy is None:
            assertion = outside_policies(name, when)
        else:
            assertion, shown = decide(
                service, who, data, chart, order, coverage, when, assertion_id, base, policy
            )
            if shown is not None:
                shown["source"]["label"] = label
    except Exception:
        # Whatever failed, the EHR still gets an answer for the order, and the failure is in the
        # log with its traceback: CRD resp-43 asks for indeterminate with the reason technical.
        log.exception("CRD could not decide %s", order.key)
        coverage, _ = coverage_of(chart, today)
        if coverage is None:
            return None, None
        assertion = Assertion(
            "indeterminate",
            "indeterminate",
            "priorauth failed while deciding this order; the failure is logged, and asking "
            "again may succeed.",
            "technical",
        )
        shown = None
    info = extension(assertion, coverage, today, assertion_id)
    action = {
        "type": "update",
        "description": f"coverage information for {order.key}",
        "resource": with_extension(res, info),
    }
    return action, shown


def _payer(chart: Chart, coverage: Entry) -> str:
    """The insurer's name as the patient knows it (CRD: a card's source.label)."""
    for ref in coverage.resource.get("payor") or []:
        if not isinstance(ref, dict):
            continue
        org = chart.resolve(ref)
        name = org.resource.get("name") if org is not None else None
        if isinstance(name, str) and name.strip():
            return name.strip()
        if isinstance(ref.get("display"), str) and ref["display"].strip():
            return str(ref["display"]).strip()
    return "priorauth"


def _period(coverage: dict[str, Any]) -> str:
    given = coverage.get("period")
    period: dict[str, Any] = given if isinstance(given, dict) else {}
    return f"{period.get('start', '…')} to {period.get('end', '…')}"


def _date(text: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None
