"""Da Vinci PAS: `Claim/$submit` and `Claim/$inquire` over the case workflow.

A PAS request Bundle's Claim items that order a medication become cases (one per item) through
`Service.submit`; a Claim sent again with the same identifier finds its cases (a retry changes
nothing), and when a case is pended the new information in it (a DTR QuestionnaireResponse,
a new Observation) goes to `Service.add_information`. The answer is a PAS response Bundle whose
ClaimResponse carries, per item, the X12 306 review action:

    approved             A1 certified in total (preAuthRef, authorization period)
    partially_approved   A6 modified (the quantity cut to the policy's limit)
    pended, in_review    A4 pended (questions remain, or a pharmacist must review a denial)
    in_appeal            A4 pended
    denied               A3 not certified (only after a pharmacist, or an expired pend)
    withdrawn            C  cancelled
"""

from __future__ import annotations

import datetime as dt
import hashlib
import typing
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from priorauth.fhir.mapping import (
    Chart,
    Entry,
    Mapped,
    annotate_trace,
    icd10,
    medication_concept,
    medication_name,
    policies_for,
    to_request,
)
from priorauth.fhir.models import CoverageAssertion, FhirClaim
from priorauth.fhir.outcome import FhirError, json_value, pydantic_expression
from priorauth.request import parse_request
from priorauth.service.auth import Principal
from priorauth.service.errors import Conflict, ServiceError
from priorauth.service.models import Authorization, Case
from priorauth.service.workflow import INFO_FIELDS, Service

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
CRD_EXT = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
X12_306 = "https://codesystem.x12.org/005010/306"
REVIEW_ACTIONS = {
    "approved": ("A1", "Certified in total"),
    "partially_approved": ("A6", "Modified"),
    "pended": ("A4", "Pended"),
    "in_review": ("A4", "Pended"),
    "in_appeal": ("A4", "Pended"),
    "denied": ("A3", "Not Certified"),
    "withdrawn": ("C", "Cancelled"),
}
NO_POLICY = ("NA", "No Action Required")
OPEN = ("pended", "in_review", "in_appeal")
MAX_ITEMS = 100


@dataclass
class ItemResult:
    sequence: int
    case: Case | None
    claim: dict[str, Any]
    sources: dict[str, str]
    note: str = ""
    authorization: dict[str, Any] | None = None
    """The authorization on file (the engine's, or a pharmacist's overturn)."""


def with_authorizations(service: Service, results: list[ItemResult]) -> list[ItemResult]:
    # The engine's approvals carry their authorization; only a pharmacist's (an overturn)
    # needs the table.
    ids = [
        r.case.id
        for r in results
        if r.case is not None
        and r.case.status in ("approved", "partially_approved")
        and not r.case.determination.get("authorization")
    ]
    if not ids:
        return results
    with service.db.reading() as s:
        rows = s.scalars(select(Authorization).where(Authorization.case_id.in_(ids))).all()
    by_case = {a.case_id: a for a in rows}
    for r in results:
        a = by_case.get(r.case.id) if r.case is not None else None
        if a is not None:
            r.authorization = {
                "start": a.start.isoformat(),
                "end": a.end.isoformat(),
                "max_daily_dose_mg": a.max_daily_dose_mg,
            }
    return results


def _load(raw: bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, dict):
        data: Any = raw
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = json_value(raw)  # raises the 400 that says where the text breaks
    if not isinstance(data, dict):
        raise FhirError("the body must be a JSON object (a Bundle)", "Bundle", 400, "structure")
    if data.get("resourceType") != "Bundle":
        raise FhirError(
            f"expected a Bundle, got resourceType {data.get('resourceType')!r}",
            "Bundle.resourceType",
            422,
            "structure",
        )
    return data


_RESOURCE_MODELS: dict[str, type[FHIRAbstractModel]] = {}


def _resource_model(rtype: Any) -> type[FHIRAbstractModel] | None:
    """The R4B model of a resource type, looked up once a process (fhir.resources imports it
    by name for every entry of every Bundle); None for what is not a resource type."""
    if not isinstance(rtype, str):
        return None
    model = _RESOURCE_MODELS.get(rtype)
    if model is None:
        try:
            model = get_fhir_model_class(rtype)
        except ValueError:
            return None
        if not model.has_resource_base():
            return None
        _RESOURCE_MODELS[rtype] = model  # bounded: one per FHIR resource type
    return model


