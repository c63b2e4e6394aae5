"""SDC prepopulation of the DTR Questionnaire: FHIRPath `initialExpression`s generated from the
policy's criteria and the knowledge tables, and their evaluation on the resources a client sends.

The Questionnaire names its inputs as SDC does: the `patient` and `order` launch contexts and
`variable`s for the chart (`conditions`, `observations`, `medicationStatements`, each an
`x-fhir-query` a DTR client runs against its EHR). The server evaluates the same expressions with
fhirpathpy, binding each query to the resources of its type the client sent for that patient.

An expression answers only what the chart proves: a criterion is `true` when a resource shows it
(an ICD-10-CM code of the disease's families with a listed histology and extent; a variant
Observation of the gene, present, with the alteration, by a companion test approved for the
disease; prior therapies that are systemic or of the classes named), `false` only when the chart
rules it out (the variant reported absent; another anticancer drug taken alongside a single
agent), and empty otherwise, so the question stays for the provider.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models as fhirpath_models

from priorauth.fhir.mapping import (
    _EXTENT_WORDS,
    ABSENT,
    AMINO_ACID_CHANGE,
    GENE_STUDIED,
    ICD10,
    LOINC,
    PRESENT,
    SNOMED,
    SNOMED_EXTENT,
    Chart,
    Entry,
)
from priorauth.policy.model import (
    AgeCondition,
    BiomarkerCondition,
    ConcurrentTherapyCondition,
    Condition,
    DiagnosisCondition,
    PriorTherapyCondition,
)
from priorauth.policy.tables import (
    Knowledge,
    is_protein_change,
    norm,
    normalize_alteration,
    three_letter_change,
)

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition"
INITIAL = f"{SDC}/sdc-questionnaire-initialExpression"
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
LAUNCH_CONTEXT = f"{SDC}/sdc-questionnaire-launchContext"
FHIRPATH = "text/fhirpath"
FHIR_QUERY = "application/x-fhir-query"
_R4 = fhirpath_models["r4"]

# The chart as SDC variables: the query a DTR client runs, and the type the server binds it to.
QUERIES = {
    "conditions": ("Condition", "Condition?patient={{%patient.id}}"),
    "observations": ("Observation", "Observation?patient={{%patient.id}}"),
    "medicationStatements": ("MedicationStatement", "MedicationStatement?patient={{%patient.id}}"),
}
_THERAPY_NAMES = "medication.ofType(CodeableConcept).select(text | coding.display).first().lower()"
# Therapies by status, as the mapping reads MedicationStatements: prior when finished.
DERIVED = {
    "priorTherapies": "%medicationStatements.where(status = 'completed' or status = 'stopped')"
    f".select({_THERAPY_NAMES})",
    "currentTherapies": f"%medicationStatements.where(status = 'active').select({_THERAPY_NAMES})",
}
_ACTIVE = (
    "clinicalStatus.coding.where(code = 'resolved' or code = 'inactive' or code = 'remission')"
    ".empty() and verificationStatus.coding.where(code = 'refuted' or "
    "code = 'entered-in-error').empty()"
)
_RESULTED = "(status = 'final' or status = 'amended' or status = 'corrected')"


def _string(text: str) -> str:
    """A FHIRPath string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


_SPECIAL = re.compile(r"([.^$*+?()\[\]{}|\\])")


def _alternatives(names: Iterable[str]) -> str:
    """A regular expression matching exactly one of the names (longest first)."""
    escaped = sorted({_SPECIAL.sub(r"\\\1", n) for n in names}, key=lambda s: (-len(s), s))
    return "^(" + "|".join(escaped) + ")$"


def _in(path: str, names: Iterable[str]) -> str:
    """Whether any value at `path`, lower-cased, is one of the names."""
    return f"{path}.where(lower().matches({_string(_alternatives(names))})).exists()"


def _code_is(path: str, system: str, code: str) -> str:
    return f"{path}.where(system = {_string(system)} and code = {_string(code)}).exists()"


def _component(code: str) -> str:
    return f"component.where({_code_is('code.coding', LOINC, code)})"


# --- criteria --------------------------------------------------------------------------------


