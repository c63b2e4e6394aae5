"""Observations read once per request: the kind each one is (by LOINC code or name), its value
in the unit the observations table states it in, and when it was measured."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

from priorauth.policy.observations import load_observations
from priorauth.request import FastObservation, Observation, observed_on


class Obs(NamedTuple):
    """One observation read: its kind, its value in the kind's unit, when it was measured."""

    pos: int
    key: str | None  # None: a LOINC code the tables do not list
    value: float
    day: dt.date | None
    at: dt.datetime | None  # with a time of day


@lru_cache(maxsize=4096)
def read_kind(code: str | None, name: str | None, unit: str | None) -> tuple[str | None, float]:
    kind = load_observations().find(code, name)
    if kind is None:
        return None, 1.0
    return kind.key, kind.factor(unit) or 1.0


def read_observations(given: Sequence[Observation | FastObservation] | None) -> list[Obs] | None:
    if given is None:
        return None
    out = []
    for i, o in enumerate(given):
        key, f = read_kind(o.code, o.name, o.unit)
        when = observed_on(o.date)
        at = when if isinstance(when, dt.datetime) else None
        day = when.date() if isinstance(when, dt.datetime) else when
        out.append(Obs(i, key, o.value * f, day, at))
    return out
