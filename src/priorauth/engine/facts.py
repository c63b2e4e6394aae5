"""A request, normalized once into the facts that conditions read (each with where it came from).

Everything is computed lazily: a plan only pays for the facts its conditions use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from dateutil.relativedelta import relativedelta

from priorauth.policy.tables import Knowledge, norm, norm_code, normalize_alteration
from priorauth.request import Request, Therapy


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing the engine read or derived, and the request field it came from."""

    name: str
    value: object
    source: str

    def as_dict(self) -> dict[str, object]:
        return {"fact": self.name, "value": self.value, "source": self.source}


@dataclass(frozen=True, slots=True)
class Dx:
    index: int
    code: str  # as written
    family: str
    histology: str | None
    extent: str | None
    extent_source: str


@dataclass(frozen=True, slots=True)
class Marker:
    index: int
    gene: str
    alteration: str | None
    result: str
    test: str | None
    fda_approved: bool | None


@dataclass(frozen=True, slots=True)
class Rx:
    index: int
    written: str
    generics: tuple[str, ...] | None  # None: not recognised


class Facts:
    def __init__(self, request: Request, kb: Knowledge) -> None:
        self.request = request
        self.kb = kb
        self.answers = request.answers or {}

    @cached_property
    def age_years(self) -> int:
        r = self.request
        return relativedelta(r.date_of_service, r.member.birth_date).years

    @cached_property
    def diagnoses(self) -> list[Dx] | None:
        dxs = self.request.diagnoses
        if dxs is None:
            return None
        spread: str | None = None
        spread_src = ""
        for i, d in enumerate(dxs):
            ext = self.kb.extent_codes.get(norm_code(d.code)[:3])
            if ext == "metastatic" or (ext and spread is None):
                spread, spread_src = ext, f"diagnoses[{i}].code"
        out = []
        for i, d in enumerate(dxs):
            code = norm_code(d.code)
            extent: str | None
            if d.extent is not None:
                extent, src = d.extent, f"diagnoses[{i}].extent"
            else:
                extent, src = spread, spread_src
            hist = self.kb.histology(d.histology) if d.histology else None
            out.append(Dx(i, d.code, code[:3], hist, extent, src))
        return out

    @cached_property
    def biomarkers(self) -> list[Marker] | None:
        bms = self.request.biomarkers
        if bms is None:
            return None
        kb = self.kb
        return [
            Marker(
                i,
                kb.gene(b.gene),
                normalize_alteration(b.alteration) if b.alteration else None,
                b.result,
                norm(b.test) if b.test else None,
                b.fda_approved,
            )
            for i, b in enumerate(bms)
        ]

    @cached_property
    def prior_drugs(self) -> list[Rx] | None:
        return self._resolve(self.request.prior_therapies)

    @cached_property
    def concurrent_drugs(self) -> list[Rx] | None:
        return self._resolve(self.request.concurrent_therapies)

    def _resolve(self, therapies: list[Therapy] | None) -> list[Rx] | None:
        if therapies is None:
            return None
        resolve = self.kb.resolve_drugs
        return [Rx(i, t.drug, resolve(t.drug)) for i, t in enumerate(therapies)]
