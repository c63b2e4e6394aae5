"""Who may do what: API keys, roles, organizations; and the published API documents."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from service_support import (
    ADMIN,
    OTHER_CLINIC,
    REVIEWER,
    SUBMITTER,
    assert_problem,
    bearer,
    denied_case,
    example,
    submit,
)

METRICS = "/metrics/prior-authorization?from=2026-01-01&to=2026-12-31"


def test_request_without_a_key_is_401_problem(client: TestClient) -> None:
    r = client.get("/cases")
    assert_problem(r, 401, "Authorization")


def test_401_names_the_bearer_scheme_in_www_authenticate(client: TestClient) -> None:
    # RFC 9110 15.5.2: a 401 response MUST carry a WWW-Authenticate challenge.
    r = client.get("/cases")
    assert r.status_code == 401
    assert r.headers.get("www-authenticate", "").lower().startswith("bearer")


def test_request_with_an_unknown_key_is_401(client: TestClient) -> None:
    assert_problem(client.get("/cases", headers=bearer("not-a-key")), 401, "Authorization")


def test_key_in_a_scheme_other_than_bearer_is_401(client: TestClient) -> None:
    r = client.get("/cases", headers={"Authorization": "Basic demo-submitter-key"})
    assert_problem(r, 401, "Authorization")


def test_submission_without_a_key_creates_nothing(client: TestClient) -> None:
    assert_problem(client.post("/cases", json=example("nsclc-initial-approve")), 401)
    assert client.get("/cases", headers=REVIEWER).json() == []


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/cases/{id}"),
        ("get", "/cases/{id}/history"),
        ("post", "/cases/{id}/withdraw"),
        ("post", "/cases/{id}/information"),
        ("post", "/cases/{id}/appeal"),
    ],
)
def test_another_organizations_case_does_not_exist_for_a_submitter(
    client: TestClient, method: str, path: str
) -> None:
    case = denied_case(client)  # demo-clinic's case
    body = {"answers": {"x": True}} if path.endswith("information") else {"reason": "x"}
    kwargs = {"json": body} if method == "post" else {}
    r = getattr(client, method)(path.format(id=case["id"]), headers=OTHER_CLINIC, **kwargs)
    assert_problem(r, 404)
    assert client.get(f"/cases/{case['id']}", headers=REVIEWER).json()["status"] == "denied"


def test_submitter_lists_only_its_own_organizations_cases(client: TestClient) -> None:
    mine = submit(client, "nsclc-initial-approve")
    theirs = submit(client, "nsclc-initial-partial", OTHER_CLINIC)
    assert [c["id"] for c in client.get("/cases", headers=SUBMITTER).json()] == [mine["id"]]
    assert [c["id"] for c in client.get("/cases", headers=OTHER_CLINIC).json()] == [theirs["id"]]
    assert len(client.get("/cases", headers=REVIEWER).json()) == 2


def test_submitter_sees_only_its_own_organizations_authorizations(client: TestClient) -> None:
    submit(client, "nsclc-initial-approve")
    assert client.get("/members/EX-0001/authorizations", headers=OTHER_CLINIC).json() == []
    assert len(client.get("/members/EX-0001/authorizations", headers=SUBMITTER).json()) == 1


def test_submitter_cannot_see_the_queue(client: TestClient) -> None:
    assert_problem(client.get("/queue", headers=SUBMITTER), 403)


def test_admin_sees_the_queue(client: TestClient) -> None:
    case = submit(client, "investigational-deny")
    r = client.get("/queue", headers=ADMIN)
    assert r.status_code == 200
    assert [c["id"] for c in r.json()] == [case["id"]]


def test_submitter_cannot_read_metrics(client: TestClient) -> None:
    assert_problem(client.get(METRICS, headers=SUBMITTER), 403)


@pytest.mark.parametrize("who", [REVIEWER, ADMIN], ids=["reviewer", "admin"])
def test_reviewer_and_admin_read_metrics(client: TestClient, who: dict[str, str]) -> None:
    assert client.get(METRICS, headers=who).status_code == 200


def test_reviewer_cannot_submit(client: TestClient) -> None:
    r = client.post("/cases", json=example("nsclc-initial-approve"), headers=REVIEWER)
    assert_problem(r, 403)


def test_admin_submits_on_behalf_of_the_plan(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-approve", ADMIN)
    assert case["org"] == "plan"
    assert client.get(f"/cases/{case['id']}", headers=SUBMITTER).status_code == 404


def test_openapi_document_and_docs_page_are_served(client: TestClient) -> None:
    doc = client.get("/openapi.json")
    assert doc.status_code == 200
    paths = doc.json()["paths"]
    for path in ("/cases", "/cases/{case_id}/review", "/queue", "/metrics/prior-authorization"):
        assert path in paths
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}
