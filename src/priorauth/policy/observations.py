"""The observations table (``knowledge/observations.yaml``): what a lab result, vital sign, score
or count is, by LOINC code or by name, the unit policies state it in, and its molar mass."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import yaml

from priorauth.errors import PolicyError
from priorauth.policy import units

_SPACES = re.compile(r"[\s_]+")


def name_key(text: str) -> str:
    """Case, spacing, hyphens and a trailing "level" or "value" do not change what a name means
    ("LDL-C", "ldl c", "LDL-C level")."""
    key = _SPACES.sub(" ", text.replace("-", " ")).strip().lower()
    return re.sub(r"\s+(?:level|value|result)s?$", "", key)


@dataclass(frozen=True)
class ObservationKind:
    key: str
    name: str
    loinc: tuple[str, ...]
    unit: str  # the unit policies compare in; "" for a score
    molar_mass: float | None

    def factor(self, written: str | None) -> float | None:
        """What a value in ``written`` is multiplied by to be in this observation's unit; None
        when it does not convert. No unit is only right for a score or a count."""
        if written is None or not written.strip():
            return 1.0 if units.factor(self.unit or "", "") == 1.0 else None
        return units.factor(written, self.unit, self.molar_mass)


@dataclass(frozen=True)
class ObservationTable:
    kinds: dict[str, ObservationKind]
    by_code: dict[str, str]
    by_name: dict[str, str]

    def kind(self, key: str) -> ObservationKind:
        return self.kinds[key]

    def find(self, code: str | None, name: str | None) -> ObservationKind | None:
        """The observation a request names, by its LOINC code first, else by its name."""
        if code is not None and code.strip() in self.by_code:
            return self.kinds[self.by_code[code.strip()]]
        if name is not None:
            key = self.by_name.get(name_key(name))
            if key is not None:
                return self.kinds[key]
        return None

    def key_of(self, text: str) -> str | None:
        """A policy's or document's name of an observation (a key, a name or a LOINC code)."""
        if text in self.kinds:
            return text
        found = self.find(text, text)
        return found.key if found else None


@cache
def load_observations() -> ObservationTable:
    where = "knowledge/observations.yaml"
    path = resources.files("priorauth.policy") / "knowledge" / "observations.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    kinds: dict[str, ObservationKind] = {}
    by_code: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for key, entry in data["observations"].items():
        unit = str(entry.get("unit") or "")
        if units.parse_unit(unit or "") is None:
            raise PolicyError(where, f"observations.{key}.unit", f"cannot read unit {unit!r}")
        kind = ObservationKind(
            key=key,
            name=entry["name"],
            loinc=tuple(entry.get("loinc", [])),
            unit=unit,
            molar_mass=entry.get("molar_mass"),
        )
        kinds[key] = kind
        for code in kind.loinc:
            if code in by_code:
                raise PolicyError(where, f"observations.{key}.loinc", f"{code} listed twice")
            by_code[code] = key
        for name in [key, kind.name, *entry.get("names", [])]:
            k = name_key(name)
            if by_name.get(k, key) != key:
                raise PolicyError(where, f"observations.{key}.names", f"{name!r} listed twice")
            by_name[k] = key
    return ObservationTable(kinds, by_code, by_name)


LOINC = re.compile(r"\d{1,7}-\d")


@lru_cache(maxsize=4096)
def observation_problem(code: str | None, name: str | None, unit: str | None) -> str | None:
    """What is wrong with an observation's code, name and unit as ``field: problem`` relative to
    the observation, or None when nothing is."""
    if code is None and name is None:
        return "code: give the LOINC code or the name (e.g. BMI, LDL-C)"
    if code is not None and not LOINC.fullmatch(code):
        return "code: not a LOINC code (expected e.g. 39156-5)"
    table = load_observations()
    kind = table.find(code, None) if code is not None else None
    named = table.find(None, name) if name is not None else None
    if kind is not None and named is not None and named.key != kind.key:
        return f"name: {name} is not what LOINC {code} reports ({kind.name})"
    kind = kind or named
    if kind is None:
        if code is None:
            return (
                f"name: {name!r} is not an observation the tables know (e.g. BMI, LDL-C, "
                "HbA1c, blood eosinophils); give its LOINC code"
            )
        if unit is not None and units.parse_unit(unit) is None:
            return f"unit: cannot read {unit!r} as a unit"
        return None
    if kind.factor(unit) is None:
        if unit is None or not unit.strip():
            return f"unit: required for {kind.name} (e.g. {kind.unit})"
        return f"unit: {unit!r} does not convert to {kind.unit or 'a score'} ({kind.name})"
    return None
