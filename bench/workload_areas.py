"""Deterministic mixed workload of three other areas for the benchmark (bench/bench_areas.py):
weight management (Wegovy), a PCSK9 inhibitor (Repatha) and testosterone (Xyosted), against
the policies in bench/areas/policies.yaml.

Requests look like real ones: BMIs to one decimal, or a weight and height in kg and cm or in lb
and in; LDL-C in mg/dL or mmol/L; testosterone in ng/dL or nmol/L drawn at a time of day; dates
spread over the past months; statin trials of common doses and lengths; a fifth of the lists
absent (unknown) and some empty. About 15 % are renewals.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

Request = dict[str, Any]
FIRST_SERVICE_DAY = date(2026, 1, 1)
SERVICE_DAYS = 540

WEIGHT_DIAGNOSES = ["E66.9", "E66.3", "E11.9", "I10", "E78.5", "G47.33", "E66.01", "E11.65"]
Z68_CODES = ["Z68.27", "Z68.29", "Z68.30", "Z68.35", "Z68.41", "Z68.25"]
WEIGHT_CONCURRENT = [[], [], [], ["metformin"], ["Mounjaro"], ["Trulicity"], ["lisinopril"]]
LIPID_DIAGNOSES = ["I25.10", "I21.9", "I63.9", "E78.01", "I70.0", "I25.2", "I25.10", "E78.5"]
STATINS = [
    ("atorvastatin", 40),
    ("atorvastatin", 80),
    ("rosuvastatin", 20),
    ("rosuvastatin", 40),
    ("atorvastatin", 20),
    ("Lipitor", 40),
    ("Crestor", 20),
    ("simvastatin", 40),
]
STATIN_DAYS = [30, 55, 56, 60, 84, 90, 90, 180, 365, None]
LIPID_CONCURRENT = [[], [], ["ezetimibe"], ["Zetia"], ["Praluent"], ["aspirin"]]
T_DIAGNOSES = ["E29.1", "E29.1", "E23.0", "E89.5", "E11.9", "N52.9"]
T_CONCURRENT = [[], [], [], ["AndroGel"], ["metformin"]]


@dataclass
class Workload:
    requests: list[Request]
    raw: list[bytes]
    labels: list[str]


def _day(rng: random.Random, dos: date, back: int) -> str:
    return (dos - timedelta(days=rng.randint(0, back))).isoformat()


def _birth(rng: random.Random, dos: date, low: int, high: int) -> str:
    return (dos - timedelta(days=rng.randint(low * 365 + 1, high * 365 + 364))).isoformat()


def _maybe(rng: random.Random, value: Any, absent: float = 0.1) -> Any:
    return None if rng.random() < absent else value


def _wegovy(rng: random.Random, dos: date) -> tuple[Request, str]:
    roll = rng.random()
    birth = _birth(rng, dos, 18, 75) if roll < 0.85 else _birth(rng, dos, 12, 17)
    if roll > 0.95:
        birth = _birth(rng, dos, 8, 11)
    obs: list[dict[str, Any]] | None = []
    dx: list[dict[str, Any]] | None = [
        {"code": c} for c in rng.sample(WEIGHT_DIAGNOSES, rng.randint(0, 3))
    ]
    shape = rng.random()
    if shape < 0.6:
        obs = [
            {
                "name": rng.choice(["BMI", "body mass index"]),
                "value": round(rng.uniform(24, 45), 1),
                "unit": "kg/m2",
                "date": _day(rng, dos, 500),
            }
        ]
    elif shape < 0.85:
        if rng.random() < 0.5:
            weight = {"name": "body weight", "value": round(rng.uniform(60, 160), 1), "unit": "kg"}
            height = {"name": "height", "value": float(rng.randint(150, 195)), "unit": "cm"}
        else:
            weight = {"code": "29463-7", "value": float(rng.randint(130, 350)), "unit": "lb"}
            height = {"code": "8302-2", "value": float(rng.randint(59, 77)), "unit": "in"}
        weight["date"] = _day(rng, dos, 400)
        obs = [weight, height]
    elif shape < 0.92:
        obs = None
    else:
        dx = [*(dx or []), {"code": rng.choice(Z68_CODES)}]
    if rng.random() < 0.25:
        dx = None
    quantity = 8 if rng.random() < 0.08 else 4
    strength = rng.choice([0.25, 0.5, 1, 1.7, 2.4, 2.4, 2.4])
    req: Request = {
        "member": {"id": f"W{rng.randint(1, 10**6)}", "birth_date": birth},
        "medication": {
            "name": "Wegovy",
            "strength_mg": strength,
            "quantity": quantity,
            "days_supply": 28,
        },
        "diagnoses": dx,
        "observations": obs,
        "concurrent_therapies": _maybe(rng, [{"drug": d} for d in rng.choice(WEIGHT_CONCURRENT)]),
    }
    return req, "wegovy"


def _repatha(rng: random.Random, dos: date) -> tuple[Request, str]:
    birth = _birth(rng, dos, 35, 85) if rng.random() < 0.95 else _birth(rng, dos, 14, 17)
    ldl: dict[str, Any]
    if rng.random() < 0.65:
        ldl = {
            "name": rng.choice(["LDL-C", "LDL cholesterol"]),
            "value": float(rng.randint(55, 220)),
            "unit": "mg/dL",
        }
    else:
        ldl = {"code": "13457-7", "value": round(rng.uniform(1.5, 5.7), 2), "unit": "mmol/L"}
    ldl["date"] = _day(rng, dos, 110)
    obs = [ldl]
    if rng.random() < 0.3:
        obs.append(
            {
                "name": "HDL-C",
                "value": float(rng.randint(30, 70)),
                "unit": "mg/dL",
                "date": ldl["date"],
            }
        )
    trials = []
    for _ in range(rng.choice([1, 1, 1, 2])):
        drug, dose = rng.choice(STATINS)
        trial: dict[str, Any] = {
            "drug": drug,
            "outcome": rng.choice(["failure", "failure", "intolerance"]),
        }
        days = rng.choice(STATIN_DAYS)
        if days is not None:
            trial["days"] = days
        if rng.random() < 0.9:
            trial["daily_dose_mg"] = dose
        trials.append(trial)
    strength, quantity = rng.choice([(140, 2), (420, 1)])
    req: Request = {
        "member": {"id": f"R{rng.randint(1, 10**6)}", "birth_date": birth},
        "medication": {
            "name": "Repatha",
            "strength_mg": strength,
            "quantity": quantity,
            "days_supply": 28,
        },
        "diagnoses": _maybe(
            rng, [{"code": c} for c in rng.sample(LIPID_DIAGNOSES, rng.randint(1, 2))]
        ),
        "observations": _maybe(rng, obs),
        "step_therapy": _maybe(rng, trials),
        "concurrent_therapies": _maybe(rng, [{"drug": d} for d in rng.choice(LIPID_CONCURRENT)]),
    }
    return req, "repatha"


def _xyosted(rng: random.Random, dos: date) -> tuple[Request, str]:
    sex = rng.choices(["male", "female", "unknown", None], [85, 5, 5, 5])[0]
    member: dict[str, Any] = {
        "id": f"X{rng.randint(1, 10**6)}",
        "birth_date": _birth(rng, dos, 16, 80),
    }
    if sex is not None:
        member["sex"] = sex
    obs = []
    first = dos - timedelta(days=rng.randint(7, 120))
    for k in range(rng.choice([1, 2, 2, 2, 2, 3, 3])):
        day = first + timedelta(days=k * rng.choice([0, 7, 7, 7, 14]))
        hour = rng.choice([7, 8, 8, 9, 9, 10, 11, 14])
        when = f"{day.isoformat()}T{hour:02d}:{rng.choice([0, 15, 30, 45]):02d}"
        if rng.random() < 0.05:
            when = day.isoformat()
        if rng.random() < 0.7:
            value = {
                "name": "total testosterone",
                "value": float(rng.randint(150, 360)),
                "unit": "ng/dL",
            }
        else:
            value = {"code": "2986-8", "value": round(rng.uniform(5, 12.5), 1), "unit": "nmol/L"}
        obs.append({**value, "date": when})
    req: Request = {
        "member": member,
        "medication": {
            "name": "Xyosted",
            "strength_mg": rng.choice([50, 75, 100]),
            "quantity": 4,
            "days_supply": 28,
        },
        "diagnoses": _maybe(rng, [{"code": rng.choice(T_DIAGNOSES)}]),
        "observations": _maybe(rng, obs),
        "concurrent_therapies": _maybe(rng, [{"drug": d} for d in rng.choice(T_CONCURRENT)]),
    }
    return req, "xyosted"


def generate(n: int, seed: int) -> Workload:
    rng = random.Random(seed)
    requests, labels = [], []
    for _ in range(n):
        dos = FIRST_SERVICE_DAY + timedelta(days=rng.randint(0, SERVICE_DAYS))
        maker = rng.choices([_wegovy, _repatha, _xyosted], [40, 35, 25])[0]
        body, label = maker(rng, dos)
        req: Request = {"kind": "initial", "date_of_service": dos.isoformat()}
        req.update({k: v for k, v in body.items() if v is not None})
        if rng.random() < 0.15:
            req["kind"] = "renewal"
            label += " renewal"
            response = rng.choice([True, True, True, False, None])
            if response is not None:
                req["disease_status"] = {"clinical_response": response}
        requests.append(req)
        labels.append(label)
    raw = [json.dumps(r).encode() for r in requests]
    return Workload(requests, raw, labels)