def criterion_expression(condition: Condition | None, kb: Knowledge, own_drug: str) -> str | None:
    """The FHIRPath that answers a criterion from the chart, or None when no expression can
    (an attestation, a question only the prescriber answers, a rule on progression or dates)."""
    if isinstance(condition, AgeCondition):
        if not condition.years_only:
            return None  # a range or months: not prepopulated (yet), asked
        return f"%patient.birthDate <= today() - {condition.min_years} years"
    if isinstance(condition, DiagnosisCondition):
        return _diagnosis(condition, kb)
    if isinstance(condition, BiomarkerCondition):
        return _biomarker(condition, kb)
    if isinstance(condition, PriorTherapyCondition):
        return _prior(condition, kb)
    if isinstance(condition, ConcurrentTherapyCondition):
        return _concurrent(condition, kb, own_drug)
    return None


def _diagnosis(c: DiagnosisCondition, kb: Knowledge) -> str | None:
    if c.resectable is not None or c.extent_or_unresectable or c.severities is not None:
        return None
    disease = kb.diseases[c.disease]
    starts = sorted(disease.families) + sorted(p.replace(".", "") for p in disease.prefixes)
    code_rx = "^(" + "|".join(starts) + ")"
    systems = " or ".join(f"system = {_string(s)}" for s in ICD10)
    parts = [
        _ACTIVE,
        f"code.coding.where(({systems}) and code.replace('.', '').upper()"
        f".matches({_string(code_rx)})).exists()",
    ]
    words = "(code.text | code.coding.display | evidence.code.text | evidence.code.coding.display)"
    if disease.histologies is not None:
        spellings = [
            k.replace("_", " ") for k, v in kb.histology_aliases.items() if v in disease.histologies
        ]
        escaped = sorted({_SPECIAL.sub(r"\\\1", s) for s in spellings}, key=lambda s: -len(s))
        rx = "(^|[^a-z0-9])(" + "|".join(escaped) + ")([^a-z0-9]|$)"
        parts.append(
            f"{words}.where(lower().replace('-', ' ').replace('_', ' ')"
            f".matches({_string(rx)})).exists()"
        )
    if c.extents:
        wanted = set(c.extents)
        snomed = sorted(code for code, ext in SNOMED_EXTENT.items() if ext in wanted)
        saying = [p.pattern for p, ext in _EXTENT_WORDS if ext in wanted]
        denying = [p.pattern for p, ext in _EXTENT_WORDS if ext is None]
        texts = "(stage.summary.text | stage.summary.coding.display | code.text)"
        options = []
        if snomed:
            coded = " or ".join(f"code = {_string(s)}" for s in snomed)
            options.append(
                f"(stage.summary.coding | code.coding).where(system = {_string(SNOMED)} "
                f"and ({coded})).exists()"
            )
        if saying:
            options.append(
                f"{texts}.where(lower().matches({_string('|'.join(saying))}) and "
                f"lower().matches({_string('|'.join(denying) or '$^')}).not()).exists()"
            )
        if not options:
            return None
        parts.append("(" + " or ".join(options) + ")")
    return f"iif(%conditions.where({' and '.join(parts)}).exists(), true)"


def _biomarker(c: BiomarkerCondition, kb: Knowledge) -> str | None:
    gene = kb.gene(c.gene)
    if gene in kb.gene_parts:
        return None
    names = [alias for alias, g in kb.gene_aliases.items() if g == gene]
    gene_part = _component(GENE_STUDIED) + ".value.ofType(CodeableConcept)"
    of_gene = _in(f"{gene_part}.select(coding.display | text)", names)
    value = "value.ofType(CodeableConcept).coding"
    present = _code_is(value, LOINC, PRESENT)
    absent = _code_is(value, LOINC, ABSENT)
    wanted = [kb.alteration(gene, a) or normalize_alteration(a) for a in c.alterations]
    if not all(is_protein_change(w) for w in wanted):
        return None  # a kind (a fusion, "a mutation"): the engine reads those, not a pattern
    alteration = "true"
    if wanted:
        spellings = set(wanted) | {t for w in wanted if (t := three_letter_change(w))}
        spellings |= {
            s for (g, s), canon in kb.alteration_aliases.items() if g == gene and canon in wanted
        }
        change = _component(AMINO_ACID_CHANGE) + ".value"
        said = (
            f"({change}.ofType(CodeableConcept).select(coding.code | coding.display | text)"
            f" | {change}.ofType(string))"
        )
        alteration = (
            f"{said}.where(upper().replace('P.', '').replace('(', '').replace(')', '')"
            f".replace(' ', '').matches({_string(_alternatives(spellings))})).exists()"
        )
    test = "true"
    if c.fda_approved_test:
        approved = {
            name
            for w in wanted or [alt for (g, alt) in kb.companion_tests if g == gene]
            for name, diseases in kb.companion_tests.get((gene, w), {}).items()
            if c.disease is None or c.disease in diseases
        }
        if not approved:
            return None
        test = _in("(method.text | method.coding.display | device.display)", approved)
    shown = f"{of_gene} and {present} and {alteration} and {test}"
    ruled_out = f"{of_gene} and {absent}"
    if c.result == "negative":
        shown, ruled_out = ruled_out, f"{of_gene} and {present} and {alteration}"
    return (
        f"iif(%observations.where({_RESULTED} and {shown}).exists(), true, "
        f"iif(%observations.where({_RESULTED} and {ruled_out}).exists(), false))"
    )


