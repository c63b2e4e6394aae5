"""The public Python API and the determination contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import priorauth
from priorauth import Engine, RequestError
from priorauth.determination import RECORD

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_public_names() -> None:
    for name in ("Engine", "Determination", "load_policy", "PriorAuthError", "RequestError"):
        assert hasattr(priorauth, name)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*-*.json")))
def test_dict_json_and_model_give_one_determination(name: str) -> None:
    engine = Engine()
    raw = (EXAMPLES / name).read_text()
    a = engine.evaluate(json.loads(raw)).model_dump(mode="json")
    b = engine.evaluate(raw).model_dump(mode="json")
    c = engine.evaluate_model(priorauth.parse_request(raw)).model_dump(mode="json")
    assert a == b == c


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*-*.json")))
def test_dump_follows_the_published_schema(name: str) -> None:
    det = Engine().evaluate((EXAMPLES / name).read_text())
    dumped = det.model_dump(mode="json")
    assert set(dumped) == {
        "decision",
        "denial_basis",
        "approval_basis",
        "policy",
        "authorization",
        "requested_daily_dose_mg",
        "reasons",
        "missing",
        "trace",
    }
    RECORD.validate_python(json.loads(det.model_dump_json()))


def test_trace_carries_facts_with_their_source() -> None:
    det = Engine().evaluate((EXAMPLES / "nsclc-initial-approve.json").read_text())
    nsclc = det.trace.children[1].children[0]
    dx = nsclc.children[0]
    assert (dx.id, dx.status) == ("initial.nsclc.diagnosis", "met")
    sources = {f["source"] for f in dx.facts}
    assert {"diagnoses[0].code", "diagnoses[0].histology", "diagnoses[0].extent"} <= sources


def test_answer_shows_in_the_trace() -> None:
    req = json.loads((EXAMPLES / "nsclc-initial-pend.json").read_text())
    req["answers"] = {"initial.nsclc.kras_g12c": True, "initial.liver_function_monitoring": True}
    det = Engine().evaluate(req)
    assert det.decision == "approved"
    kras = det.trace.children[1].children[0].children[1]
    assert kras.answered and kras.facts[0]["source"] == "answers.initial.nsclc.kras_g12c"


def test_reasons_quote_the_policy_for_an_approval() -> None:
    det = Engine().evaluate((EXAMPLES / "crc-initial-approve.json").read_text())
    assert [r.id for r in det.reasons] == [
        "initial.age",
        "initial.mcrc.diagnosis",
        "initial.mcrc.kras_g12c",
        "initial.mcrc.prior_chemotherapy",
        "initial.mcrc.with_panitumumab",
        "initial.liver_function_monitoring",
        "limits.initial.quantity",
    ]
    assert det.reasons[4].text == "Used in combination with Vectibix (panitumumab)"


def test_a_denial_for_criteria_names_only_the_failed_ones() -> None:
    req = json.loads((EXAMPLES / "nsclc-initial-approve.json").read_text())
    req["concurrent_therapies"] = [{"drug": "pembrolizumab"}]
    det = Engine().evaluate(req)
    assert (det.decision, det.denial_basis) == ("denied", "criteria_not_met")
    assert [(r.id, r.status) for r in det.reasons] == [("initial.nsclc.single_agent", "not_met")]


def test_request_error_names_field() -> None:
    with pytest.raises(RequestError) as err:
        Engine().evaluate({"kind": "initial"})
    assert err.value.field == "date_of_service"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birth_date", 0),
        ("birth_date", -86400.0),
        ("birth_date", True),
        ("date_of_service", 1781481600),
    ],
)
def test_a_date_given_as_a_number_is_refused_not_read_as_a_timestamp(
    field: str, value: object
) -> None:
    req = json.loads((EXAMPLES / "nsclc-initial-approve.json").read_text())
    where = req["member"] if field == "birth_date" else req
    where[field] = value
    for given in (req, json.dumps(req), json.dumps(req).encode()):
        with pytest.raises(RequestError) as err:
            Engine().evaluate(given)  # type: ignore[arg-type]
        assert err.value.field.endswith(field)
        assert "YYYY-MM-DD" in err.value.problem


def test_a_date_that_is_not_a_date_says_the_format() -> None:
    req = json.loads((EXAMPLES / "nsclc-initial-approve.json").read_text())
    req["member"]["birth_date"] = "1958-13-01"
    with pytest.raises(RequestError) as err:
        Engine().evaluate(req)
    assert err.value.field == "member.birth_date"
    assert "expected a date as YYYY-MM-DD" in err.value.problem
