"""Several plans in the service: more policy files beside the built-in ones
(PRIORAUTH_POLICIES), each submitting organization's plan (PRIORAUTH_ORG_PLANS), the request's own
`plan` first; bad settings are one line naming the variable. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_support import OTHER_CLINIC, SUBMITTER, FakeClock

from priorauth.importer import import_document, import_text
from priorauth.policy.dump import policy_yaml
from priorauth.server import create_app
from priorauth.service.config import Settings, SettingsError, load_settings
from priorauth.service.models import Case

BLUE_DOC = Path(__file__).resolve().parents[1] / "corpus" / "c-lumakras.txt"
PATIENT = Path(__file__).resolve().parents[1] / "two-plans-patient.json"


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("policies")
    blue = import_document(BLUE_DOC, plan="blue-commercial").policy
    (folder / "blue-lumakras.yaml").write_text(policy_yaml(blue))
    return folder


@pytest.fixture
def plans_client(app_db_url: str, policy_dir: Path) -> Iterator[TestClient]:
    settings = Settings(
        database_url=app_db_url,
        demo_keys=True,
        policies=str(policy_dir),
        org_plans="demo-clinic=blue-commercial",
    )
    application: FastAPI = create_app(settings, clock=FakeClock())
    with TestClient(application, raise_server_exceptions=False) as c:
        yield c
    application.state.service.db.engine.dispose()


def _patient(**changes: Any) -> dict[str, Any]:
    """KRAS G12C NSCLC after chemotherapy, tested in a CLIA laboratory (not an FDA-approved
    test), prescribed by an oncologist, no liver-monitoring attestation: the Blue plan approves,
    FEP does not (tests/two-plans-patient.json)."""
    r: dict[str, Any] = json.loads(
        (Path(__file__).resolve().parents[1] / "two-plans-patient.json").read_text()
    )
    r.update(changes)
    return r


def test_the_organization_plan_decides_and_stays_with_the_case(plans_client: TestClient) -> None:
    r = plans_client.post("/cases", json=_patient(), headers=SUBMITTER)
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["determination"]["policy"]["plan"] == "blue-commercial"
    assert case["determination"]["decision"] == "approved"
    service = plans_client.app.state.service  # type: ignore[attr-defined]
    with service.db.reading() as s:
        stored = s.get(Case, case["id"])
        assert stored is not None and stored.request["plan"] == "blue-commercial"


def test_an_organization_without_a_plan_gets_the_default_plan(plans_client: TestClient) -> None:
    r = plans_client.post("/cases", json=_patient(), headers=OTHER_CLINIC)
    assert r.status_code == 201, r.text
    det = r.json()["determination"]
    assert det["policy"]["plan"] == "fep"
    assert det["decision"] != "approved"  # FEP asks for an FDA-approved test


def test_the_request_plan_comes_first(plans_client: TestClient) -> None:
    r = plans_client.post("/cases", json=_patient(plan="fep"), headers=SUBMITTER)
    assert r.status_code == 201, r.text
    assert r.json()["determination"]["policy"]["plan"] == "fep"


def test_a_plan_without_a_policy_for_the_drug_names_the_plan(plans_client: TestClient) -> None:
    r = plans_client.post("/cases", json=_patient(plan="acme"), headers=SUBMITTER)
    assert r.status_code == 422
    assert r.json()["field"] == "plan"
    assert "acme" in r.json()["detail"]


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("PRIORAUTH_ORG_PLANS", "demo-clinic", "PRIORAUTH_ORG_PLANS: "),
        ("PRIORAUTH_ORG_PLANS", "demo-clinic=Blue Plan", "PRIORAUTH_ORG_PLANS: "),
        ("PRIORAUTH_DEFAULT_PLAN", "Not A Plan", "PRIORAUTH_DEFAULT_PLAN: "),
        ("PRIORAUTH_POLICIES", "/no/such/folder", "PRIORAUTH_POLICIES: /no/such/folder"),
    ],
)
def test_bad_plan_settings_are_one_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert str(exc.value).startswith(says)
    assert "\n" not in str(exc.value)


def test_a_bad_policy_file_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("number: [\n")
    monkeypatch.setenv("PRIORAUTH_POLICIES", str(tmp_path))
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert str(exc.value).startswith("PRIORAUTH_POLICIES: ")
    assert "broken.yaml" in str(exc.value)


def test_a_policy_file_without_an_effective_date_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # What `priorauth policy import` writes for a document that states no effective date.
    text = BLUE_DOC.read_text(encoding="utf-8")
    undated = import_text(
        "\n".join(x for x in text.splitlines() if "Version Date" not in x), "b.txt"
    )
    assert undated.effective_date is None
    (tmp_path / "undated.yaml").write_text(undated.policy_yaml())
    monkeypatch.setenv("PRIORAUTH_POLICIES", str(tmp_path))
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert str(exc.value) == (
        f"PRIORAUTH_POLICIES: {tmp_path / 'undated.yaml'}: effective_date: not stated in the "
        "document; set it with --effective-date or in the file"
    )