def _spellings(kb: Knowledge) -> tuple[str, ...]:
    """Every drug and regimen name the tables know, lower-cased."""
    return tuple(sorted(set(kb.drug_aliases) | set(kb.regimens)))


def _names_for(term: str, kb: Knowledge) -> list[str]:
    """The names that count for a drug or a drug class (its brands, regimens that hold it)."""
    generic = kb.drug_aliases.get(norm(term))
    out = []
    for name in _spellings(kb):
        info = kb.drug_info(name)
        if info is None:
            continue
        if (generic in info.generics) if generic else (term in info.classes):
            out.append(name)
    return out


def _systemic(kb: Knowledge, except_drug: str | None = None) -> list[str]:
    out = []
    for name in _spellings(kb):
        info = kb.drug_info(name)
        if info is None or not info.systemic_anticancer:
            continue
        if except_drug is not None and info.generics == (except_drug,):
            continue
        out.append(name)
    return out


def _matches(var: str, names: list[str]) -> str:
    return f"{var}.where(matches({_string(_alternatives(names))})).exists()"


def _prior(c: PriorTherapyCondition, kb: Knowledge) -> str | None:
    rest = (
        c.max_systemic,
        c.progression,
        c.not_progressed_on,
        c.limit_drug,
        c.not_received,
        c.only_in_setting,
    )
    if any(r for r in rest if r is not None and r != []):
        return None
    parts = []
    if c.min_systemic:
        rx = _string(_alternatives(_systemic(kb)))
        parts.append(f"%priorTherapies.where(matches({rx})).count() >= {c.min_systemic}")
    parts += [_matches("%priorTherapies", _names_for(t, kb)) for t in c.all_classes]
    if c.any_classes:
        names = [n for t in c.any_classes for n in _names_for(t, kb)]
        parts.append(_matches("%priorTherapies", names))
    if not parts:
        return None
    return f"iif({' and '.join(parts)}, true)"


def _concurrent(c: ConcurrentTherapyCondition, kb: Knowledge, own_drug: str) -> str | None:
    known = _string(_alternatives(_spellings(kb)))
    all_known = f"%currentTherapies.exists() and %currentTherapies.all(matches({known}))"
    if c.single_agent:
        others = _matches("%currentTherapies", _systemic(kb, except_drug=own_drug))
        return f"iif({others}, false, iif({all_known}, true))"
    if c.with_any:
        names = [n for t in c.with_any for n in _names_for(t, kb)]
        return f"iif({_matches('%currentTherapies', names)}, true)"
    if c.with_all:
        each = " and ".join(_matches("%currentTherapies", _names_for(t, kb)) for t in c.with_all)
        return f"iif({each}, true)"
    if c.none_of:
        names = [n for t in c.none_of for n in _names_for(t, kb)]
        return f"iif({_matches('%currentTherapies', names)}, false, iif({all_known}, true))"
    return None


# --- the chart section -----------------------------------------------------------------------


def _expression(text: str) -> list[dict[str, Any]]:
    return [{"url": INITIAL, "valueExpression": {"language": FHIRPATH, "expression": text}}]


def _data_item(
    link: str, text: str, kind: str, expression: str, repeats: bool = False
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "linkId": link,
        "text": text,
        "type": kind,
        "readOnly": True,
        "extension": _expression(expression),
    }
    if repeats:
        item["repeats"] = True
    return item


