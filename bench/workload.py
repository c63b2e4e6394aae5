"""Deterministic mixed Lumakras (FEP 5.21.177) workload for the benchmark.

Every scenario builds one request dict in the engine's request contract and names the branch of
the policy it is meant to reach.  The scenario weights aim at roughly 35 % approved, 10 % partially
approved, 30 % denied and 25 % pended, with about a fifth of the requests being renewals.

For lists, an absent key means "unknown" and ``[]`` means "none".
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

Request = dict[str, Any]

FIRST_SERVICE_DAY = date(2026, 4, 1)
LAST_SERVICE_DAY = date(2027, 12, 31)

NSCLC_CODES = [
    "C34.00",
    "C34.01",
    "C34.02",
    "C34.10",
    "C34.11",
    "C34.12",
    "C34.2",
    "C34.30",
    "C34.31",
    "C34.32",
    "C34.80",
    "C34.81",
    "C34.82",
    "C34.90",
    "C34.91",
    "C34.92",
]
NSCLC_HISTOLOGIES = ["adenocarcinoma", "squamous_cell", "large_cell", "non_small_cell"]
NSCLC_EXTENTS = ["locally_advanced", "metastatic"]
CRC_CODES = [
    "C18.0",
    "C18.2",
    "C18.3",
    "C18.4",
    "C18.5",
    "C18.6",
    "C18.7",
    "C18.8",
    "C18.9",
    "C19",
    "C20",
]
SECONDARY_CODES = ["C78.00", "C78.01", "C78.6", "C78.7", "C79.31", "C79.51"]

NSCLC_PRIOR_DRUGS = [
    "carboplatin",
    "cisplatin",
    "pemetrexed",
    "pembrolizumab",
    "docetaxel",
    "gemcitabine",
    "paclitaxel",
    "nivolumab",
    "atezolizumab",
    "durvalumab",
]
# Each option covers fluoropyrimidine, oxaliplatin and irinotecan.
CRC_FULL_CHEMO = [
    ["FOLFOXIRI"],
    ["FOLFOX", "FOLFIRI"],
    ["CAPOX", "FOLFIRI"],
    ["XELOX", "irinotecan"],
    ["FOLFOX", "irinotecan"],
    ["capecitabine", "oxaliplatin", "irinotecan"],
    ["fluorouracil", "leucovorin", "oxaliplatin", "irinotecan"],
    ["CAPIRI", "oxaliplatin"],
    ["XELIRI", "FOLFOX"],
]
# Each option misses at least one of the three classes.
CRC_PARTIAL_CHEMO = [
    ["FOLFOX"],  # no irinotecan
    ["CAPOX"],  # no irinotecan
    ["FOLFIRI"],  # no oxaliplatin
    ["XELIRI"],  # no oxaliplatin
    ["oxaliplatin", "irinotecan"],  # no fluoropyrimidine
    ["capecitabine"],  # no oxaliplatin, no irinotecan
]
NSCLC_COMBINATION_DRUGS = ["pembrolizumab", "carboplatin", "panitumumab", "docetaxel"]
CRC_NON_PANITUMUMAB = ["bevacizumab", "cetuximab", "trifluridine/tipiracil"]

# (strength_mg, quantity, days_supply) at or under 960 mg/day ...
WITHIN_LIMIT_DOSES = [
    (120, 240, 30),
    (320, 90, 30),
    (240, 120, 30),
    (120, 224, 28),
    (120, 180, 30),
    (240, 60, 30),
    (320, 84, 28),
]
# ... and over it.
OVER_LIMIT_DOSES = [(320, 120, 30), (120, 300, 30), (240, 150, 30), (320, 112, 28)]

THERASCREEN = "therascreen KRAS RGQ PCR Kit"
GUARDANT = "Guardant360 CDx"


@dataclass
class Workload:
    labels: list[str]
    requests: list[Request]
    raw: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.requests)


# ---------------------------------------------------------------------------------------------
# building blocks


def _service_day(rng: random.Random) -> date:
    span = (LAST_SERVICE_DAY - FIRST_SERVICE_DAY).days
    return FIRST_SERVICE_DAY + timedelta(days=rng.randint(0, span))


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year - years, day=28)


def _adult_birth(rng: random.Random, dos: date) -> date:
    roll = rng.random()
    if roll < 0.03:
        return _years_before(dos, 18)  # 18th birthday on the date of service: an adult
    if roll < 0.05:
        return _years_before(dos, 18) - timedelta(days=1)
    return _years_before(dos, rng.randint(25, 88)) - timedelta(days=rng.randint(0, 364))


def _minor_birth(rng: random.Random, dos: date) -> date:
    if rng.random() < 0.3:
        return _years_before(dos, 18) + timedelta(days=1)  # turns 18 tomorrow
    return _years_before(dos, rng.randint(12, 17)) - timedelta(days=rng.randint(0, 300))


def _kras(rng: random.Random, *, test: str | None = None, result: str = "positive") -> dict:
    marker: dict[str, Any] = {
        "gene": "KRAS",
        "alteration": rng.choice(["G12C", "G12C", "p.G12C"]),
        "result": result,
        "test": test or THERASCREEN,
    }
    if rng.random() < 0.7:
        marker["fda_approved"] = True
    return marker


def _noise_markers(rng: random.Random) -> list[dict]:
    if rng.random() < 0.25:
        return [
            {
                "gene": "EGFR",
                "alteration": "exon 19 deletion",
                "result": "negative",
                "test": "cobas EGFR Mutation Test v2",
                "fda_approved": True,
            }
        ]
    return []


def _base(rng: random.Random, i: int, kind: str, dose: tuple[int, int, int]) -> Request:
    dos = _service_day(rng)
    strength, quantity, days = dose
    req: Request = {
        "kind": kind,
        "date_of_service": dos.isoformat(),
        "member": {"id": f"M-{1000 + i}", "birth_date": _adult_birth(rng, dos).isoformat()},
        "medication": {
            "name": rng.choice(["Lumakras", "Lumakras", "sotorasib"]),
            "strength_mg": strength,
            "quantity": quantity,
            "days_supply": days,
        },
    }
    if rng.random() < 0.7:
        req["urgency"] = "standard"
    return req


def _nsclc_dx(rng: random.Random) -> list[dict]:
    return [
        {
            "code": rng.choice(NSCLC_CODES),
            "histology": rng.choice(NSCLC_HISTOLOGIES),
            "extent": rng.choice(NSCLC_EXTENTS),
        }
    ]


def _crc_dx(rng: random.Random) -> list[dict]:
    primary = {"code": rng.choice(CRC_CODES), "histology": "adenocarcinoma"}
    if rng.random() < 0.2:
        # extent left out, but a secondary-neoplasm code says the disease is metastatic
        return [primary, {"code": rng.choice(SECONDARY_CODES)}]
    primary["extent"] = "metastatic"
    return [primary]


def _nsclc_initial(rng: random.Random, i: int, dose: tuple[int, int, int]) -> Request:
    req = _base(rng, i, "initial", dose)
    test = rng.choice([THERASCREEN, GUARDANT])
    req.update(
        diagnoses=_nsclc_dx(rng),
        biomarkers=[_kras(rng, test=test), *_noise_markers(rng)],
        prior_therapies=[{"drug": d} for d in rng.sample(NSCLC_PRIOR_DRUGS, rng.randint(1, 3))],
        concurrent_therapies=[],
        attestations={"liver_function_monitoring": True},
    )
    return req


def _crc_initial(rng: random.Random, i: int, dose: tuple[int, int, int]) -> Request:
    req = _base(rng, i, "initial", dose)
    req.update(
        diagnoses=_crc_dx(rng),
        biomarkers=[_kras(rng, test=THERASCREEN), *_noise_markers(rng)],
        prior_therapies=[{"drug": d} for d in rng.choice(CRC_FULL_CHEMO)],
        concurrent_therapies=[{"drug": rng.choice(["panitumumab", "Vectibix"])}],
        attestations={"liver_function_monitoring": True},
    )
    return req


def _renewal(rng: random.Random, i: int, dose: tuple[int, int, int]) -> Request:
    req = _base(rng, i, "renewal", dose)
    req.update(
        diagnoses=_nsclc_dx(rng) if rng.random() < 0.6 else _crc_dx(rng),
        disease_status={"progression": False, "unacceptable_toxicity": False},
        attestations={"liver_function_monitoring": True},
    )
    return req


def _within(rng: random.Random) -> tuple[int, int, int]:
    return rng.choice(WITHIN_LIMIT_DOSES)


def _over(rng: random.Random) -> tuple[int, int, int]:
    return rng.choice(OVER_LIMIT_DOSES)


# ---------------------------------------------------------------------------------------------
# scenarios: name -> builder; each one reaches one branch of the policy


def s_nsclc_approve(rng: random.Random, i: int) -> Request:
    return _nsclc_initial(rng, i, _within(rng))


def s_crc_approve(rng: random.Random, i: int) -> Request:
    return _crc_initial(rng, i, _within(rng))


def s_renewal_approve(rng: random.Random, i: int) -> Request:
    return _renewal(rng, i, _within(rng))


def s_nsclc_partial(rng: random.Random, i: int) -> Request:
    return _nsclc_initial(rng, i, _over(rng))


def s_crc_partial(rng: random.Random, i: int) -> Request:
    return _crc_initial(rng, i, _over(rng))


def s_renewal_partial(rng: random.Random, i: int) -> Request:
    return _renewal(rng, i, _over(rng))


def s_deny_melanoma(rng: random.Random, i: int) -> Request:
    req = _nsclc_initial(rng, i, _within(rng))
    req["diagnoses"] = [{"code": "C43.9", "histology": "melanoma", "extent": "metastatic"}]
    req["prior_therapies"] = [{"drug": "nivolumab"}]
    return req


def s_deny_small_cell(rng: random.Random, i: int) -> Request:
    req = _nsclc_initial(rng, i, _within(rng))
    req["diagnoses"][0]["histology"] = "small_cell"
    return req


def s_deny_localized_nsclc(rng: random.Random, i: int) -> Request:
    req = _nsclc_initial(rng, i, _within(rng))
    req["diagnoses"][0]["extent"] = "localized"
    return req


def s_deny_under_18(rng: random.Random, i: int) -> Request:
    req = (_nsclc_initial if rng.random() < 0.6 else _crc_initial)(rng, i, _within(rng))
    dos = date.fromisoformat(req["date_of_service"])
    req["member"]["birth_date"] = _minor_birth(rng, dos).isoformat()
    return req


def s_deny_kras_negative(rng: random.Random, i: int) -> Request:
    req = (_nsclc_initial if rng.random() < 0.6 else _crc_initial)(rng, i, _within(rng))
    req["biomarkers"] = [_kras(rng, test=THERASCREEN, result="negative")]
    return req


def s_deny_no_prior_therapy(rng: random.Random, i: int) -> Request:
    req = _nsclc_initial(rng, i, _within(rng))
    # none at all, or only surgery, radiation and supportive care (known, never systemic)
    local = [
        "hemicolectomy",
        "lobectomy",
        "radiation therapy",
        "SBRT",
        "ondansetron",
        "dexamethasone",
        "filgrastim",
    ]
    req["prior_therapies"] = [{"drug": d} for d in rng.sample(local, rng.randint(0, 2))]
    return req


def s_deny_crc_missing_chemo_class(rng: random.Random, i: int) -> Request:
    req = _crc_initial(rng, i, _within(rng))
    req["prior_therapies"] = [{"drug": d} for d in rng.choice(CRC_PARTIAL_CHEMO)]
    return req


def s_deny_nsclc_concurrent_drug(rng: random.Random, i: int) -> Request:
    req = _nsclc_initial(rng, i, _within(rng))
    req["concurrent_therapies"] = [{"drug": rng.choice(NSCLC_COMBINATION_DRUGS)}]
    return req


def s_deny_crc_without_panitumumab(rng: random.Random, i: int) -> Request:
    req = _crc_initial(rng, i, _within(rng))
    if rng.random() < 0.5:
        req["concurrent_therapies"] = []
    else:
        req["concurrent_therapies"] = [{"drug": rng.choice(CRC_NON_PANITUMUMAB)}]
    return req


def s_deny_attestation_false(rng: random.Random, i: int) -> Request:
    req = (_nsclc_initial if rng.random() < 0.6 else _crc_initial)(rng, i, _within(rng))
    req["attestations"] = {"liver_function_monitoring": False}
    return req


def s_deny_renewal_progression(rng: random.Random, i: int) -> Request:
    req = _renewal(rng, i, _within(rng))
    req["disease_status"] = {"progression": True, "unacceptable_toxicity": False}
    return req


def s_pend_biomarkers_absent(rng: random.Random, i: int) -> Request:
    req = (_nsclc_initial if rng.random() < 0.6 else _crc_initial)(rng, i, _within(rng))
    del req["biomarkers"]
    return req


def s_pend_unknown_test(rng: random.Random, i: int) -> Request:
    req = _nsclc_initial(rng, i, _within(rng))
    req["biomarkers"] = [
        {"gene": "KRAS", "alteration": "G12C", "result": "positive", "test": "in-house NGS panel"}
    ]
    return req


def s_pend_attestation_absent(rng: random.Random, i: int) -> Request:
    req = (_nsclc_initial if rng.random() < 0.6 else _crc_initial)(rng, i, _within(rng))
    if rng.random() < 0.5:
        del req["attestations"]
    else:
        req["attestations"] = {}
    return req


def s_pend_histology_absent(rng: random.Random, i: int) -> Request:
    req = _nsclc_initial(rng, i, _within(rng))
    del req["diagnoses"][0]["histology"]
    return req


def s_pend_extent_absent(rng: random.Random, i: int) -> Request:
    req = (_nsclc_initial if rng.random() < 0.6 else _crc_initial)(rng, i, _within(rng))
    req["diagnoses"] = [req["diagnoses"][0]]  # no secondary-neoplasm code either
    req["diagnoses"][0].pop("extent", None)
    return req


def s_pend_prior_therapies_absent(rng: random.Random, i: int) -> Request:
    req = (_nsclc_initial if rng.random() < 0.6 else _crc_initial)(rng, i, _within(rng))
    del req["prior_therapies"]
    return req


def s_pend_renewal_toxicity_unknown(rng: random.Random, i: int) -> Request:
    req = _renewal(rng, i, _within(rng))
    req["disease_status"] = {"progression": False}
    return req


Builder = Callable[[random.Random, int], Request]

# (scenario, builder, weight in percent, expected decision)
SCENARIOS: list[tuple[str, Builder, float, str]] = [
    ("nsclc_approve", s_nsclc_approve, 13, "approved"),
    ("crc_approve", s_crc_approve, 10, "approved"),
    ("renewal_approve", s_renewal_approve, 12, "approved"),
    ("nsclc_partial", s_nsclc_partial, 5, "partially_approved"),
    ("crc_partial", s_crc_partial, 3, "partially_approved"),
    ("renewal_partial", s_renewal_partial, 2, "partially_approved"),
    ("deny_melanoma", s_deny_melanoma, 3, "denied"),
    ("deny_small_cell", s_deny_small_cell, 3, "denied"),
    ("deny_localized_nsclc", s_deny_localized_nsclc, 3, "denied"),
    ("deny_under_18", s_deny_under_18, 3, "denied"),
    ("deny_kras_negative", s_deny_kras_negative, 3, "denied"),
    ("deny_no_prior_therapy", s_deny_no_prior_therapy, 3, "denied"),
    ("deny_crc_missing_chemo_class", s_deny_crc_missing_chemo_class, 3, "denied"),
    ("deny_nsclc_concurrent_drug", s_deny_nsclc_concurrent_drug, 2, "denied"),
    ("deny_crc_without_panitumumab", s_deny_crc_without_panitumumab, 2, "denied"),
    ("deny_attestation_false", s_deny_attestation_false, 2, "denied"),
    ("deny_renewal_progression", s_deny_renewal_progression, 3, "denied"),
    ("pend_biomarkers_absent", s_pend_biomarkers_absent, 5, "pended"),
    ("pend_unknown_test", s_pend_unknown_test, 2, "pended"),
    ("pend_attestation_absent", s_pend_attestation_absent, 5, "pended"),
    ("pend_histology_absent", s_pend_histology_absent, 4, "pended"),
    ("pend_extent_absent", s_pend_extent_absent, 4, "pended"),
    ("pend_prior_therapies_absent", s_pend_prior_therapies_absent, 2, "pended"),
    ("pend_renewal_toxicity_unknown", s_pend_renewal_toxicity_unknown, 3, "pended"),
]
EXPECTED = {name: decision for name, _, _, decision in SCENARIOS}


def generate(n: int = 5000, seed: int = 1) -> Workload:
    """Return ``n`` labelled requests drawn with ``random.Random(seed)``, plus their JSON bytes."""
    rng = random.Random(seed)
    names = [s[0] for s in SCENARIOS]
    builders = {s[0]: s[1] for s in SCENARIOS}
    weights = [s[2] for s in SCENARIOS]
    labels = rng.choices(names, weights=weights, k=n)
    requests = [builders[label](rng, i) for i, label in enumerate(labels)]
    raw = [json.dumps(r, separators=(",", ":")).encode() for r in requests]
    return Workload(labels=labels, requests=requests, raw=raw)


if __name__ == "__main__":
    from collections import Counter

    wl = generate()
    print(Counter(EXPECTED[label] for label in wl.labels))
    print(sum(r["kind"] == "renewal" for r in wl.requests) / len(wl), "renewals")
    print(wl.raw[0].decode())
