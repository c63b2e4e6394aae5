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
