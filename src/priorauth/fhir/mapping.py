"""From clinical FHIR resources to the request contract.

A `Chart` indexes the resources a client sent (a PAS Bundle, CDS Hooks prefetch, DTR input).
`to_request` reads the order and the chart into a request dict, then validates it through the
request contract (`priorauth.parse_request`), so a field added to the contract is checked here
too. Every fact remembers the resource it came from (`sources`: request field ->
`Observation/kras-1`) and `annotate_trace` carries that into the determination's trace.

What the chart does not say stays absent, so it stays unknown and the case pends, exactly as
in the JSON contract: no Observation means the biomarker is unknown, not negative.
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from priorauth.engine.engine import Engine
from priorauth.errors import NoPolicyError, RequestError
from priorauth.fhir import answered, clinical
from priorauth.fhir.continuity import in_claims
from priorauth.fhir.outcome import FhirError
from priorauth.policy import units
from priorauth.policy.model import Policy
from priorauth.policy.tables import Knowledge
from priorauth.request import Request, parse_request

ICD10 = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
NPI = "http://hl7.org/fhir/sid/us-npi"

# Genomics Reporting IG: the variant Observation's components and answers.
GENE_STUDIED = "48018-6"
AMINO_ACID_CHANGE = "48005-3"
DNA_CHANGE = "48004-6"
VARIANT_ASSESSMENT = "69548-6"
PRESENT, ABSENT = "LA9633-4", "LA9634-2"

# SNOMED CT concepts that say the extent directly (the rest is read from the wording).
SNOMED_EXTENT = {
    "128462008": "metastatic",  # Secondary malignant neoplastic disease
    "14799000": "metastatic",  # Neoplasm, metastatic (morphology)
}
_EXTENT_WORDS = (
    (re.compile(r"\bnon[- ]?metastatic\b"), None),
    (re.compile(r"\bmetasta|\bstage\s*(iv|4)\b|\bm1[abc]?\b"), "metastatic"),
    (re.compile(r"\blocally[- ]advanced\b|\bregional\b"), "locally_advanced"),
    (re.compile(r"\blocali[sz]ed\b"), "localized"),
)
_MG = re.compile(r"(\d+(?:\.\d+)?)\s*mg\b(?!\s*/)", re.IGNORECASE)
_PROTEIN = re.compile(r"p\.\(?([A-Za-z]{1,3}\d+[A-Za-z]{1,3})\)?")
_TABLET_UNITS = {"tab", "tabs", "tablet", "tablets", "{tbl}", "{tablet}", "{tab}", "1", "ea"}
_DAYS = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7, "mo": 30, "month": 30}
_PER_DAY = {"h": 24, "d": 1, "wk": 1 / 7, "mo": 1 / 30}
YES = {"y", "yes", "true", "la33-6", "373066001"}
NO = {"n", "no", "false", "la32-8", "373067005"}


@dataclass
class Entry:
    key: str
    """`Type/id`, the name the trace gives it."""
    path: str
    """Where the client put it, as FHIRPath: `Bundle.entry[3].resource`."""
    resource: dict[str, Any]


class Chart:
    """The resources a client sent, found by reference, fullUrl or type."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self._by_ref: dict[str, Entry] = {}

    def add(self, resource: dict[str, Any], path: str, full_url: str | None = None) -> Entry:
        rtype, rid = resource.get("resourceType", "?"), resource.get("id")
        key = f"{rtype}/{rid}" if rid else (full_url or path)
        entry = Entry(key, path, resource)
        self.entries.append(entry)
        self._by_ref.setdefault(key, entry)
        if full_url:
            self._by_ref.setdefault(full_url, entry)
        return entry

    def add_bundle(self, bundle: dict[str, Any], path: str) -> None:
        for i, e in enumerate(bundle.get("entry") or []):
            res = e.get("resource")
            if isinstance(res, dict):
                self.add(res, f"{path}.entry[{i}].resource", e.get("fullUrl"))

    def resolve(self, ref: dict[str, Any] | str | None) -> Entry | None:
        text = ref.get("reference") if isinstance(ref, dict) else ref
        if not text:
            return None
        if text in self._by_ref:
            return self._by_ref[text]
        # An absolute URL, or a versioned one: Type/id is its tail.
        parts = text.split("/_history/")[0].rstrip("/").split("/")
        return self._by_ref.get("/".join(parts[-2:])) if len(parts) >= 2 else None

    def of_type(self, *types: str) -> Iterator[Entry]:
        return (e for e in self.entries if e.resource.get("resourceType") in types)

    def first(self, rtype: str) -> Entry | None:
        return next(self.of_type(rtype), None)


