"""A prior authorization from a previous payer, read from a Claim's supportingInfo.

Neither PAS nor CRD defines a supporting-information category for another payer's authorization
(PAS's PASSupportingInfoType has patientEvent, admissionReview, additionalInformation,
freeFormMessage and institutionalEncounter), so the category is named by its own code,
``prior-authorization``, whatever its system; ``additionalInformation`` may sit beside it in the
same category for receivers that only know PAS's codes. The rest uses R4's Claim.supportingInfo
as it is: the number and the payer as the identifier of a logical reference (the previous payer's
ClaimResponse), the drug as the code, the authorization's period as the timing.

    {"sequence": 2,
     "category": {"coding": [{"system": "urn:priorauth:supporting-info",
                              "code": "prior-authorization"}]},
     "code": {"text": "sotorasib"},
     "timingPeriod": {"start": "2026-01-12", "end": "2026-07-11"},
     "valueReference": {"type": "ClaimResponse",
                        "identifier": {"value": "AET-2026-004417",
                                       "assigner": {"display": "aetna-commercial"}}}}
"""

from __future__ import annotations

from typing import Any

from priorauth.fhir.outcome import FhirError

CATEGORY_SYSTEM = "urn:priorauth:supporting-info"
CATEGORY_CODE = "prior-authorization"


def is_prior_authorization(category: Any) -> bool:
    if not isinstance(category, dict):
        return False
    return any(
        isinstance(c, dict) and c.get("code") == CATEGORY_CODE for c in category.get("coding") or []
    )


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for c in concept.get("coding") or []:
        if isinstance(c, dict) and c.get("display"):
            return str(c["display"])
    return ""


def read(info: dict[str, Any], path: str) -> dict[str, Any]:
    """The request's ``prior_authorization`` from one supportingInfo; FhirError names the
    element that is missing."""
    ref = info.get("valueReference") or {}
    identifier = ref.get("identifier") or {}
    number = identifier.get("value") or info.get("valueString")
    if not number:
        raise FhirError(
            "a prior authorization needs its number (valueReference.identifier.value)",
            f"{path}.valueReference.identifier.value",
            code="required",
        )
    payer = (identifier.get("assigner") or {}).get("display")
    if not payer:
        raise FhirError(
            "a prior authorization needs the payer that granted it "
            "(valueReference.identifier.assigner.display)",
            f"{path}.valueReference.identifier.assigner",
            code="required",
        )
    drug = _text(info.get("code"))
    if not drug:
        raise FhirError(
            "a prior authorization needs the drug it authorizes (code.text or a coding's display)",
            f"{path}.code",
            code="required",
        )
    period = info.get("timingPeriod") or {}
    if not period.get("start") or not period.get("end"):
        raise FhirError(
            "a prior authorization needs its period, start and end (timingPeriod)",
            f"{path}.timingPeriod",
            code="required",
        )
    return {
        "payer": str(payer),
        "number": str(number),
        "drug": drug,
        "start": str(period["start"])[:10],
        "end": str(period["end"])[:10],
    }


def in_claims(claims: list[tuple[dict[str, Any], str]]) -> tuple[dict[str, Any], str] | None:
    """The first prior authorization among the Claims' supportingInfo, with its element's
    path; None when no Claim names one."""
    for claim, claim_path in claims:
        for i, info in enumerate(claim.get("supportingInfo") or []):
            if isinstance(info, dict) and is_prior_authorization(info.get("category")):
                path = f"{claim_path}.supportingInfo[{i}]"
                return read(info, path), path
    return None
