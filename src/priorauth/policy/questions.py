"""The question a pend asks for a criterion: the policy's wording, asked, with what to send.

Generated from the condition type so that a hand-curated and an imported policy ask the same
thing in the same words; a policy file may still give its own ``question``.
"""

from __future__ import annotations

from priorauth.policy.model import (
    AttestationCondition,
    Criterion,
    ObservationCondition,
    StepTherapyCondition,
)
from priorauth.policy.observations import load_observations

_HINTS = {
    "age": "",
    "diagnosis": " Give the ICD-10-CM code, the histology and the extent.",
    "biomarker": " Give the gene, the alteration, the result and the test used.",
    "prior_therapy": " List the prior therapies.",
    "concurrent_therapy": " List every therapy to be used at the same time.",
    "attestation": "",
    "setting": " List the prior therapies (surgery included) and the extent of disease.",
    "disease_status": " Give the disease status.",
    "prescriber_specialty": " Give the prescriber's specialty (prescriber.specialty).",
    "step_therapy": " List the drugs tried before and how each ended (step_therapy).",
    "continuation": " Say whether the member already receives the drug (continuation).",
    "bmi": " Give the BMI and the date it was measured (or the body weight and height), and the "
    "diagnoses.",
    "sex": " Give the member's sex (member.sex).",
    "dose_limit": " Give the body weight and the date it was measured.",
    "question": "",
}


def question_text(node: Criterion) -> str:
    if node.question:
        return node.question
    text = node.text.rstrip(". ")
    kind = node.condition.type if node.condition is not None else "question"
    if kind == "age":
        return f"Is the patient {text[0].lower()}{text[1:]}?"
    if kind == "diagnosis":
        return f"Does the patient have {text[0].lower()}{text[1:]}?{_HINTS[kind]}"
    if isinstance(node.condition, ObservationCondition):
        return f"Does this hold: {text}? {observation_hint(node.condition)}"
    if isinstance(node.condition, StepTherapyCondition) and not node.condition.plain:
        return (
            f"Does this hold: {text}? List the drugs tried before, how each ended, how many days "
            "each was tried and at what daily dose (step_therapy)."
        )
    if isinstance(node.condition, AttestationCondition):
        return f"Does this hold: {text}? Send it as attestations.{node.condition.key}."
    return f"Does this hold: {text}?{_HINTS.get(kind, '')}"


def observation_hint(c: ObservationCondition) -> str:
    """What to send for an observation criterion, naming the observation."""
    table = load_observations()
    key = table.key_of(c.observation)
    name = table.kind(key).name if key else c.observation
    if c.change is not None:
        return f"Give the {name} values at baseline and now, each with the date it was measured."
    when = "the date and time" if c.morning else "the date"
    if c.count > 1:
        return f"Give each {name} value and {when} it was measured."
    return f"Give the {name} and {when} it was measured."