# What a PAS request Bundle carries and the answer holds (the CRD, DTR and notification
# resources load with them: they share the element types).
_PAS_TYPES = (
    "Bundle",
    "Claim",
    "ClaimResponse",
    "Patient",
    "Coverage",
    "Organization",
    "Practitioner",
    "PractitionerRole",
    "MedicationRequest",
    "Medication",
    "MedicationStatement",
    "MedicationAdministration",
    "Procedure",
    "Condition",
    "Observation",
    "DiagnosticReport",
    "Device",
    "ServiceRequest",
    "QuestionnaireResponse",
    "OperationOutcome",
)


def warm() -> int:
    """Load the FHIR models a PAS request needs, and every element type under them, now rather
    than on the first requests (fhir.resources imports an element's model when it first
    validates one): a worker's first PAS call does not pay for it, and what it builds is there
    before the app freezes its start-up objects out of the collector. Returns the number of
    models."""
    seen: set[type[FHIRAbstractModel]] = set()
    todo = [m for m in (_resource_model(t) for t in _PAS_TYPES) if m is not None]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for f in model.model_fields.values():
            types = [f.annotation]
            while types:
                t = types.pop()
                types.extend(typing.get_args(t))
                load = getattr(t, "get_model_klass", None)
                if load is not None:
                    todo.append(load())
    return len(seen)


def _valid_by_entry(data: dict[str, Any]) -> bool:
    """The Bundle checked by the same models, each entry's resource with its own model and the
    Bundle without them: what `Bundle.model_validate` checks, without its per-entry lookup of
    the model by name. False when anything fails, or is unusual enough to leave to it."""
    entries = data.get("entry")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        return False
    shell = []
    for e in entries:
        if not isinstance(e, dict):
            return False
        res = e.get("resource")
        if res is not None:
            model = _resource_model(res.get("resourceType")) if isinstance(res, dict) else None
            if model is None:
                return False
            try:
                model.model_validate(res)
            except Exception:
                return False
            e = {k: v for k, v in e.items() if k != "resource"}
            if not e:
                return False  # an entry of nothing but its resource: the whole check decides
        shell.append(e)
    try:
        Bundle.model_validate({**data, "entry": shell} if entries else data)
    except Exception:
        return False
    return True


def parse_bundle(raw: bytes | dict[str, Any]) -> dict[str, Any]:
    """The JSON body as a Bundle dict checked by the FHIR models, or FhirError naming the
    first element that is wrong."""
    data = _load(raw)
    if _valid_by_entry(data):
        return data
    # Something is wrong (or unusual): the whole Bundle through its model, for the error it
    # names first, exactly as clients have always been told.
    try:
        Bundle.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = pydantic_expression("Bundle", tuple(err.get("loc", ())))
        raise FhirError(
            f"{where}: {err.get('msg', 'invalid')} (not a valid FHIR R4 Bundle)",
            where,
            422,
            "structure",
        ) from None
    except Exception as exc:  # the models' own checks raise more than ValidationError
        raise FhirError(f"not a valid FHIR R4 Bundle: {exc}", "Bundle", 422, "structure") from None
    return data


def _references(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(FHIRPath, reference) of every Reference under a resource, its contained ones aside."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield path, ref
        for key, value in node.items():
            if key != "contained" and isinstance(value, dict | list):
                yield from _references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, dict | list):
                yield from _references(value, f"{path}[{i}]")


def _unresolved(resource: dict[str, Any], path: str, chart: Chart) -> tuple[str, str] | None:
    """The first reference in the resource (and in its contained resources) that names
    nothing in the Bundle, or a contained resource that is not there."""
    contained = [c for c in resource.get("contained") or [] if isinstance(c, dict)]
    local = {f"#{c.get('id')}" for c in contained if c.get("id")} | {"#"}
    inner = [(c, f"{path}.contained[{i}]") for i, c in enumerate(contained)]
    for res, where in [(resource, path), *inner]:
        for at, ref in _references(res, where):
            if ref.startswith("#"):
                if ref not in local:
                    return at, ref
            elif chart.resolve(ref) is None:
                return at, ref
    return None


