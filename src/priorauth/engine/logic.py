"""Three-valued (Kleene) logic: True (met), False (not met), None (unknown)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

Status = bool | None

STATUS_NAMES: dict[Status, Literal["met", "not_met", "unknown"]] = {
    True: "met",
    False: "not_met",
    None: "unknown",
}


def k_and(values: Iterable[Status]) -> Status:
    """False if any is False; True if all are True; otherwise unknown."""
    unknown = False
    for v in values:
        if v is False:
            return False
        if v is None:
            unknown = True
    return None if unknown else True


def k_or(values: Iterable[Status]) -> Status:
    """True if any is True; False if all are False; otherwise unknown."""
    unknown = False
    for v in values:
        if v is True:
            return True
        if v is None:
            unknown = True
    return None if unknown else False


def k_unanimous(values: Iterable[Status]) -> Status:
    """An ambiguous group (the document does not say ALL or ONE): True only if all are True,
    False only if all are False, otherwise unknown, so neither reading is overruled."""
    every, none = True, True
    for v in values:
        if v is not True:
            every = False
        if v is not False:
            none = False
        if not every and not none:
            return None
    return True if every else (False if none else None)


def combine(shape: str, values: Iterable[Status]) -> Status:
    """A group's status from its children's, by its shape (all / any / ambiguous)."""
    if shape == "all":
        return k_and(values)
    if shape == "any":
        return k_or(values)
    return k_unanimous(values)