def chart_items(genes: list[str], kb: Knowledge) -> dict[str, Any]:
    """The group of what the payer reads from the chart: the patient, the order, diagnoses,
    therapies and the results of the genes the criteria name."""
    medication = "%order.medication.ofType(CodeableConcept)"
    systems = " or ".join(f"system = {_string(s)}" for s in ICD10)
    items = [
        _data_item("chart.birth_date", "Date of birth", "date", "%patient.birthDate"),
        _data_item(
            "chart.medication",
            "Medication requested",
            "string",
            f"({medication}.text | {medication}.coding.display).first()",
        ),
        _data_item("chart.dosage", "Dosage", "string", "%order.dosageInstruction.text.first()"),
        _data_item(
            "chart.quantity", "Quantity", "decimal", "%order.dispenseRequest.quantity.value"
        ),
        _data_item(
            "chart.days_supply",
            "Days supply",
            "integer",
            "%order.dispenseRequest.expectedSupplyDuration.value",
        ),
        _data_item(
            "chart.diagnoses",
            "Diagnoses (ICD-10-CM)",
            "open-choice",
            f"%conditions.where({_ACTIVE}).code.coding.where({systems})",
            repeats=True,
        ),
        _data_item(
            "chart.prior_therapies",
            "Therapies completed or stopped",
            "string",
            "%priorTherapies",
            repeats=True,
        ),
        _data_item(
            "chart.current_therapies",
            "Therapies taken now",
            "string",
            "%currentTherapies",
            repeats=True,
        ),
    ]
    for gene in genes:
        names = [alias for alias, g in kb.gene_aliases.items() if g == gene]
        gene_part = _component(GENE_STUDIED) + ".value.ofType(CodeableConcept)"
        of_gene = (
            f"%observations.where({_RESULTED} and "
            f"{_in(f'{gene_part}.select(coding.display | text)', names)})"
        )
        change = _component(AMINO_ACID_CHANGE) + ".value"
        key = re.sub(r"[^a-z0-9]+", "_", gene.lower())
        items += [
            _data_item(
                f"chart.{key}.result",
                f"{gene} variant",
                "open-choice",
                f"{of_gene}.value.ofType(CodeableConcept).coding.where(system = {_string(LOINC)})",
            ),
            _data_item(
                f"chart.{key}.alteration",
                f"{gene} amino-acid change",
                "string",
                f"{of_gene}.{change}.ofType(CodeableConcept).select(coding.code | text)",
                repeats=True,
            ),
            _data_item(
                f"chart.{key}.test",
                f"{gene} test",
                "string",
                f"{of_gene}.method.select(text | coding.display)",
                repeats=True,
            ),
        ]
    return {"linkId": "chart", "text": "From the chart", "type": "group", "item": items}


def _latest(of_kind: str) -> str:
    """The results among `of_kind` taken last (FHIRPath R4 has no sort: the latest time by
    aggregate, then the results at that time)."""
    times = f"{of_kind}.effective.ofType(dateTime)"
    latest = f"{times}.aggregate(iif($total.empty() or $this > $total, $this, $total))"
    return f"{of_kind}.where(effective.ofType(dateTime) = {latest})"


def observation_group(key: str, name: str, unit: str, loinc: Iterable[str]) -> dict[str, Any]:
    """The items that ask for an observation a criterion needs (`observation.<key>`, key its
    LOINC code, else the table's key): the value with its unit and the date it was measured,
    both prefilled from the latest resulted Observation of its codes, and, read-only, every such
    result of the chart. The provider may change or give them; `$submit` reads them back as
    observations (mapping.py)."""
    codes = " or ".join(f"code = {_string(c)}" for c in loinc)
    of_kind = (
        f"%observations.where({_RESULTED} and "
        f"code.coding.where(system = {_string(LOINC)} and ({codes})).exists())"
        if codes
        else "{}"
    )
    latest = _latest(of_kind)
    listed = (
        f"{of_kind}.select(value.ofType(Quantity).value.toString() + ' ' + "
        "value.ofType(Quantity).unit + ' on ' + effective.ofType(dateTime).toString())"
    )
    value: dict[str, Any] = {
        "linkId": f"observation.{key}.value",
        "text": f"{name}" + (f" (in {unit} or another unit that converts)" if unit else ""),
        "type": "quantity",
        "extension": _expression(f"{latest}.value.ofType(Quantity).first()"),
    }
    when: dict[str, Any] = {
        "linkId": f"observation.{key}.date",
        "text": f"Date {name} was measured",
        "type": "dateTime",
        "extension": _expression(f"{latest}.effective.ofType(dateTime).first()"),
    }
    shown = _data_item(
        f"observation.{key}.chart", f"{name} results in the chart", "string", listed, repeats=True
    )
    return {
        "linkId": f"observation.{key}",
        "text": f"{name}: the value and the date it was measured",
        "type": "group",
        "item": [value, when, shown],
    }