def check_bundle_rules(bundle: dict[str, Any], chart: Chart) -> None:
    """FHIR's Bundle rules that the models do not check, as a PAS payer needs them: each
    entry's fullUrl is its own (bdl-7: unless the versions differ), and every reference
    resolves inside the Bundle (a PAS request carries what its Claim points to)."""
    entries = bundle.get("entry") or []
    if bundle.get("type") != "history":
        seen: dict[tuple[str, str | None], int] = {}
        for i, e in enumerate(entries):
            url = e.get("fullUrl")
            if not url:
                continue
            version = ((e.get("resource") or {}).get("meta") or {}).get("versionId")
            first = seen.setdefault((url, version), i)
            if first != i:
                raise FhirError(
                    f"entry[{i}] has the same fullUrl as entry[{first}] ({url!r}): each "
                    "entry's fullUrl must be its own (FHIR bdl-7)",
                    f"Bundle.entry[{i}].fullUrl",
                    code="invariant",
                )
    for i, e in enumerate(entries):
        res = e.get("resource")
        if not isinstance(res, dict):
            continue
        found = _unresolved(res, f"Bundle.entry[{i}].resource", chart)
        if found is not None:
            where, ref = found
            raise FhirError(
                f"{where}: the reference {ref!r} names no resource in the Bundle (a PAS "
                "request carries every resource its Claim points to)",
                where,
                code="not-found",
            )


def _claim_entry(bundle: dict[str, Any], chart: Chart) -> Entry:
    claims = list(chart.of_type("Claim"))
    if not claims:
        raise FhirError("the Bundle has no Claim", "Bundle.entry", code="required")
    claim = claims[0]
    if claim.path != "Bundle.entry[0].resource":
        raise FhirError(
            "a PAS request Bundle starts with its Claim (entry[0])",
            "Bundle.entry[0].resource",
            code="structure",
        )
    if claim.resource.get("use") != "preauthorization":
        raise FhirError(
            f"Claim.use is {claim.resource.get('use')!r}; PAS takes 'preauthorization'",
            f"{claim.path}.use",
            code="value",
        )
    if not claim.resource.get("item"):
        raise FhirError("the Claim has no item", f"{claim.path}.item", code="required")
    if len(claim.resource["item"]) > MAX_ITEMS:
        raise FhirError(f"more than {MAX_ITEMS} items", f"{claim.path}.item", code="too-costly")
    return claim


def claim_key(claim: dict[str, Any]) -> str | None:
    ids = claim.get("identifier") or []
    pairs = sorted(f"{i.get('system', '')}|{i.get('value', '')}" for i in ids if i.get("value"))
    if not pairs:
        return None
    return hashlib.sha256("\n".join(pairs).encode()).hexdigest()


def _ext(res: dict[str, Any], name: str) -> dict[str, Any] | None:
    for ext in res.get("extension") or []:
        if ext.get("url") == f"{PAS}/{name}":
            return dict(ext)
    return None


def _kind(claim: dict[str, Any], item: dict[str, Any]) -> str:
    for res in (item, claim):
        ext = _ext(res, "extension-certificationType")
        code = next(
            (c.get("code") for c in (ext or {}).get("valueCodeableConcept", {}).get("coding", [])),
            None,
        )
        if code in ("R", "4"):  # X12 1322: renewal, extension
            return "renewal"
        if code:
            return "initial"
    return "initial"


def _urgency(claim: dict[str, Any]) -> str:
    level = _ext(claim, "extension-levelOfServiceCode") or {}
    codes = {c.get("code") for c in level.get("valueCodeableConcept", {}).get("coding", [])}
    priority = {c.get("code") for c in (claim.get("priority") or {}).get("coding", [])}
    return "expedited" if codes & {"U", "03"} or "stat" in priority else "standard"


def _service_date(item: dict[str, Any]) -> dt.date | None:
    text = item.get("servicedDate") or (item.get("servicedPeriod") or {}).get("start")
    try:
        return dt.date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


def _order_for(chart: Chart, claim: Entry, index: int, item: dict[str, Any]) -> Entry | None:
    where = f"{claim.path}.item[{index}]"
    ext = _ext(item, "extension-requestedService")
    if ext is not None:
        found = chart.resolve(ext.get("valueReference"))
        if found is None:
            ref = (ext.get("valueReference") or {}).get("reference")
            raise FhirError(
                f"the item's requested service {ref!r} is not in the Bundle",
                f"{where}.extension('requestedService').valueReference",
                code="not-found",
            )
        return found
    # Without the extension, a Claim ordering one medication means the MedicationRequest
    # in the Bundle.
    orders = list(chart.of_type("MedicationRequest"))
    active = [o for o in orders if o.resource.get("status") in ("active", "draft")] or orders
    return active[0] if len(active) == 1 else None


