"""What the post-service review takes from the policies: which drug names a policy covers, the
version in force on each date, its quantity limit and its pre-PA allowance.

The names are read the way the engine reads them (``Engine.versions``: brand, generic, a policy
number, or a name containing one of them), once per distinct name, never once per claim.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from priorauth.engine.engine import Engine
from priorauth.errors import NoPolicyError
from priorauth.policy.model import Limits, Policy, QuantityLimit
from priorauth.policy.tables import norm

# A date after every fill: the end of the latest version's period.
OPEN_END = dt.date(9999, 12, 31)

_ALLOWANCE = re.compile(
    r"(?P<amount>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>mg|milligrams?|tablets?|capsules?|tabs?|caps?)\s*"
    r"(?:per|/|every|a|each)\s*(?:(?P<days>\d+)\s*)?(?P<span>days?|weeks?|months?)",
    re.I,
)


@dataclass(frozen=True)
class Rate:
    """A quantity per period: in mg, or in units (tablets, capsules) the strength makes mg."""

    amount: float
    per_days: int
    in_mg: bool
    text: str

    def mg_per_day(self, strength_mg: float) -> float:
        per = self.amount if self.in_mg else self.amount * strength_mg
        return per / self.per_days


@dataclass(frozen=True)
class Version:
    """One policy version as the review applies it, in force from ``start`` until ``until``
    (exclusive)."""

    policy: Policy
    drug_key: str
    start: dt.date
    until: dt.date
    limit: Rate | None
    strength_limits: dict[float, tuple[float, str]]  # strength -> (mg per day, wording)
    allowance: Rate | None
    allowance_unread: bool

    @property
    def label(self) -> str:
        p = self.policy
        return f"{p.number} {p.title} (effective {p.effective_date})"

    @property
    def post_service(self) -> bool:
        return "post_service" in self.policy.applies_to


@dataclass
class Rules:
    """The drug names seen, mapped to the policies that cover them, and those policies' versions."""

    names: dict[str, str] = field(default_factory=dict)  # name as written -> drug key
    versions: list[Version] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def drug_rows(self) -> list[tuple[str, str]]:
        return sorted(self.names.items())

    def version_rows(self) -> list[dict[str, object]]:
        rows = []
        for v in self.versions:
            rows.append(
                {
                    "drug_key": v.drug_key,
                    "v_start": v.start,
                    "v_until": v.until,
                    "post_service": v.post_service,
                    "policy_label": v.label,
                    "drug_label": f"{v.policy.drug.brand} ({v.policy.drug.generic})",
                    "limit_amount": v.limit.amount if v.limit else None,
                    "limit_per_days": float(v.limit.per_days) if v.limit else None,
                    "limit_in_mg": v.limit.in_mg if v.limit else None,
                    "limit_text": v.limit.text if v.limit else None,
                    "allow_amount": v.allowance.amount if v.allowance else None,
                    "allow_per_days": float(v.allowance.per_days) if v.allowance else None,
                    "allow_in_mg": v.allowance.in_mg if v.allowance else None,
                    "allow_text": v.policy.pre_pa_allowance_text,
                }
            )
        return rows

    def strength_rows(self) -> list[dict[str, object]]:
        return [
            {
                "drug_key": v.drug_key,
                "v_start": v.start,
                "s_strength": s,
                "s_limit_mg": mg,
                "s_text": text,
            }
            for v in self.versions
            for s, (mg, text) in sorted(v.strength_limits.items())
        ]


def _rate(q: QuantityLimit) -> Rate:
    return Rate(q.amount, q.per_days, q.unit == "mg", q.text)


def _larger(a: Rate | None, b: Rate | None) -> Rate | None:
    """Initial and renewal limits normally agree; a claim does not say which authorization kind
    it was filled under, so where they differ the larger one is the limit (never a false flag)."""
    if a is None or b is None or a == b:
        return a or b
    if a.in_mg == b.in_mg:
        return a if a.amount / a.per_days >= b.amount / b.per_days else b
    return a  # mg against tablets: no common scale without a strength; keep the initial limit


def policy_limits(policy: Policy) -> tuple[Rate | None, dict[float, tuple[float, str]]]:
    initial, renewal = policy.limits.initial, policy.limits.renewal
    base = _larger(
        _rate(initial.quantity) if initial.quantity else None,
        _rate(renewal.quantity) if renewal.quantity else None,
    )
    strengths = {q.strength_mg for lim in (initial, renewal) for q in lim.quantity_by_strength}
    per_strength: dict[float, tuple[float, str]] = {}
    for s in sorted(x for x in strengths if x is not None):
        known = [m for m in (_mg(lim, s) for lim in (initial, renewal)) if m is not None]
        if known:
            per_strength[s] = max(known)
    return base, per_strength


def _mg(limits: Limits, strength: float) -> tuple[float, str] | None:
    q = limits.quantity_for(strength)
    return (_rate(q).mg_per_day(strength), q.text) if q else None


def read_allowance(text: str | None) -> Rate | None:
    """``Quantity 120 tablets per 30 days`` as a rate; None when the text gives no quantity."""
    if not text:
        return None
    m = _ALLOWANCE.search(text)
    if not m:
        return None
    days = int(m.group("days") or 1)
    span = m.group("span").lower()
    days *= 7 if span.startswith("week") else 30 if span.startswith("month") else 1
    unit = m.group("unit").lower()
    return Rate(float(m.group("amount").replace(",", "")), days, unit.startswith("m"), text)


def drug_key(policy: Policy) -> str:
    return norm(policy.drug.generic)


def build_rules(engine: Engine, names: Iterable[str]) -> Rules:
    """Map each distinct drug name to the policy that covers it, and list that policy's
    versions with the period each is in force."""
    rules = Rules()
    seen: set[str] = set()
    for name in names:
        if name is None or not str(name).strip():
            continue
        try:
            versions = engine.versions(str(name))
        except NoPolicyError:
            continue
        key = drug_key(versions[0])
        rules.names[str(name)] = key
        if key in seen:
            continue
        seen.add(key)
        ordered = sorted(versions, key=lambda p: p.effective_date)
        for i, p in enumerate(ordered):
            until = ordered[i + 1].effective_date if i + 1 < len(ordered) else OPEN_END
            limit, per_strength = policy_limits(p)
            allowance = read_allowance(p.pre_pa_allowance)
            unread = p.pre_pa_allowance is not None and allowance is None
            if unread:
                rules.warnings.append(
                    f"policy {p.number} ({p.effective_date}): pre-PA allowance "
                    f"{p.pre_pa_allowance!r} gives no quantity; fills without an authorization "
                    "are flagged as if there were no allowance"
                )
            rules.versions.append(
                Version(p, key, p.effective_date, until, limit, per_strength, allowance, unread)
            )
    return rules