@dataclass
class Mapped:
    request: Request
    sources: dict[str, str] = field(default_factory=dict)
    """Request field (`biomarkers[0]`) -> the resource it came from (`Observation/kras-1`)."""
    drug: str = ""


# --- small readers ---------------------------------------------------------------------------


def codings(concept: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((concept or {}).get("coding") or [])


def concept_text(concept: dict[str, Any] | None) -> str:
    """The words of a CodeableConcept: its text, else its codings' displays."""
    if not concept:
        return ""
    if concept.get("text"):
        return str(concept["text"])
    return " ".join(str(c["display"]) for c in codings(concept) if c.get("display"))


def has_code(concept: dict[str, Any] | None, code: str, system: str | None = None) -> bool:
    return any(
        c.get("code") == code and (system is None or c.get("system") == system)
        for c in codings(concept)
    )


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _effective_end(res: dict[str, Any]) -> dt.date | None:
    for key in ("effectivePeriod", "performedPeriod"):
        if isinstance(res.get(key), dict):
            return _date(res[key].get("end"))
    for key in ("effectiveDateTime", "performedDateTime"):
        if res.get(key):
            return _date(res[key])
    return None


def _effective_start(res: dict[str, Any]) -> dt.date | None:
    for key in ("effectivePeriod", "performedPeriod"):
        if isinstance(res.get(key), dict):
            return _date(res[key].get("start"))
    return None


# --- the order -------------------------------------------------------------------------------


def medication_concept(chart: Chart, order: Entry) -> tuple[dict[str, Any], Entry | None]:
    """The order's medication as a CodeableConcept, and the Medication resource if referenced."""
    res = order.resource
    if res.get("medicationCodeableConcept"):
        return res["medicationCodeableConcept"], None
    med = chart.resolve(res.get("medicationReference"))
    if med is not None:
        return med.resource.get("code") or {}, med
    ref = res.get("medicationReference") or {}
    return {"text": ref.get("display", "")}, None


def medication_name(concept: dict[str, Any]) -> str:
    return concept_text(concept).strip()


def strength_mg(concept: dict[str, Any], med: Entry | None) -> float | None:
    if med is not None:
        for ing in med.resource.get("ingredient") or []:
            s = ing.get("strength") or {}
            num, den = s.get("numerator") or {}, s.get("denominator") or {}
            if str(num.get("unit", num.get("code", ""))).lower() == "mg" and num.get("value"):
                return float(num["value"]) / float(den.get("value") or 1)
    for text in [concept.get("text", "")] + [c.get("display", "") for c in codings(concept)]:
        m = _MG.search(str(text or ""))
        if m:
            return float(m.group(1))
    return None


def _days(q: dict[str, Any] | None) -> float | None:
    if not q or q.get("value") is None:
        return None
    unit = str(q.get("code") or q.get("unit") or "d").lower()
    return float(q["value"]) * _DAYS[unit] if unit in _DAYS else None


def _daily_units(order: dict[str, Any], strength: float | None) -> float | None:
    """Tablets a day from the first dosage instruction (dose x frequency per period)."""
    for dosage in order.get("dosageInstruction") or []:
        repeat = ((dosage.get("timing") or {}).get("repeat")) or {}
        per_day = _PER_DAY.get(str(repeat.get("periodUnit") or "d"))
        freq = float(repeat.get("frequency") or 1)
        period = float(repeat.get("period") or 1)
        rates = dosage.get("doseAndRate") or []
        for rate in rates if isinstance(rates, list) else [rates]:
            dose = rate.get("doseQuantity") or {}
            if dose.get("value") is None or per_day is None:
                continue
            unit = str(dose.get("code") or dose.get("unit") or "").lower()
            value = float(dose["value"])
            if unit == "mg":
                if not strength:
                    continue
                value /= strength
            elif unit not in _TABLET_UNITS:
                continue
            return value * freq / period * per_day
    return None


def _order_quantities(order: Entry, strength: float | None) -> tuple[float | None, int | None, str]:
    """(quantity in units, days supply, where a missing value should be sent)."""
    res = order.resource
    dispense = res.get("dispenseRequest") or {}
    qty_q = dispense.get("quantity") or {}
    quantity = float(qty_q["value"]) if qty_q.get("value") is not None else None
    if quantity is not None and str(qty_q.get("code") or qty_q.get("unit") or "").lower() == "mg":
        quantity = quantity / strength if strength else None
    days = _days(dispense.get("expectedSupplyDuration"))
    daily = _daily_units(res, strength)
    if quantity is None and days is not None and daily:
        quantity = daily * days
    if days is None and quantity is not None and daily:
        days = quantity / daily
    supply = round(days) if days is not None and days >= 0.5 else None
    return quantity, supply, f"{order.path}.dispenseRequest"


# --- clinical facts --------------------------------------------------------------------------


def _for_patient(entry: Entry, patient: Entry | None, chart: Chart) -> bool:
    """A resource about another patient than the order's does not describe this one."""
    ref = entry.resource.get("subject") or entry.resource.get("patient")
    if patient is None or not ref:
        return True
    found = chart.resolve(ref)
    if found is not None:
        return found is patient
    # Not in the chart: the patient's own only if the reference names the patient.
    text = str(ref.get("reference", "")) if isinstance(ref, dict) else str(ref)
    tail = "/".join(text.split("/_history/")[0].rstrip("/").split("/")[-2:])
    return tail == patient.key or not text


def _active_condition(res: dict[str, Any]) -> bool:
    verification = {c.get("code") for c in codings(res.get("verificationStatus"))}
    clinical = {c.get("code") for c in codings(res.get("clinicalStatus"))}
    if verification & {"refuted", "entered-in-error"}:
        return False
    return not clinical & {"resolved", "inactive", "remission"}


def histology_in(text: str, kb: Knowledge) -> str | None:
    """The first histology the knowledge table names within free text
    (`Adenocarcinoma of upper lobe of lung` -> adenocarcinoma)."""
    words = "_" + re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") + "_"
    for spelling in sorted(kb.histology_aliases, key=len, reverse=True):
        if f"_{spelling}_" in words:
            return kb.histology_aliases[spelling]
    return None


def extent_in(texts: Iterable[str], concepts: Iterable[dict[str, Any]]) -> str | None:
    for concept in concepts:
        for c in codings(concept):
            if c.get("system") == SNOMED and c.get("code") in SNOMED_EXTENT:
                return SNOMED_EXTENT[c["code"]]
    for text in texts:
        low = text.lower()
        for pattern, extent in _EXTENT_WORDS:
            if pattern.search(low):
                if extent is None:
                    break  # "non-metastatic" says nothing about the rest of the wording
                return extent
    return None


def icd10(concept: dict[str, Any] | None) -> str | None:
    for c in codings(concept):
        if c.get("system") in ICD10 and c.get("code"):
            return str(c["code"])
    return None


def diagnosis_of(entry: Entry, chart: Chart, kb: Knowledge) -> dict[str, Any] | None:
    res = entry.resource
    code = icd10(res.get("code"))
    if code is None:
        return None
    out: dict[str, Any] = {"code": code}
    evidence = [
        chart.resolve(d) for ev in res.get("evidence") or [] for d in ev.get("detail") or []
    ]
    texts = [concept_text(res.get("code"))]
    texts += [concept_text(c) for ev in res.get("evidence") or [] for c in ev.get("code") or []]
    texts += [concept_text(e.resource.get("code")) for e in evidence if e is not None]
    texts += [concept_text(e.resource.get("valueCodeableConcept")) for e in evidence if e]
    for text in texts:
        hist = histology_in(text, kb)
        if hist:
            out["histology"] = hist
            break
    stages = res.get("stage") or []
    extent = extent_in(
        [concept_text(s.get("summary")) for s in stages] + texts,
        [s.get("summary") or {} for s in stages] + [res.get("code") or {}],
    )
    if extent:
        out["extent"] = extent
    return out


def _component_or_self(res: dict[str, Any], loinc: str) -> dict[str, Any] | None:
    if has_code(res.get("code"), loinc):
        return res
    for comp in res.get("component") or []:
        if has_code(comp.get("code"), loinc):
            return dict(comp)
    return None


def _value_words(part: dict[str, Any] | None) -> list[str]:
    if not part:
        return []
    vc = part.get("valueCodeableConcept")
    out = [str(c.get(k)) for c in codings(vc) for k in ("code", "display") if c.get(k)]
    if vc and vc.get("text"):
        out.append(str(vc["text"]))
    if part.get("valueString"):
        out.append(str(part["valueString"]))
    return out


def biomarker_of(entry: Entry, chart: Chart) -> dict[str, Any] | None:
    """A Genomics Reporting variant Observation as a biomarker, or None when it is not one
    (no gene studied) or says neither present nor absent."""
    res = entry.resource
    if res.get("status") in ("entered-in-error", "cancelled", "preliminary", "registered"):
        return None
    gene_part = _component_or_self(res, GENE_STUDIED)
    genes = [w for w in _value_words(gene_part) if not w.upper().startswith("HGNC:")]
    if not genes:
        return None
    value = res.get("valueCodeableConcept")
    if has_code(value, PRESENT):
        result = "positive"
    elif has_code(value, ABSENT):
        result = "negative"
    else:
        said = concept_text(value).lower()
        if said in ("present", "positive", "detected"):
            result = "positive"
        elif said in ("absent", "negative", "not detected"):
            result = "negative"
        else:
            return None
    out: dict[str, Any] = {"gene": genes[-1] if len(genes) > 1 else genes[0], "result": result}
    # Prefer the gene's display (KRAS) to an HGNC number.
    gene_disp = [c.get("display") for c in codings((gene_part or {}).get("valueCodeableConcept"))]
    if gene_disp and gene_disp[0]:
        out["gene"] = str(gene_disp[0])
    for loinc in (AMINO_ACID_CHANGE, DNA_CHANGE):
        words = _value_words(_component_or_self(res, loinc))
        if words:
            m = next((_PROTEIN.search(w) for w in words if _PROTEIN.search(w)), None)
            out["alteration"] = f"p.{m.group(1)}" if m else words[0]
            break
    test = concept_text(res.get("method"))
    if not test and res.get("device"):
        dev = chart.resolve(res["device"])
        test = res["device"].get("display", "")
        if dev is not None:
            names = dev.resource.get("deviceName") or []
            test = next((n.get("name", "") for n in names if n.get("name")), test)
            test = test or concept_text(dev.resource.get("type"))
    if not test:
        for rep in chart.of_type("DiagnosticReport"):
            results = [chart.resolve(r) for r in rep.resource.get("result") or []]
            if any(r is entry for r in results):
                test = concept_text(rep.resource.get("code"))
                break
    if test:
        out["test"] = test
    return out


def _therapy_name(res: dict[str, Any], chart: Chart) -> str:
    if res.get("resourceType") == "Procedure":
        return concept_text(res.get("code")).strip()
    concept = res.get("medicationCodeableConcept")
    if concept:
        return medication_name(concept)
    med = chart.resolve(res.get("medicationReference"))
    if med is not None:
        return medication_name(med.resource.get("code") or {})
    return str((res.get("medicationReference") or {}).get("display", "")).strip()


def therapies(
    chart: Chart, order: Entry, patient: Entry | None, when: dt.date
) -> tuple[list[tuple[str, Entry]] | None, list[tuple[str, Entry]] | None]:
    """(prior, concurrent): prior = ended before the order; concurrent = still active. A list
    is None (unknown) when the chart sends no therapy of that kind."""
    prior: list[tuple[str, Entry]] = []
    concurrent: list[tuple[str, Entry]] = []
    types = ("MedicationStatement", "MedicationAdministration", "MedicationRequest", "Procedure")
    for e in chart.of_type(*types):
        if e is order or not _for_patient(e, patient, chart):
            continue
        res = e.resource
        name = _therapy_name(res, chart)
        if not name:
            continue
        status = res.get("status")
        end = _effective_end(res)
        start = _effective_start(res)
        if status in ("entered-in-error", "not-taken", "not-done", "cancelled", "draft", "unknown"):
            continue
        if status in ("active", "intended", "in-progress", "on-hold") and (
            end is None or end >= when
        ):
            if start is None or start <= when or status == "active":
                concurrent.append((name, e))
        elif status in ("completed", "stopped") and (end is None or end <= when):
            prior.append((name, e))
    return (prior or None), (concurrent or None)


def qr_answers(
    chart: Chart, question_ids: Collection[str] | None
) -> tuple[dict[str, bool], dict[str, str]]:
    """Boolean answers from QuestionnaireResponses whose linkIds are our question ids."""
    answers: dict[str, bool] = {}
    sources: dict[str, str] = {}

    def walk(items: list[dict[str, Any]], entry: Entry) -> None:
        for item in items:
            link = item.get("linkId")
            for ans in item.get("answer") or []:
                value = _boolean(ans)
                if value is not None and link and (question_ids is None or link in question_ids):
                    answers[link] = value
                    sources[f"answers.{link}"] = entry.key
                walk(ans.get("item") or [], entry)
            walk(item.get("item") or [], entry)

    for e in chart.of_type("QuestionnaireResponse"):
        if e.resource.get("status") in ("entered-in-error", "stopped"):
            continue
        walk(e.resource.get("item") or [], e)
    return answers, sources


def _boolean(ans: dict[str, Any]) -> bool | None:
    if isinstance(ans.get("valueBoolean"), bool):
        return bool(ans["valueBoolean"])
    coding = ans.get("valueCoding") or {}
    word = str(coding.get("code") or ans.get("valueString") or "").strip().lower()
    if word in YES:
        return True
    if word in NO:
        return False
    return None


def member_id(coverage: Entry | None) -> str | None:
    if coverage is None:
        return None
    res = coverage.resource
    if res.get("subscriberId"):
        return str(res["subscriberId"])
    ids = res.get("identifier") or []
    for ident in ids:
        if has_code(ident.get("type"), "MB") and ident.get("value"):
            return str(ident["value"])
    return next((str(i["value"]) for i in ids if i.get("value")), None)


def prescriber(chart: Chart, ref: dict[str, Any] | None) -> dict[str, Any] | None:
    who = chart.resolve(ref)
    if who is not None and who.resource.get("resourceType") == "PractitionerRole":
        who = chart.resolve(who.resource.get("practitioner"))
    if who is None:
        return None
    res = who.resource
    out: dict[str, Any] = {}
    for ident in res.get("identifier") or []:
        if ident.get("system") == NPI and re.fullmatch(r"\d{10}", str(ident.get("value", ""))):
            out["npi"] = ident["value"]
    names = res.get("name")
    if isinstance(names, list) and names:
        n = names[0]
        out["name"] = n.get("text") or " ".join([*(n.get("given") or []), n.get("family", "")])
    elif isinstance(names, str):
        out["name"] = names
    return out or None


# --- the whole request -----------------------------------------------------------------------


def patient_of(chart: Chart, order: Entry) -> Entry | None:
    ref = order.resource.get("subject") or order.resource.get("patient")
    found = chart.resolve(ref)
    if ref and found is None:
        raise FhirError(
            f"the order's patient {ref.get('reference')!r} is not in the request",
            f"{order.path}.subject",
            code="not-found",
        )
    return found or chart.first("Patient")


def to_request(
    chart: Chart,
    order: Entry,
    engine: Engine,
    *,
    date_of_service: dt.date | None = None,
    kind: str = "initial",
    urgency: str = "standard",
    coverage: Entry | None = None,
    patient: Entry | None = None,
    diagnosis_codes: list[tuple[str, str]] | None = None,
) -> Mapped:
    """The order and the chart as a request; FhirError names the element that is wrong or
    missing. `diagnosis_codes` are extra ICD-10-CM codes with their location (a Claim's)."""
    kb = engine.kb
    res = order.resource
    if res.get("resourceType") != "MedicationRequest":
        raise FhirError(
            f"the order is a {res.get('resourceType')}; prior authorization here is for "
            "medications (MedicationRequest)",
            order.path,
            code="not-supported",
        )
    patient = patient or patient_of(chart, order)
    if patient is None:
        raise FhirError("no Patient in the request", f"{order.path}.subject", code="required")
    sources: dict[str, str] = {}
    concept, med = medication_concept(chart, order)
    name = medication_name(concept)
    if not name:
        raise FhirError(
            "the medication has neither text nor a coding display to name it",
            f"{order.path}.medicationCodeableConcept",
            code="required",
        )
    versions = policies_for(engine, name)
    # The amount in one unit counted (a pen of 2.4 mg/0.75 mL holds 2.4 mg), from the strength
    # as written when it is a mass; else from the Medication's ingredient or the drug's words.
    written = clinical.strength_text(concept, med.resource if med else None)
    per_unit = units.strength_mg(written) if written else False
    strength = per_unit if type(per_unit) is float else strength_mg(concept, med)
    if strength is None and versions and len(versions[-1].drug.strengths_mg) == 1:
        strength = float(versions[-1].drug.strengths_mg[0])
    sources["medication"] = order.key
    if strength is None:
        raise FhirError(
            f"{name}: no strength in mg (give it in the coding display, the text, or a "
            "Medication's ingredient.strength)",
            f"{order.path}.medicationCodeableConcept",
            code="required",
        )
    quantity, days, where = _order_quantities(order, strength)
    if quantity is None:
        raise FhirError(
            "no quantity: send dispenseRequest.quantity (tablets), or a dose and "
            "expectedSupplyDuration",
            f"{where}.quantity",
            code="required",
        )
    if days is None:
        raise FhirError(
            "no days supply: send dispenseRequest.expectedSupplyDuration (days), or a dose "
            "and frequency in dosageInstruction",
            f"{where}.expectedSupplyDuration",
            code="required",
        )
    when = date_of_service or _order_date(res) or dt.date.today()
    birth = patient.resource.get("birthDate")
    if not birth:
        raise FhirError(
            "Patient.birthDate is missing", f"{patient.path}.birthDate", code="required"
        )
    sources["member.birth_date"] = patient.key
    # Where a contract field's value came from, element by element (`observations[0].unit` ->
    # `Bundle.entry[4].resource.valueQuantity.unit`), for an error that names the element.
    elements: dict[str, str] = {"member.birth_date": f"{patient.path}.birthDate"}
    cov = coverage or chart.first("Coverage")
    mid = member_id(cov) or (
        next(
            (str(i["value"]) for i in patient.resource.get("identifier") or [] if i.get("value")),
            None,
        )
    )
    if not mid:
        raise FhirError(
            "no member id: send Coverage.subscriberId or a Coverage identifier",
            f"{cov.path}.subscriberId" if cov else "Bundle.entry.resource.ofType(Coverage)",
            code="required",
        )
    sources["member.id"] = cov.key if cov and member_id(cov) else patient.key
    body: dict[str, Any] = {
        "kind": kind,
        "date_of_service": when.isoformat(),
        "urgency": urgency,
        "member": {"id": mid, "birth_date": str(birth)[:10]},
        "medication": {
            "name": name,
            "strength_mg": strength,
            "quantity": quantity,
            "days_supply": days,
        },
    }
    _add_medication_form(body["medication"], written, concept, med, res, elements, order.path)
    sex = clinical.member_sex(patient.resource)
    if sex:
        body["member"]["sex"] = sex
        sources["member.sex"] = patient.key
        elements["member.sex"] = f"{patient.path}.gender"
    who = prescriber(chart, res.get("requester"))
    if who:
        body["prescriber"] = who
    # Another payer's authorization, for continuity of care: a Claim's supportingInfo (PAS's
    # Claim, or one a CRD client sends beside the order).
    elsewhere = in_claims([(e.resource, e.path) for e in chart.of_type("Claim")])
    if elsewhere is not None:
        body["prior_authorization"], sources["prior_authorization"] = elsewhere

    diagnoses: list[dict[str, Any]] = []
    for e in chart.of_type("Condition"):
        if not _for_patient(e, patient, chart) or not _active_condition(e.resource):
            continue
        d = diagnosis_of(e, chart, kb)
        if d is not None:
            sev = clinical.severity(e.resource)
            if sev:
                d["severity"] = sev
                elements[f"diagnoses[{len(diagnoses)}].severity"] = f"{e.path}.severity"
            sources[f"diagnoses[{len(diagnoses)}]"] = e.key
            diagnoses.append(d)
    known = {d["code"].replace(".", "").upper() for d in diagnoses}
    for code, where in diagnosis_codes or []:
        if code.replace(".", "").upper() not in known:
            known.add(code.replace(".", "").upper())
            sources[f"diagnoses[{len(diagnoses)}]"] = where
            diagnoses.append({"code": code})
    if diagnoses:
        body["diagnoses"] = diagnoses

    biomarkers: list[dict[str, Any]] = []
    measured: list[clinical.Found] = []
    read: set[str] = set()
    for e in chart.of_type("Observation"):
        if not _for_patient(e, patient, chart):
            continue
        b = biomarker_of(e, chart)
        if b is not None:
            sources[f"biomarkers[{len(biomarkers)}]"] = e.key
            biomarkers.append(b)
        elif clinical.has_numeric_value(e.resource) and e.key not in read:
            # CRD's laboratory and vital-signs queries may both return one Observation.
            read.add(e.key)
            measured += clinical.observations_of(e.key, e.resource, e.path)
    if biomarkers:
        body["biomarkers"] = biomarkers
    for e in chart.of_type("QuestionnaireResponse"):
        if e.resource.get("status") not in ("entered-in-error", "stopped"):
            measured += answered.response_observations(e.key, e.resource, e.path)
    if measured:
        body["observations"] = _numbered(measured, "observations", sources, elements)

    prior, concurrent = therapies(chart, order, patient, when)
    for field_name, found in (("prior_therapies", prior), ("concurrent_therapies", concurrent)):
        if found is not None:
            body[field_name] = [{"drug": n} for n, _ in found]
            for i, (_, e) in enumerate(found):
                sources[f"{field_name}[{i}]"] = e.key
    # A drug taken before is a step-therapy trial when the statement says how it ended.
    trials = [
        clinical.trial_of(e.key, e.resource, n, e.path)
        for n, e in prior or []
        if e.resource.get("resourceType") == "MedicationStatement"
    ]
    trials = [t for t in trials if "outcome" in t.value]
    if trials:
        body["step_therapy"] = _numbered(trials, "step_therapy", sources, elements)

    question_ids = _question_ids(engine, name, kind)
    answers, answer_sources = qr_answers(chart, question_ids)
    if answers:
        body["answers"] = answers
        sources.update(answer_sources)
    try:
        request = parse_request(body)
    except RequestError as exc:
        at = _element_for(exc.field, elements, None) or _element_for(exc.field, sources, chart)
        raise FhirError(f"{exc.field}: {_message(exc)}", at) from None
    return Mapped(request, sources, name)


def _message(exc: RequestError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


def _element_for(field_name: str, sources: dict[str, str], chart: Chart | None) -> str | None:
    """The FHIRPath of what gave a request field: from `sources` (field -> `Type/id`, resolved
    in the chart) or, without a chart, from `elements` (field -> FHIRPath)."""
    best = max((k for k in sources if field_name.startswith(k)), key=len, default=None)
    if best is None:
        return None
    if chart is None:
        return sources[best]
    entry = chart.resolve(sources[best])
    return entry.path if entry is not None else sources[best]


def _numbered(
    found: list[clinical.Found], field_name: str, sources: dict[str, str], elements: dict[str, str]
) -> list[dict[str, Any]]:
    """The values of a request list, each with its resource and its elements recorded."""
    for i, f in enumerate(found):
        sources[f"{field_name}[{i}]"] = f.source
        for part, where in f.elements.items():
            elements[f"{field_name}[{i}].{part}"] = where
    return [f.value for f in found]


def _add_medication_form(
    medication: dict[str, Any],
    strength: str | None,
    concept: dict[str, Any],
    med: Entry | None,
    order: dict[str, Any],
    elements: dict[str, str],
    order_path: str,
) -> None:
    """The strength as written and the dose form, when the order or its Medication says them."""
    where = f"{med.path}.ingredient" if med else f"{order_path}.medicationCodeableConcept"
    if strength:
        medication["strength"] = strength
        elements["medication.strength"] = where
    form = clinical.dose_form(concept, med.resource if med else None, order)
    if form:
        medication["form"] = form
        elements["medication.form"] = f"{med.path}.form" if med else where


def _order_date(res: dict[str, Any]) -> dt.date | None:
    validity = (res.get("dispenseRequest") or {}).get("validityPeriod") or {}
    return _date(validity.get("start")) or _date(res.get("authoredOn"))


def policies_for(engine: Engine, name: str) -> list[Policy]:
    """Every version of the policy for the drug, or none when no policy covers it (an
    ordinary answer here: such a drug needs no authorization from us)."""
    try:
        return engine.versions(name)
    except NoPolicyError:
        return []


_QUESTION_IDS: weakref.WeakKeyDictionary[Engine, dict[tuple[int, ...], frozenset[str]]] = (
    weakref.WeakKeyDictionary()
)


def _question_ids(engine: Engine, name: str, kind: str) -> frozenset[str] | None:
    """Our question ids for the drug's policies (any version), so that another payer's form
    items are ignored rather than refused. Built once a process for each drug's versions (the
    engine's policies never change): by the policies, not the name, so the memory stays
    bounded however many ways a drug is written."""
    versions = policies_for(engine, name)
    if not versions:
        return None
    known = _QUESTION_IDS.setdefault(engine, {})
    key = tuple(id(p) for p in versions)  # the engine holds them: an id is not reused
    ids = known.get(key)
    if ids is None:
        found: set[str] = set()
        for policy in versions:
            for k in ("initial", "renewal"):
                found.update(q.id for q in engine.questions(policy, k))
        ids = known[key] = frozenset(found)
    return ids


def annotate_trace(node: dict[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    """The trace with each fact's FHIR resource beside its request field (`fhir_source`)."""
    facts = []
    for fact in node.get("facts") or []:
        refs = []
        for part in str(fact.get("source", "")).split(", "):
            best = max((k for k in sources if part.startswith(k)), key=len, default=None)
            if best is not None and sources[best] not in refs:
                refs.append(sources[best])
        facts.append({**fact, "fhir_source": ", ".join(refs)} if refs else fact)
    return {
        **node,
        "facts": facts,
        "children": [annotate_trace(c, sources) for c in node.get("children") or []],
    }