def _claim_summary(claim: dict[str, Any], sequence: int) -> dict[str, Any]:
    """What a ClaimResponse echoes from its Claim."""
    return {
        "identifier": claim.get("identifier") or [],
        "patient": claim.get("patient"),
        "insurer": claim.get("insurer"),
        "provider": claim.get("provider"),
        "type": claim.get("type"),
        "item_sequence": sequence,
    }


def _no_authorization(service: Service, order: Entry | None, chart: Chart) -> str | None:
    """Why the item needs no authorization from us (what it orders is under none of our
    policies: not a medication, or a drug no policy covers), or None when a policy decides it."""
    if order is None or order.resource.get("resourceType") != "MedicationRequest":
        what = order.key if order else "the item"
        return (
            f"{what}: no prior-authorization policy here covers it; this service needs "
            "no authorization from priorauth"
        )
    drug = medication_name(medication_concept(chart, order)[0])
    if drug and not policies_for(service.engine, drug):
        return (
            f"{drug}: no prior-authorization policy here covers this drug; it needs no "
            "authorization from priorauth"
        )
    return None


def submit(
    service: Service, who: Principal, raw: bytes | dict[str, Any]
) -> tuple[dict[str, Any], list[ItemResult]]:
    """(the request Bundle, one result per Claim item)."""
    bundle = parse_bundle(raw)
    chart = Chart()
    chart.add_bundle(bundle, "Bundle")
    claim = _claim_entry(bundle, chart)
    check_bundle_rules(bundle, chart)
    res = claim.resource
    patient = chart.resolve(res.get("patient"))
    if patient is None:
        raise FhirError(
            f"the Claim's patient {(res.get('patient') or {}).get('reference')!r} is not in "
            "the Bundle",
            f"{claim.path}.patient",
            code="not-found",
        )
    coverage = None
    for ins in res.get("insurance") or []:
        found = chart.resolve(ins.get("coverage"))
        if found is not None and (coverage is None or ins.get("focal")):
            coverage = found
    codes: list[tuple[str, str]] = []
    for i, d in enumerate(res.get("diagnosis") or []):
        code = icd10(d.get("diagnosisCodeableConcept"))
        if code:
            codes.append((code, f"{claim.path}.diagnosis[{i}]"))
    key = claim_key(res)
    org = who.org or "plan"
    results: list[ItemResult] = []
    for index, item in enumerate(res["item"]):
        sequence = int(item.get("sequence") or index + 1)
        summary = _claim_summary(res, sequence)
        order = _order_for(chart, claim, index, item)
        note = _no_authorization(service, order, chart)
        if note is not None or order is None:
            results.append(ItemResult(sequence, None, summary, {}, note or ""))
            continue
        mapped = to_request(
            chart,
            order,
            service.engine,
            date_of_service=_service_date(item),
            kind=_kind(res, item),
            urgency=_urgency(res),
            coverage=coverage,
            patient=patient,
            diagnosis_codes=codes,
        )
        mapped, note = _with_assertion(service, who, order, mapped)
        case = _submit_item(service, who, org, key, sequence, mapped, summary, order)
        results.append(ItemResult(sequence, case, summary, mapped.sources, note))
    return bundle, results


def _assertion_id(order: Entry) -> str | None:
    for ext in order.resource.get("extension") or []:
        if ext.get("url") == CRD_EXT:
            for part in ext.get("extension") or []:
                if part.get("url") == "coverage-assertion-id" and part.get("valueString"):
                    return str(part["valueString"])
    return None


