"""Post-service review of gold cards: a random sample of the requests approved under each card
in a period, checked against the policy as if there were no card. A card whose sample meets the
criteria less than 90% of the time is reported to rescind (Texas HB 3459: at least 5 and at
most 20 claims; rescinding stays a reviewer's decision, `priorauth goldcard rescind`).

The sample is random but reproducible: drawn with a generator seeded by the seed, the card and
the period, so a run can be repeated and checked by someone else."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from priorauth.claims.database import _read, database_url
from priorauth.engine.engine import Engine
from priorauth.errors import PriorAuthError
from priorauth.request import parse_request
from priorauth.service.goldcard_models import GoldCard, GoldCardApproval
from priorauth.service.models import Case

SAMPLE_MIN = 5
SAMPLE_MAX = 20
MEETS = 0.9
APPROVED = ("approved", "partially_approved")


@dataclass
class CardSample:
    card_id: int
    npi: str
    drug: str
    claims: int
    sampled: list[str] = field(default_factory=list)
    not_met: list[str] = field(default_factory=list)

    @property
    def met(self) -> int:
        return len(self.sampled) - len(self.not_met)

    @property
    def share(self) -> float | None:
        return round(self.met / len(self.sampled), 4) if self.sampled else None

    @property
    def verdict(self) -> str:
        if self.claims < SAMPLE_MIN:
            return "too few claims"
        assert self.share is not None
        return "rescind" if self.share < MEETS else "keep"

    def as_dict(self) -> dict[str, Any]:
        return {
            "gold_card": self.card_id,
            "npi": self.npi,
            "drug": self.drug,
            "claims": self.claims,
            "sampled": len(self.sampled),
            "met": self.met,
            "share": self.share,
            "verdict": self.verdict,
            "sample": self.sampled,
            "not_met": self.not_met,
        }


def check_size(size: int) -> None:
    if not SAMPLE_MIN <= size <= SAMPLE_MAX:
        raise ValueError(f"--sample-size: {size} is not from {SAMPLE_MIN} to {SAMPLE_MAX}")


def draw(
    case_ids: list[str], size: int, seed: int, card_id: int, period: tuple[dt.date, dt.date]
) -> list[str]:
    """The sample: `size` of the cases (all of them when fewer), the same for the same seed,
    card and period."""
    ordered = sorted(case_ids)
    rng = random.Random(f"{seed}:{card_id}:{period[0]}:{period[1]}")
    return sorted(rng.sample(ordered, min(size, len(ordered))))


def meets_criteria(engine: Engine, request: dict[str, Any], requirements: str) -> bool:
    """Whether the request, as submitted, meets the policy's criteria without the card."""
    try:
        req = parse_request(request).model_copy(update={"kind": requirements})
        return engine.evaluate_model(req).decision in APPROVED
    except PriorAuthError:
        return False


def sample_cards(
    engine: Engine,
    start: dt.date,
    end: dt.date,
    seed: int = 0,
    size: int = SAMPLE_MAX,
    url: str | None = None,
) -> list[CardSample]:
    """Each card with requests approved under it received from `start` to `end` inclusive:
    its sample and how much of it meets the criteria."""
    check_size(size)
    lo = dt.datetime.combine(start, dt.time(), dt.UTC)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    rows = _read(
        database_url(url),
        "gold-card approvals",
        select(GoldCard.id, GoldCard.npi, GoldCard.drug, Case.id, Case.request, Case.determination)
        .join(GoldCardApproval, GoldCardApproval.gold_card_id == GoldCard.id)
        .join(Case, Case.id == GoldCardApproval.case_id)
        .where(Case.received_at >= lo, Case.received_at < hi)
        .order_by(GoldCard.id, Case.id),
    )
    cards: dict[int, CardSample] = {}
    cases: dict[int, dict[str, tuple[dict[str, Any], str]]] = defaultdict(dict)
    for card_id, npi, drug, case_id, request, determination in rows:
        cards.setdefault(card_id, CardSample(card_id, npi, drug, 0))
        cases[card_id][case_id] = (request, determination["policy"]["requirements"])
    for card_id, sample in cards.items():
        pool = cases[card_id]
        sample.claims = len(pool)
        if sample.claims < SAMPLE_MIN:
            continue
        sample.sampled = draw(list(pool), size, seed, card_id, (start, end))
        sample.not_met = [c for c in sample.sampled if not meets_criteria(engine, *pool[c])]
    return list(cards.values())
