"""The Da Vinci CRD `coverage-information` extension (CRD 2.2), built so that every answer keeps
the profile's rules (constraints crd-ci-q1 to q9 and the element cardinalities): the tests check
each answer against them, one row per constraint key (tests/service/crd_coverage_information.yaml).

What the rules mean for the answers priorauth gives:

- `coverage`, `covered`, `date` and `coverage-assertion-id` are always there. `coverage` must
  reference the EHR's Coverage, so an order whose chart has no Coverage gets no extension at all.
- `not-covered` never carries `pa-needed` (q2): "no authorization needed" would be read as
  "go ahead".
- `satisfied` always carries `satisfied-pa-id` (q5), and only then.
- `questionnaire` only beside `doc-needed` (q1); `doc-purpose` only with a `reason` (q8), and
  `withpa` only when authorization is needed (q4).
- `indeterminate` always carries a `reason` (q9); `conditional` is never used, so `info-needed`
  never either (q3, q6).
- Every `reason` has text (q7), in words a prescriber reads.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from priorauth.fhir.mapping import Chart, Entry

CRD_EXT = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
REASONS = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
"""The CRD coverage-assertion reason codes (value set coverageAssertionReasons)."""
REASON_DISPLAY = {
    "no-active-coverage": "Coverage not active",
    "technical": "Technical issues",
}


@dataclass(frozen=True)
class Assertion:
    """What priorauth asserts about one order under one Coverage."""

    covered: str
    """covered | not-covered | indeterminate"""
    pa_needed: str | None
    """no-auth | auth-needed | satisfied | indeterminate; None when not covered"""
    reason: str
    reason_code: str | None = None
    """a code of REASONS (no-active-coverage, technical), beside the text"""
    questionnaire: str | None = None
    """the DTR Questionnaire to answer: clinical documentation is needed for the request"""
    satisfied_pa_id: str | None = None


def extension(a: Assertion, coverage: Entry, today: dt.date, assertion_id: str) -> dict[str, Any]:
    if a.covered == "not-covered" and a.pa_needed is not None:
        raise ValueError("a not-covered assertion carries no pa-needed (crd-ci-q2)")
    if (a.pa_needed == "satisfied") != (a.satisfied_pa_id is not None):
        raise ValueError("satisfied-pa-id goes with pa-needed satisfied, and only then (crd-ci-q5)")
    parts: list[dict[str, Any]] = [
        {"url": "coverage", "valueReference": {"reference": coverage.key}},
        {"url": "covered", "valueCode": a.covered},
    ]
    if a.pa_needed is not None:
        parts.append({"url": "pa-needed", "valueCode": a.pa_needed})
    if a.questionnaire:
        parts.append({"url": "doc-needed", "valueCode": "clinical"})
        if a.pa_needed == "auth-needed":
            parts.append({"url": "doc-purpose", "valueCode": "withpa"})
    reason: dict[str, Any] = {"text": a.reason[:1000]}
    if a.reason_code:
        reason["coding"] = [
            {"system": REASONS, "code": a.reason_code, "display": REASON_DISPLAY[a.reason_code]}
        ]
    parts.append({"url": "reason", "valueCodeableConcept": reason})
    if a.questionnaire:
        parts.append({"url": "questionnaire", "valueCanonical": a.questionnaire})
    parts.append({"url": "date", "valueDate": today.isoformat()})
    parts.append({"url": "coverage-assertion-id", "valueString": assertion_id})
    if a.satisfied_pa_id is not None:
        parts.append({"url": "satisfied-pa-id", "valueString": a.satisfied_pa_id})
    return {"url": CRD_EXT, "extension": parts}


def with_extension(resource: dict[str, Any], ext: dict[str, Any]) -> dict[str, Any]:
    """The order with this coverage-information, replacing an earlier one for the same Coverage
    (a dispatch after a sign); nothing else in the order changes."""
    ref = _coverage_ref(ext)
    kept = [
        e
        for e in resource.get("extension") or []
        if not (isinstance(e, dict) and e.get("url") == CRD_EXT and _coverage_ref(e) == ref)
    ]
    return {**resource, "extension": [*kept, ext]}


def _coverage_ref(ext: dict[str, Any]) -> str | None:
    for part in ext.get("extension") or []:
        if isinstance(part, dict) and part.get("url") == "coverage":
            ref = (part.get("valueReference") or {}).get("reference")
            return str(ref) if ref else None
    return None


def coverage_of(chart: Chart, today: dt.date) -> tuple[Entry | None, bool]:
    """The Coverage the assertion is about, and whether it is in force on the day the assertion
    is made (an order's own dates are often stale drafts): the first active one, else the first
    one. A Coverage without an id or a fullUrl cannot be referenced, so it does not count."""
    found = [e for e in chart.of_type("Coverage") if _referable(e)]
    for entry in found:
        if _in_force(entry.resource, today):
            return entry, True
    return (found[0], False) if found else (None, False)


def _referable(entry: Entry) -> bool:
    return entry.key.startswith("Coverage/") or "://" in entry.key


def _in_force(coverage: dict[str, Any], when: dt.date) -> bool:
    if coverage.get("status") != "active":
        return False
    given = coverage.get("period")
    period: dict[str, Any] = given if isinstance(given, dict) else {}
    start, end = _day(period.get("start")), _day(period.get("end"))
    return (start is None or start <= when) and (end is None or when <= end)


def _day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None