def _with_assertion(
    service: Service, who: Principal, order: Entry, mapped: Mapped
) -> tuple[Mapped, str]:
    """A CRD coverage assertion on the order (`satisfied`: the engine approved this order on
    the chart it saw) stands in for the chart: the case is decided on the request recorded with
    the assertion, so a thin PAS Bundle need not send the chart again. It applies only to the
    same organization, member and medication (drug, strength, quantity, days)."""
    aid = _assertion_id(order)
    if aid is None:
        return mapped, ""
    with service.db.reading() as s:
        row = s.get(CoverageAssertion, aid)
    req = mapped.request
    if row is None or row.org != who.org or row.decision != "approved":
        return (
            mapped,
            f"Coverage assertion {aid}: not on file for this organization; reviewed anew.",
        )
    recorded = parse_request(row.request)
    if recorded.member.id != req.member.id or recorded.medication != req.medication:
        return mapped, (
            f"Coverage assertion {aid}: for another member or another medication order; "
            "reviewed anew."
        )
    body = recorded.model_copy(update={"date_of_service": req.date_of_service, "kind": req.kind})
    sources = {
        k: f"coverage assertion {aid}"
        for k in ("diagnoses", "biomarkers", "answers", "prior_therapies", "concurrent_therapies")
    }
    return Mapped(body, {**sources, **mapped.sources}, mapped.drug), (
        f"Coverage assertion {aid} (CRD, {row.created_at:%Y-%m-%d}): decided on the chart "
        "recorded with it."
    )


def _existing(service: Service, org: str, key: str, sequence: int) -> FhirClaim | None:
    with service.db.reading() as s:
        return s.scalar(
            select(FhirClaim).where(
                FhirClaim.org == org,
                FhirClaim.claim_key == key,
                FhirClaim.item_sequence == sequence,
            )
        )


def _submit_item(
    service: Service,
    who: Principal,
    org: str,
    key: str | None,
    sequence: int,
    mapped: Mapped,
    summary: dict[str, Any],
    order: Entry,
) -> Case:
    # The Claim's identifier is the case's Idempotency-Key: a first submission costs no
    # lookup; the same request again finds its case; new information for it is a conflict
    # that the follow-up resolves.
    idem = f"pas:{key[:40]}:{sequence}" if key else None

    def record(s: Session, case: Case) -> None:
        # In the case's own transaction: a case is never on file without its Claim.
        s.add(
            FhirClaim(
                case_id=case.id,
                org=org,
                claim_key=key or f"none:{uuid.uuid4().hex}",
                item_sequence=sequence,
                claim=summary,
                sources=mapped.sources,
                created_at=case.received_at,
            )
        )

    try:
        # The request as mapped (checked there), not its JSON to be checked again.
        case, _created = service.submit(who, mapped.request, idem, record)
    except Conflict as exc:
        row = (
            _existing(service, org, key, sequence)
            if key and exc.field == "Idempotency-Key"
            else None
        )
        if row is None:
            raise _as_fhir(exc, mapped, order) from None
        body = mapped.request.model_dump(mode="json", exclude_none=True)
        return _follow_up(service, who, row, body, mapped)
    except ServiceError as exc:
        raise _as_fhir(exc, mapped, order) from None
    return case


def _follow_up(
    service: Service, who: Principal, row: FhirClaim, body: dict[str, Any], mapped: Mapped
) -> Case:
    """The same Claim again: a retry answers the case as it is; new information for a pended
    case is added to it (the case is evaluated again)."""
    case = service.get(who, row.case_id)
    old = case.request
    info = {f: body[f] for f in INFO_FIELDS if f in body and body[f] != old.get(f)}
    if not info:
        return case
    if case.status != "pended":
        raise FhirError(
            f"this Claim's case is {case.status}; only a pended case takes new information "
            "(submit a new Claim with a new identifier, or an appeal)",
            "Bundle.entry[0].resource.identifier",
            409,
            "conflict",
        )
    try:
        case = service.add_information(who, row.case_id, info)
    except ServiceError as exc:
        raise _as_fhir(exc, mapped, None) from None
    with service.db.session() as s:
        stored = s.get(FhirClaim, row.case_id)
        if stored is not None:
            stored.sources = {**stored.sources, **mapped.sources}
    return case


def _as_fhir(exc: ServiceError, mapped: Mapped, order: Entry | None) -> FhirError:
    where = None
    if exc.field:
        best = max((k for k in mapped.sources if exc.field.startswith(k)), key=len, default=None)
        where = mapped.sources.get(best) if best else None
    if where is None and order is not None:
        where = order.path
    code = {403: "forbidden", 404: "not-found", 409: "conflict"}.get(exc.status, "invalid")
    return FhirError(exc.detail, where, exc.status, code)


# --- the answer ------------------------------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def _review_action(code: str, display: str, number: str | None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if number:
        parts.append({"url": "number", "valueString": number})
    parts.append(
        {
            "url": f"{PAS}/extension-reviewActionCode",
            "valueCodeableConcept": {
                "coding": [{"system": X12_306, "code": code, "display": display}]
            },
        }
    )
    return {"url": f"{PAS}/extension-reviewAction", "extension": parts}


