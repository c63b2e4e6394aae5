"""The workbench's sign-in sessions and password users on both databases (the workbench's
own tests run on SQLite; here the parts that touch the database run on PostgreSQL too)."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_support import SUBMITTER, submit

from priorauth.service.users import create_user


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_password_sign_in_session_and_sign_out(app: FastAPI, client: TestClient) -> None:
    with app.state.service.db.session() as s:
        create_user(s, "erin", "erin's long password", "submitter", "demo-clinic", "Erin")
    case = submit(client, "nsclc-initial-pend", SUBMITTER)
    page = client.get("/ui/login")
    r = client.post(
        "/ui/login",
        data={"csrf": _csrf(page.text), "username": "erin", "password": "erin's long password"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(f"/ui/cases/{case['id']}")
    assert page.status_code == 200 and "Erin · submitter · demo-clinic" in page.text
    history = client.get(f"/cases/{case['id']}/history", headers=SUBMITTER).json()
    assert ("read", "Erin") in [(e["action"], e["actor"]) for e in history]
    client.post("/ui/logout", data={"csrf": _csrf(page.text)}, follow_redirects=False)
    assert client.get("/ui/cases", follow_redirects=False).status_code == 303


def test_a_key_session_and_a_letter(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-approve", SUBMITTER)
    page = client.get("/ui/login")
    client.post(
        "/ui/login",
        data={"csrf": _csrf(page.text), "key": "demo-submitter-key"},
        follow_redirects=False,
    )
    r = client.get(f"/ui/cases/{case['id']}/letter.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")


def test_control_characters_in_a_form_never_reach_the_database(client: TestClient) -> None:
    case = submit(client, "investigational-deny", SUBMITTER)
    page = client.get("/ui/login")
    client.post(
        "/ui/login",
        data={"csrf": _csrf(page.text), "key": "demo-reviewer-key"},
        follow_redirects=False,
    )
    page = client.get(f"/ui/cases/{case['id']}")
    r = client.post(
        f"/ui/cases/{case['id']}/review",
        data={"csrf": _csrf(page.text), "action": "confirm_denial", "note": "not\x00 covered"},
        follow_redirects=False,
    )
    assert r.status_code == 422
    assert "note: contains a control character (U+0000)" in r.text
    stored = client.get(f"/cases/{case['id']}", headers=SUBMITTER).json()
    assert stored["status"] == "in_review"  # nothing written
    long = client.post(
        f"/ui/cases/{case['id']}/withdraw",
        data={"csrf": _csrf(page.text), "reason": "x" * 10_001},
        follow_redirects=False,
    )
    assert long.status_code == 422 and "longer than 10000 characters" in long.text
