"""The observations a criterion compares, as the adapters ask for them: the DTR form's
observation groups and the workbench's answer form both offer a value, unit and date for each."""

from __future__ import annotations

from priorauth.policy.model import BmiCondition, Condition, DoseLimitCondition, ObservationCondition
from priorauth.policy.observations import load_observations


def observations_compared(condition: Condition | None) -> list[str]:
    """Keys of the observations table a condition reads: an observation condition's own; for a
    BMI, the BMI and the body weight and height it may be worked out from; for a dose per kg,
    the body weight."""
    table = load_observations()
    named: list[str | None] = []
    if isinstance(condition, ObservationCondition):
        named = [table.key_of(condition.observation)]
    elif isinstance(condition, BmiCondition):
        named = ["bmi", "body_weight", "body_height"]
    elif isinstance(condition, DoseLimitCondition) and (
        condition.max_mg_per_kg_per_day or condition.max_mg_per_kg_per_week
    ):
        named = ["body_weight"]
    return [k for k in named if k is not None and k in table.kinds]