def _num(value: Any) -> str:
    """960.0 reads 960."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _notes(case: Case, sources: dict[str, str], auth: dict[str, Any] | None) -> list[str]:
    det = case.determination
    out: list[str] = []
    auth = auth or det.get("authorization")
    if case.status in ("approved", "partially_approved") and auth:
        out.append(
            f"{det['policy']['title']} ({det['policy']['number']}): authorized "
            f"{auth['start']} to {auth['end']}, up to {_num(auth['max_daily_dose_mg'])} mg per day"
            + (f" ({auth['quantity_limit']})" if auth.get("quantity_limit") else "")
        )
    basis = det.get("approval_basis")
    if case.status in ("approved", "partially_approved") and basis:
        # PAS's ClaimResponse has no element for why an approval was given; a note says it.
        out.append(f"Approval basis: {basis} ({basis.replace('_', ' ')})")
    if case.status == "partially_approved":
        out.append(
            f"Requested {_num(det['requested_daily_dose_mg'])} mg per day; the quantity is cut "
            "to the policy's limit."
        )
    if case.status == "in_review":
        out.append("A pharmacist reviews this request before any denial; no denial has been made.")
    if case.status == "pended":
        out.append(
            "More information is needed. Answer the questions with the DTR Questionnaire "
            "($questionnaire-package) and submit this Claim again with its QuestionnaireResponse."
        )
        for q in det.get("missing", []):
            out.append(f"Question {q['id']}: {q['text']}")
    if case.decision_reason and case.status in ("denied", "approved"):
        out.append(f"Decision by {case.decided_by}: {case.decision_reason}")
    for r in det.get("reasons", []):
        out.append(f"{r['status'].replace('_', ' ')}: {r['text']}")
    if sources:
        used = sorted(set(sources.values()))
        out.append("Facts read from: " + ", ".join(used))
    return out


def claim_response(
    results: list[ItemResult], now: dt.datetime, check: bool = True
) -> dict[str, Any]:
    """One ClaimResponse for the Claim's items, checked by the FHIR model (unless the caller
    checks the Bundle it goes into: the model validates what it contains)."""
    summary = results[0].claim
    items = []
    notes: list[dict[str, Any]] = []
    pre_auth: str | None = None
    period: dict[str, str] | None = None
    outcome = "complete"
    for r in results:
        ext: list[dict[str, Any]] = []
        if r.case is None:
            code, display = NO_POLICY
            number = None
            notes.append({"number": len(notes) + 1, "type": "display", "text": r.note})
        else:
            code, display = REVIEW_ACTIONS.get(r.case.status, ("A4", "Pended"))
            number = None
            auth = r.authorization or r.case.determination.get("authorization") or {}
            if r.case.status in ("approved", "partially_approved"):
                number = r.case.id
                pre_auth = pre_auth or number
                if auth.get("start"):
                    item_period = {"start": str(auth["start"]), "end": str(auth["end"])}
                    period = period or item_period
                    ext.append(
                        {
                            "url": f"{PAS}/extension-itemPreAuthIssueDate",
                            "valueDate": now.date().isoformat(),
                        }
                    )
                    ext.append(
                        {"url": f"{PAS}/extension-itemPreAuthPeriod", "valuePeriod": item_period}
                    )
            if r.case.status in OPEN:
                outcome = "queued"
            if r.note:
                notes.append({"number": len(notes) + 1, "type": "display", "text": r.note})
            for text in _notes(r.case, r.sources, r.authorization):
                notes.append({"number": len(notes) + 1, "type": "display", "text": text})
        adjudication = {
            "extension": [_review_action(code, display, number)],
            "category": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/adjudication",
                        "code": "submitted",
                    }
                ]
            },
        }
        item: dict[str, Any] = {"itemSequence": r.sequence, "adjudication": [adjudication]}
        if ext:
            item["extension"] = ext
        items.append(item)
    cr: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{PAS}/profile-claimresponse"]},
        "status": "active",
        "type": summary.get("type")
        or {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "pharmacy"}
            ]
        },
        "use": "preauthorization",
        "patient": summary.get("patient") or {"display": "unknown"},
        "created": _iso(now),
        "insurer": summary.get("insurer") or {"display": "priorauth"},
        "outcome": outcome,
        "item": items,
    }
    if summary.get("identifier"):
        cr["identifier"] = summary["identifier"]
        cr["request"] = {"identifier": summary["identifier"][0]}
    if summary.get("provider"):
        cr["requestor"] = summary["provider"]
    if pre_auth:
        cr["preAuthRef"] = pre_auth
    if period:
        cr["preAuthPeriod"] = period
    if notes:
        cr["processNote"] = notes
    if check:
        ClaimResponse.model_validate(cr)
    return cr


def response_bundle(
    request_bundle: dict[str, Any] | None,
    results: list[ItemResult],
    now: dt.datetime,
) -> dict[str, Any]:
    cr = claim_response(results, now, check=False)
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"urn:uuid:{cr['id']}", "resource": cr},
    ]
    if request_bundle is not None:
        chart = Chart()
        chart.add_bundle(request_bundle, "Bundle")
        summary = results[0].claim
        seen: set[str] = set()
        for ref in (summary.get("patient"), summary.get("insurer"), summary.get("provider")):
            found = chart.resolve(ref)
            if found is not None and found.key not in seen:
                seen.add(found.key)
                entries.append(
                    {"fullUrl": (ref or {}).get("reference", found.key), "resource": found.resource}
                )
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [f"{PAS}/profile-pas-response-bundle"]},
        "type": "collection",
        "timestamp": _iso(now),
        "entry": entries,
    }
    # Not checked by the models again here: the resources echoed were checked in the request
    # Bundle, and the ClaimResponse is built above from those and our own words (the tests
    # check every shape it takes with the models). Checking it took as long as checking the
    # request.
    return bundle


def results_for_case(service: Service, who: Principal, case_id: str) -> list[ItemResult]:
    case = service.get(who, case_id)
    with service.db.reading() as s:
        row = s.get(FhirClaim, case_id)
    claim = row.claim if row else _claim_summary({}, 1)
    return [ItemResult(int(claim.get("item_sequence", 1)), case, claim, row.sources if row else {})]


def inquire(
    service: Service, who: Principal, raw: bytes | dict[str, Any]
) -> tuple[dict[str, Any], list[ItemResult]]:
    """The current state of the cases of a Claim, found by the Claim's identifier; an item
    that orders what no policy here covers is answered as it was at submission (no
    authorization needed)."""
    bundle = parse_bundle(raw)
    chart = Chart()
    chart.add_bundle(bundle, "Bundle")
    claims = list(chart.of_type("Claim"))
    if not claims:
        raise FhirError("the Bundle has no Claim", "Bundle.entry", code="required")
    claim = claims[0]
    check_bundle_rules(bundle, chart)
    key = claim_key(claim.resource)
    if key is None:
        raise FhirError(
            "the Claim has no identifier to look the request up by",
            f"{claim.path}.identifier",
            code="required",
        )
    org = who.org or "plan"
    with service.db.reading() as s:
        q = select(FhirClaim).where(FhirClaim.claim_key == key)
        if who.role == "submitter":
            q = q.where(FhirClaim.org == org)
        rows = list(s.scalars(q.order_by(FhirClaim.item_sequence)).all())
    results = [
        ItemResult(row.item_sequence, service.get(who, row.case_id), row.claim, row.sources)
        for row in rows
    ]
    on_file = {row.item_sequence for row in rows}
    items = claim.resource.get("item") or []
    for index, item in enumerate(items if isinstance(items, list) else []):
        sequence = int(item.get("sequence") or index + 1)
        if sequence in on_file:
            continue
        # Only an order the Bundle carries can be known to need no authorization; an item
        # without one is simply not on file.
        order = _order_for(chart, claim, index, item)
        note = _no_authorization(service, order, chart) if order is not None else None
        if note is not None:
            summary = _claim_summary(claim.resource, sequence)
            results.append(ItemResult(sequence, None, summary, {}, note))
    if not results:
        raise FhirError(
            "no prior-authorization request with this Claim identifier",
            f"{claim.path}.identifier",
            404,
            "not-found",
        )
    results.sort(key=lambda r: r.sequence)
    return bundle, results


def case_trace(service: Service, who: Principal, case_id: str) -> dict[str, Any]:
    """The determination's trace with the FHIR resource of each fact."""
    trace = service.trace(who, case_id)
    with service.db.reading() as s:
        row = s.get(FhirClaim, case_id)
    return annotate_trace(trace, row.sources if row else {})
