"""Several plans side by side: a policy belongs to a plan, a request names its plan (or gets the
deployment's default), and two plans' Lumakras policies decide the same patient differently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from priorauth import Engine
from priorauth.errors import NoPolicyError
from priorauth.importer import import_document
from priorauth.policy.load import builtin_policies

BLUE_DOC = Path(__file__).parent / "corpus" / "c-lumakras.txt"


@pytest.fixture(scope="module")
def engine() -> Engine:
    blue = import_document(BLUE_DOC, plan="blue-commercial").policy
    return Engine(policies=[*builtin_policies(), blue])


def _patient(**changes: Any) -> dict[str, Any]:
    """KRAS G12C NSCLC after chemotherapy, tested in a CLIA laboratory (not an FDA-approved
    test), prescribed by an oncologist, no liver-monitoring attestation: the Blue plan approves,
    FEP does not (tests/two-plans-patient.json)."""
    r: dict[str, Any] = json.loads((Path(__file__).parent / "two-plans-patient.json").read_text())
    r.update(changes)
    return r


def test_two_plans_decide_the_same_patient_differently(engine: Engine) -> None:
    fep = engine.evaluate(_patient(plan="fep"))
    blue = engine.evaluate(_patient(plan="blue-commercial"))
    assert (fep.policy.plan, fep.policy.number) == ("fep", "5.21.177")
    assert (blue.policy.plan, blue.policy.number) == ("blue-commercial", "lumakras")
    # FEP asks for an FDA-approved test and the liver-monitoring attestation; the Blue plan
    # takes a CLIA laboratory's result and asks for neither.
    assert fep.decision == "denied" and fep.denial_basis == "criteria_not_met"
    assert blue.decision == "approved"
    assert blue.model_dump(mode="json")["policy"]["plan"] == "blue-commercial"


def test_a_request_without_a_plan_gets_the_default_plan(engine: Engine) -> None:
    det = engine.evaluate(_patient())
    assert det.policy.plan == "fep"
    other = Engine(policies=list(engine.policies), default_plan="blue-commercial")
    assert other.evaluate(_patient()).policy.plan == "blue-commercial"


def test_a_plan_without_a_policy_for_the_drug_is_a_clear_error(engine: Engine) -> None:
    with pytest.raises(NoPolicyError) as exc:
        engine.evaluate(_patient(plan="medicaid-ny"))
    assert exc.value.field == "plan"
    assert "blue-commercial, fep" in exc.value.problem
    with pytest.raises(NoPolicyError):
        engine.evaluate(
            _patient(
                plan="blue-commercial",
                medication={
                    "name": "Tagrisso",
                    "strength_mg": 80,
                    "quantity": 30,
                    "days_supply": 30,
                },
            )
        )


def test_a_bad_plan_name_names_the_field() -> None:
    from priorauth.errors import RequestError

    with pytest.raises(RequestError) as exc:
        Engine().evaluate(_patient(plan="Not A Plan!"))
    assert exc.value.field == "plan"


def test_policy_list_groups_by_plan() -> None:
    from typer.testing import CliRunner

    from priorauth.cli import app

    result = CliRunner().invoke(app, ["policy", "list"])
    assert result.exit_code == 0, result.output
    assert "Policies of plan fep" in result.output
