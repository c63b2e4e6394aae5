"""Policy files: the built-in one holds the whole document; a bad one is refused clearly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from shared_folder import SEED_DOC, shared

from priorauth import Engine, PolicyError, load_policy
from priorauth.policy.load import builtin_policies

BUILTIN = Path(__file__).resolve().parents[1] / "src/priorauth/policy/builtin"
LUMAKRAS = BUILTIN / "5.21.177-lumakras-2026-04-01.yaml"


def lumakras_data() -> dict[str, Any]:
    return yaml.safe_load(LUMAKRAS.read_text())


def test_lumakras_metadata_is_the_documents() -> None:
    p = load_policy(LUMAKRAS)
    assert (p.number, p.title, p.section, p.subsection) == (
        "5.21.177",
        "Lumakras",
        "Prescription Drugs",
        "Antineoplastic Agents",
    )
    assert (p.drug.brand, p.drug.generic, p.drug.strengths_mg) == (
        "Lumakras",
        "sotorasib",
        [120, 240, 320],
    )
    assert p.effective_date == dt.date(2026, 4, 1)
    assert p.original_policy_date == dt.date(2021, 6, 25)
    assert p.last_review_date == dt.date(2026, 3, 6)
    assert p.committee_approval_date == dt.date(2026, 3, 6)
    assert p.applies_to == ["pre_service", "post_service"]
    assert p.pre_pa_allowance is None and p.pre_pa_allowance_text == "None"
    assert p.related_policies == ["Krazati"]
    assert len(p.references) == 2
    assert [h.date for h in p.history][:2] == ["2021-06", "2021-09"]
    assert len(p.history) == 11
    assert "investigational for all other indications" in p.investigational_text


def test_lumakras_limits_initial_and_renewal() -> None:
    p = load_policy(LUMAKRAS)
    for limits in (p.limits.initial, p.limits.renewal):
        assert limits.quantity is not None
        assert (limits.quantity.amount, limits.quantity.unit, limits.quantity.per_days) == (
            960,
            "mg",
            1,
        )
        assert limits.duration.months == 12
    assert p.limits.renewal.text == "Same as above"


def test_every_criterion_quotes_the_policy() -> None:
    seed = shared(SEED_DOC).read_text()
    flat = " ".join(seed.replace("**", "").split())
    p = load_policy(LUMAKRAS)
    for root in (p.requirements.initial, p.requirements.renewal):
        for node in root.walk():
            if node.condition is not None:
                assert " ".join(node.text.split()) in flat, node.id


def test_two_indications_in_each_requirement_set() -> None:
    p = load_policy(LUMAKRAS)
    for root in (p.requirements.initial, p.requirements.renewal):
        assert [n.text for n in root.walk() if n.indication] == [
            "Locally advanced or metastatic non-small cell lung cancer (NSCLC)",
            "Metastatic colorectal cancer (mCRC)",
        ]


def test_builtin_policies_load() -> None:
    assert [p.number for p in builtin_policies()] == ["5.21.177", "5.99.101", "5.99.102"]


def _write(tmp_path: Path, data: Any) -> Path:
    f = tmp_path / "policy.yaml"
    f.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return f


@pytest.mark.parametrize(
    ("mutate", "where", "problem"),
    [
        (lambda d: d.pop("number"), "number", "Field required"),
        (lambda d: d.update(effective_date="April 1st"), "effective_date", "date"),
        (lambda d: d.update(colour="blue"), "colour", "unknown field"),
        (
            lambda d: d["requirements"]["initial"]["all"][0].update(condition={"type": "height"}),
            "requirements.initial.all[0].condition",
            "does not match any of the expected tags",
        ),
        (
            lambda d: d["requirements"]["initial"]["all"][0]["condition"].update(min_years="old"),
            "requirements.initial.all[0].condition.age.min_years",
            "valid integer",
        ),
        (
            lambda d: d["requirements"]["initial"]["all"][0].pop("condition"),
            "requirements.initial.all[0]",
            "exactly one of all, any, ambiguous or condition",
        ),
        (
            lambda d: d["requirements"]["renewal"]["all"][0].update(id="initial.age"),
            "",
            "criterion id 'initial.age' appears twice",
        ),
        (
            lambda d: d["requirements"]["initial"]["all"][1]["any"][0]["all"][0][
                "condition"
            ].update(disease="lung_thing"),
            "criterion initial.nsclc.diagnosis",
            "unknown disease 'lung_thing'",
        ),
        (
            lambda d: d["requirements"]["initial"]["all"][1]["any"][1]["all"][2][
                "condition"
            ].update(all_classes=["fluoropyrimidine", "unobtainium"]),
            "criterion initial.mcrc.prior_chemotherapy",
            "unknown drug or drug class 'unobtainium'",
        ),
        (
            lambda d: d["requirements"]["initial"]["all"][1]["any"][1]["all"][3][
                "condition"
            ].update(with_any=["notadrug"]),
            "criterion initial.mcrc.with_panitumumab",
            "unknown drug or drug class 'notadrug'",
        ),
    ],
)
def test_bad_policy_names_file_path_and_problem(
    tmp_path: Path, mutate: Any, where: str, problem: str
) -> None:
    data = lumakras_data()
    mutate(data)
    f = _write(tmp_path, data)
    with pytest.raises(PolicyError) as err:
        load_policy(f)
    message = str(err.value)
    assert message.startswith(str(f))
    assert where in message
    assert problem in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "expected a mapping"), ("- a\n- b\n", "expected a mapping"), ("a: [", "not valid YAML")],
)
def test_unreadable_policy_file(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        load_policy(_write(tmp_path, text))


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "nope.yaml")


def test_two_versions_with_one_date_are_refused() -> None:
    p = load_policy(LUMAKRAS)
    with pytest.raises(PolicyError, match=r"two versions of policy 5\.21\.177"):
        Engine(policies=[p, p])


def test_version_in_force_is_chosen_by_date_of_service() -> None:
    old = load_policy(LUMAKRAS)
    data = lumakras_data()
    data["effective_date"] = dt.date(2027, 1, 1)
    data["limits"]["initial"]["quantity"]["amount"] = 720
    data["limits"]["initial"]["quantity"]["text"] = "720 mg per day"
    from priorauth.policy.load import policy_from_data

    new = policy_from_data(data, "new")
    engine = Engine(policies=[new, old])
    request = {
        "kind": "initial",
        "member": {"id": "M1", "birth_date": "1960-01-01"},
        "medication": {"name": "Lumakras", "strength_mg": 240, "quantity": 120, "days_supply": 30},
        "diagnoses": [{"code": "C34.90", "histology": "adenocarcinoma", "extent": "metastatic"}],
        "biomarkers": [
            {"gene": "KRAS", "alteration": "G12C", "result": "positive", "fda_approved": True}
        ],
        "prior_therapies": [{"drug": "carboplatin"}],
        "concurrent_therapies": [],
        "attestations": {"liver_function_monitoring": True},
    }
    before = engine.evaluate({**request, "date_of_service": "2026-12-31"})
    after = engine.evaluate({**request, "date_of_service": "2027-01-01"})
    assert (before.policy.effective_date, before.decision) == (dt.date(2026, 4, 1), "approved")
    assert (after.policy.effective_date, after.decision) == (
        dt.date(2027, 1, 1),
        "partially_approved",
    )
    assert after.authorization is not None and after.authorization.max_daily_dose_mg == 720


def test_a_yaml_error_is_one_line_with_where(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(_write(tmp_path, "number: x\n  bad: [\n"))
    message = str(caught.value)
    assert "\n" not in message
    # libyaml and PyYAML's own parser word the problem a little differently.
    assert "not valid YAML at line 2, column 6: mapping values are not allowed" in message
