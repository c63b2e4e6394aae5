"""What a worker's first request would otherwise pay for, paid at start-up instead.

The composition root calls :func:`warm` once the engine is built. A cold worker's first
explanation imported the whole ICD-10-CM code set (simple-icd-10-cm, seconds), its first FHIR
body built fhir.resources' model classes (hundreds of milliseconds), and its first decision of
each policy version compiled nothing but still filled every lazily built table on the way. Here
each policy version and kind decides one representative request, built from the policy itself
(its drug, a listed strength, a code of each disease it names), through the same entry point the
service calls, and reads the determination as the service does (reasons, questions, trace).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any

from priorauth.engine.engine import KINDS, Engine
from priorauth.errors import PriorAuthError
from priorauth.policy.model import DiagnosisCondition, Policy
from priorauth.policy.tables import is_icd10cm_code, load_knowledge

# The FHIR resources the adapters read and write: their model classes are built on first use.
FHIR_RESOURCES = (
    "Bundle",
    "Claim",
    "ClaimResponse",
    "Parameters",
    "Questionnaire",
    "QuestionnaireResponse",
    "OperationOutcome",
    "Patient",
    "Coverage",
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "Practitioner",
    "Organization",
    "Subscription",
)


def representative(engine: Engine, policy: Policy, kind: str) -> dict[str, Any]:
    """A request under ``policy`` of ``kind``, from the policy's own data: its brand, first
    listed strength, and one diagnosis code of each disease its criteria name (so that the
    explanation describes codes), with nothing else known (it pends or is decided early)."""
    strengths = policy.drug.strengths_mg or [1.0]
    codes: list[str] = []
    criteria = getattr(policy.requirements, kind)
    for node in criteria.walk():
        cond = node.condition
        if isinstance(cond, DiagnosisCondition):
            disease = engine.kb.diseases.get(cond.disease)
            if disease is not None and disease.families:
                code = min(disease.families)
                if code not in codes:
                    codes.append(code)
    service = max(policy.effective_date, dt.date(2000, 1, 1))
    request: dict[str, Any] = {
        "kind": kind,
        "date_of_service": service.isoformat(),
        "member": {"id": "warm-up", "birth_date": "1960-01-01"},
        "medication": {
            "name": policy.drug.brand,
            "strength_mg": strengths[0],
            "quantity": 30,
            "days_supply": 30,
        },
        "diagnoses": [{"code": c} for c in codes],
    }
    if policy.plan is not None:
        request["plan"] = policy.plan
    return request


def warm_engine(engine: Engine) -> int:
    """Decide and explain a representative request of every policy version and kind; the
    number decided. A request the engine refuses (a policy that cannot be reached by its brand)
    is skipped: warming must never stop a worker from starting."""
    kb = load_knowledge()
    if kb.families:
        is_icd10cm_code(min(kb.families))  # the code set, which explanations describe codes from
    decided = 0
    for policy in engine.policies:
        for kind in KINDS:
            request = representative(engine, policy, kind)
            try:
                # Both ways the service reads a determination: its JSON bytes, and the dict.
                engine.evaluate(request).to_json(trace=True)
                engine.evaluate(request).model_dump("json")
            except PriorAuthError:
                continue
            decided += 1
    return decided


def warm_fhir(resources: Iterable[str] = FHIR_RESOURCES) -> None:
    """Build fhir.resources' model classes for the resources the FHIR adapter handles."""
    from fhir.resources.R4B import get_fhir_model_class

    for name in resources:
        model = get_fhir_model_class(name)
        model.model_json_schema()


def warm(engine: Engine, fhir: bool = True) -> float:
    """Everything above; the seconds it took (for the start-up log)."""
    started = time.perf_counter()
    warm_engine(engine)
    if fhir:
        warm_fhir()
    return time.perf_counter() - started