def context_extensions() -> list[dict[str, Any]]:
    """The Questionnaire's launch contexts and variables (SDC), in evaluation order."""
    out: list[dict[str, Any]] = []
    for name, rtype, what in (
        ("patient", "Patient", "The patient"),
        ("order", "MedicationRequest", "The order to be authorized"),
    ):
        system = "http://hl7.org/fhir/uv/sdc/CodeSystem/launchContext"
        coding: dict[str, str] = {"code": name}
        if name == "patient":
            coding["system"] = system
        out.append(
            {
                "url": LAUNCH_CONTEXT,
                "extension": [
                    {"url": "name", "valueCoding": coding},
                    {"url": "type", "valueCode": rtype},
                    {"url": "description", "valueString": what},
                ],
            }
        )
    for name, (_, query) in QUERIES.items():
        out.append(
            {
                "url": VARIABLE,
                "valueExpression": {"name": name, "language": FHIR_QUERY, "expression": query},
            }
        )
    for name, expression in DERIVED.items():
        out.append(
            {
                "url": VARIABLE,
                "valueExpression": {"name": name, "language": FHIRPATH, "expression": expression},
            }
        )
    return out


# --- evaluation ------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def compiled(expression: str) -> Any:
    """The expression parsed once (fhirpathpy parses with ANTLR, the dear part)."""
    return fhirpath_compile(expression, _R4)


def _about(entry: Entry, patient: Entry | None, chart: Chart) -> bool:
    """Whether a resource is about the patient, as `?patient={{%patient.id}}` asks."""
    ref = entry.resource.get("subject") or entry.resource.get("patient")
    if patient is None or not isinstance(ref, dict) or not ref.get("reference"):
        return True
    found = chart.resolve(ref)
    return found is patient if found is not None else False


def environment(chart: Chart, order: Entry | None, patient: Entry | None) -> dict[str, Any]:
    """The launch contexts and variables bound to what the client sent."""
    env: dict[str, Any] = {
        "patient": patient.resource if patient is not None else None,
        "order": order.resource if order is not None else None,
    }
    for name, (rtype, _) in QUERIES.items():
        env[name] = [e.resource for e in chart.of_type(rtype) if _about(e, patient, chart)]
    for name, expression in DERIVED.items():
        env[name] = _evaluate(expression, env)
    return env


def _evaluate(expression: str, env: dict[str, Any]) -> list[Any]:
    # A chart the expression cannot read (a value of an unexpected type) answers nothing,
    # as an SDC form filler leaves such an item empty.
    try:
        out = compiled(expression)({}, dict(env))
    except Exception:
        return []
    return list(out) if isinstance(out, list) else [out]


def _answer(kind: str, value: Any) -> dict[str, Any] | None:
    if kind == "boolean" and isinstance(value, bool):
        return {"valueBoolean": value}
    if kind == "date" and isinstance(value, str):
        return {"valueDate": value[:10]}
    if kind == "dateTime" and isinstance(value, str):
        return {"valueDateTime": value}
    if kind == "quantity" and isinstance(value, dict) and value.get("value") is not None:
        quantity = {k: value[k] for k in ("unit", "system", "code") if value.get(k)}
        return {"valueQuantity": {"value": float(value["value"]), **quantity}}
    if kind == "decimal" and isinstance(value, int | float) and not isinstance(value, bool):
        return {"valueDecimal": value}
    if kind == "integer" and isinstance(value, int | float) and float(value).is_integer():
        return {"valueInteger": int(value)}
    if kind in ("open-choice", "choice") and isinstance(value, dict) and value.get("code"):
        coding = {k: value[k] for k in ("system", "code", "display") if value.get(k)}
        return {"valueCoding": coding}
    if kind in ("string", "text", "open-choice") and isinstance(value, str) and value:
        return {"valueString": value}
    return None


def _leaves(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        if item.get("type") == "group":
            yield from _leaves(item.get("item") or [])
        else:
            yield item


def prefill(questionnaire: dict[str, Any], env: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """linkId -> the answers its initialExpression gives on the chart (items it leaves empty are
    absent)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in _leaves(questionnaire.get("item") or []):
        expression = next(
            (
                e["valueExpression"]["expression"]
                for e in item.get("extension") or []
                if e.get("url") == INITIAL
            ),
            None,
        )
        if expression is None:
            continue
        values = _evaluate(expression, env)
        if item.get("type") == "boolean" and len(values) != 1:
            continue
        answers = [a for v in values if (a := _answer(item["type"], v)) is not None]
        if not item.get("repeats"):
            answers = answers[:1]
        if answers:
            out[item["linkId"]] = answers
    return out
