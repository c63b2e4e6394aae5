"""A request, normalized once into the facts that conditions read (each with where it came from).

Everything is computed lazily: a plan only pays for the facts its conditions use.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Generic, NamedTuple, TypeVar, overload

from priorauth.engine.observed import Obs, read_observations
from priorauth.policy.tables import DrugInfo, Knowledge, norm, norm_code
from priorauth.request import (
    AnyRequest,
    Biomarker,
    Diagnosis,
    FastBiomarker,
    FastDiagnosis,
    FastTherapy,
    Therapy,
)


class Fact(NamedTuple):
    """One thing the engine read or derived, and the request field it came from (a tuple: the
    trace makes dozens of these a request)."""

    name: str
    value: object
    source: str

    def as_dict(self) -> dict[str, object]:
        return {"fact": self.name, "value": self.value, "source": self.source}


class Dx(NamedTuple):
    pos: int
    code: str  # as written
    family: str
    histology: str | None
    extent: str | None
    extent_source: str
    resectable: bool | None
    severity: str | None = None


class Marker(NamedTuple):
    pos: int
    gene: str
    alteration: str | None  # canonical; None when not given or not readable
    alteration_given: bool
    result: str
    test: str | None
    fda_approved: bool | None


class Rx(NamedTuple):
    pos: int
    written: str
    generics: tuple[str, ...] | None  # None: not recognised


T = TypeVar("T")
_parse_code = lru_cache(maxsize=8192)(norm_code)


class lazy(Generic[T]):
    """Computed on first access, then a plain attribute (functools.cached_property without its
    lock, which costs more than most facts)."""

    def __init__(self, fn: Callable[[Any], T]) -> None:
        self.fn = fn
        self.name = fn.__name__

    @overload
    def __get__(self, obj: None, owner: type) -> lazy[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> T | lazy[T]:
        if obj is None:
            return self
        value = self.fn(obj)
        obj.__dict__[self.name] = value
        return value


def age_in_years(birth: dt.date, on: dt.date) -> int:
    """Completed calendar years, as relativedelta counts them: the birthday itself counts, and
    someone born on February 29 has their birthday on February 28 in other years."""
    day = birth.day
    if birth.month == 2 and day == 29 and not calendar.isleap(on.year):
        day = 28
    return on.year - birth.year - ((on.month, on.day) < (birth.month, day))


class Facts:
    def __init__(self, request: AnyRequest, kb: Knowledge) -> None:
        self.request = request
        self.kb = kb
        self.answers = request.answers or {}

    @lazy
    def age_years(self) -> int:
        r = self.request
        return age_in_years(r.member.birth_date, r.date_of_service)

    @lazy
    def diagnoses(self) -> list[Dx] | None:
        dxs: Sequence[Diagnosis | FastDiagnosis] | None = self.request.diagnoses
        if dxs is None:
            return None
        spread: str | None = None
        spread_src = ""
        parsed = [_parse_code(d.code) for d in dxs]
        extent_codes = self.kb.extent_codes
        for i, code in enumerate(parsed):
            ext = extent_codes.get(code[:3])
            if ext == "metastatic" or (ext and spread is None):
                spread, spread_src = ext, f"diagnoses[{i}].code"
        out = []
        for i, d in enumerate(dxs):
            code = parsed[i]
            extent: str | None
            if d.extent is not None:
                extent, src = d.extent, f"diagnoses[{i}].extent"
            else:
                extent, src = spread, spread_src
            hist = self.kb.histology(d.histology) if d.histology else None
            out.append(Dx(i, d.code, code[:3], hist, extent, src, d.resectable, d.severity))
        return out

    @lazy
    def observations(self) -> list[Obs] | None:
        """Each observation's kind, and its value in the kind's unit."""
        return read_observations(self.request.observations)

    @lazy
    def biomarkers(self) -> list[Marker] | None:
        bms: Sequence[Biomarker | FastBiomarker] | None = self.request.biomarkers
        if bms is None:
            return None
        kb = self.kb
        out = []
        for i, b in enumerate(bms):
            gene = kb.gene(b.gene)
            out.append(
                Marker(
                    i,
                    gene,
                    kb.alteration(gene, b.alteration) if b.alteration else None,
                    b.alteration is not None,
                    b.result,
                    norm(b.test) if b.test else None,
                    b.fda_approved,
                )
            )
        return out

    @lazy
    def prior_drugs(self) -> list[Rx] | None:
        return self._resolve(self.request.prior_therapies)

    @lazy
    def prior_summary(self) -> tuple[int, frozenset[str], frozenset[str], int] | None:
        """Systemic anticancer therapies counted, drug classes and drugs covered, entries not
        recognised."""
        therapies = self.request.prior_therapies
        if therapies is None:
            return None
        systemic = unresolved = 0
        classes: frozenset[str] = frozenset()
        generics: frozenset[str] = frozenset()
        info = self.kb.drug_info
        for t in therapies:
            d = info(t.drug)
            if d is None:
                unresolved += 1
            else:
                systemic += d.systemic_anticancer
                classes |= d.classes
                generics |= frozenset(d.generics)
        return systemic, classes, generics, unresolved

    @lazy
    def concurrent_infos(self) -> list[DrugInfo | None] | None:
        therapies = self.request.concurrent_therapies
        if therapies is None:
            return None
        info = self.kb.drug_info
        return [info(t.drug) for t in therapies]

    @lazy
    def concurrent_drugs(self) -> list[Rx] | None:
        return self._resolve(self.request.concurrent_therapies)

    def _resolve(self, therapies: Sequence[Therapy | FastTherapy] | None) -> list[Rx] | None:
        if therapies is None:
            return None
        resolve = self.kb.resolve_drugs
        return [Rx(i, t.drug, resolve(t.drug)) for i, t in enumerate(therapies)]
