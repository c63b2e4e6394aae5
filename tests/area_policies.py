"""Policies of three areas for the adapters' tests, built from the condition types' own test
table (tests/conditions/areas.yaml) and written as policy files a service loads
(`PRIORAUTH_POLICIES`): Wegovy (BMI >= 30, or >= 27 with a comorbidity; at most 2.4 mg a week),
Nucala (blood eosinophils >= 150 cells/uL), Depo-Testosterone (male; two morning total
testosterone values below 300 ng/dL)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from test_conditions_areas import POLICY, TABLE

AREAS = {
    "wegovy": ("9.21.101", "Wegovy", "semaglutide", [2.4], "pen", ["bmi_30_or_27", "weekly_2_4"]),
    "nucala": ("9.21.102", "Nucala", "mepolizumab", [100], "autoinjector", ["eos_150"]),
    "depo": (
        "9.21.103",
        "Depo-Testosterone",
        "testosterone cypionate",
        [200],
        "vial",
        ["male", "two_low_morning_t"],
    ),
}


def write_policies(folder: Path) -> str:
    """The three policy files in `folder`; returns the folder as PRIORAUTH_POLICIES takes it."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, (number, brand, generic, strengths, form, names) in AREAS.items():
        data = copy.deepcopy(POLICY)
        data.update(number=number, title=f"{brand} ({generic})")
        data["drug"] = {
            "brand": brand,
            "generic": generic,
            "strengths_mg": strengths,
            "form": form,
        }
        data["requirements"] = {
            "initial": {
                "id": "initial",
                "text": "Prior-Approval Requirements",
                "all": [
                    {
                        "id": f"initial.{n}",
                        "text": n.replace("_", " "),
                        "condition": TABLE["conditions"][n],
                    }
                    for n in names
                ],
            },
            "renewal": {"id": "renewal", "text": "Renewal", "condition": {"type": "question"}},
        }
        (folder / f"{key}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return str(folder)
