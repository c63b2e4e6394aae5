"""Procedures and supportive care are known and never count as systemic anticancer therapy.

Prior-therapy lists are generated from the tables themselves (procedures.yaml,
supportive_care.yaml, and names built from their words and suffixes); none may pend for an
unknown word, and none may stand in for the prior systemic therapy a policy requires.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from priorauth import Engine
from priorauth.policy.tables import load_knowledge

KNOWLEDGE = Path(__file__).resolve().parent.parent / "src/priorauth/policy/knowledge"
PROCEDURES = yaml.safe_load((KNOWLEDGE / "procedures.yaml").read_text())
SUPPORTIVE = yaml.safe_load((KNOWLEDGE / "supportive_care.yaml").read_text())
EXAMPLE = json.loads(
    (Path(__file__).resolve().parent.parent / "examples/nsclc-initial-approve.json").read_text()
)

PROCEDURE_NAMES = [
    name
    for generic, entry in PROCEDURES["procedures"].items()
    for name in [generic, *entry.get("names", [])]
]
SUPPORTIVE_NAMES = [
    name
    for generic, entry in SUPPORTIVE["supportive_care"].items()
    for name in [generic, *entry.get("names", [])]
]
PATTERN_WORDS = [w for p in PROCEDURES["patterns"].values() for w in p["words"]]
SUFFIXES = [s for p in PROCEDURES["patterns"].values() for s in p["suffixes"]]
ORGANS = ["col", "hemicol", "lob", "gastr", "nephr", "thyroid", "esophag", "pancreat", "laryng"]
MODIFIERS = ["", "robotic ", "laparoscopic ", "right ", "left ", "extended ", "palliative "]


@st.composite
def procedure_names(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        name = draw(st.sampled_from(SUPPORTIVE_NAMES))
        return draw(st.sampled_from([name, name.upper(), name.title()]))
    if kind == 1:
        name = draw(st.sampled_from(PROCEDURE_NAMES))
    elif kind == 2:
        name = draw(st.sampled_from(PATTERN_WORDS))
    else:
        name = draw(st.sampled_from(ORGANS)) + draw(st.sampled_from(SUFFIXES))
    name = draw(st.sampled_from(MODIFIERS)) + name
    return draw(st.sampled_from([name, name.upper(), name.title()]))


def _engine() -> Engine:
    global _ENGINE
    try:
        return _ENGINE
    except NameError:
        _ENGINE = Engine()
        return _ENGINE


def _request(prior: list[str]) -> dict[str, Any]:
    req = copy.deepcopy(EXAMPLE)
    req["prior_therapies"] = [{"drug": d} for d in prior]
    return req


@settings(max_examples=200, deadline=None)
@given(st.lists(procedure_names(), min_size=1, max_size=4))
def test_procedures_and_supportive_care_alone_are_no_prior_systemic_therapy(
    prior: list[str],
) -> None:
    kb = load_knowledge()
    for name in prior:
        info = kb.drug_info(name)
        assert info is not None, f"{name!r} is not recognised"
        assert not info.systemic_anticancer, name
    det = _engine().evaluate(_request(prior))
    assert det.decision == "denied", (prior, det.decision)
    assert det.denial_basis == "criteria_not_met"
    assert "initial.nsclc.prior_systemic_therapy" in {r.id for r in det.reasons}


@settings(max_examples=100, deadline=None)
@given(st.lists(procedure_names(), max_size=3), st.sampled_from(["carboplatin", "FOLFOX"]))
def test_beside_a_systemic_drug_they_change_nothing(prior: list[str], drug: str) -> None:
    det = _engine().evaluate(_request([*prior, drug]))
    assert det.decision == "approved", (prior, det.decision)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("hemicolectomy", ("surgery",)),
        ("right extended hemicolectomy", ("surgery",)),
        ("lobectomy with lymph node dissection", ("surgery", "surgery")),
        ("SBRT", ("radiation therapy",)),
        ("chemoradiation with cisplatin", ("cisplatin", "radiation therapy")),
        ("Neulasta", ("pegfilgrastim",)),
        ("Xgeva", ("denosumab",)),
        ("zoledronic acid", ("zoledronic acid",)),
        ("dexamethasone premedication", ("dexamethasone",)),
        ("radiofrequency ablation", ("ablation",)),
    ],
)
def test_common_names(written: str, expected: tuple[str, ...]) -> None:
    assert load_knowledge().resolve_drugs(written) == expected


@pytest.mark.parametrize(
    "written",
    [
        "chemoradiation",  # the chemotherapy is not named: it may be the class a policy needs
        "cisplatin radiation",  # a drug inside a longer name is never read as a procedure
        "chemotherapy and surgery",
        "ondansetron radiation",
    ],
)
def test_a_hidden_systemic_part_stays_unknown(written: str) -> None:
    assert load_knowledge().resolve_drugs(written) is None


def test_hemicolectomy_alone_is_denied_not_pended() -> None:
    """The issue's case: surgery was the only prior therapy."""
    det = _engine().evaluate(_request(["hemicolectomy"]))
    assert (det.decision, det.denial_basis) == ("denied", "criteria_not_met")
    assert det.missing == []
