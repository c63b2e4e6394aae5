"""Signing in to the workbench: API keys and passwords, the session cookie, CSRF, sign-out,
roles and organizations as in the JSON API, and page reads in the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import select
from web_support import ROOT, csrf_of

from priorauth.service.models import Event
from priorauth.service.users import create_user


def test_pages_ask_for_sign_in_first(client_for) -> None:
    c = client_for()
    r = c.get("/ui/queue")
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?next=%2Fui%2Fqueue"
    assert c.get("/ui/login").status_code == 200


def test_root_leads_to_the_workbench(client_for) -> None:
    r = client_for().get("/")
    assert r.status_code == 307 and r.headers["location"] == "/ui/"


def test_sign_in_with_a_key_sets_a_safe_session_cookie(client_for) -> None:
    c = client_for()
    page = c.get("/ui/login?next=/ui/policies")
    r = c.post(
        "/ui/login",
        data={"csrf": csrf_of(page.text), "key": "demo-reviewer-key", "next": "/ui/policies"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/policies"
    cookie = next(v for v in r.headers.get_list("set-cookie") if "priorauth_session=" in v)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback
    assert "Pharmacist A" in c.get("/ui/policies").text


def test_the_cookie_is_secure_over_https(client_for) -> None:
    c = client_for(base_url="https://testserver")
    page = c.get("/ui/login")
    r = c.post("/ui/login", data={"csrf": csrf_of(page.text), "key": "demo-reviewer-key"})
    cookie = next(v for v in r.headers.get_list("set-cookie") if "priorauth_session=" in v)
    assert "Secure" in cookie


def test_next_never_leaves_the_workbench(client_for) -> None:
    c = client_for()
    page = c.get("/ui/login")
    r = c.post(
        "/ui/login",
        data={"csrf": csrf_of(page.text), "key": "demo-reviewer-key", "next": "//evil.example/"},
    )
    assert r.headers["location"] == "/ui/"


def test_an_unknown_key_is_refused_on_the_form(client_for) -> None:
    c = client_for()
    page = c.get("/ui/login")
    r = c.post("/ui/login", data={"csrf": csrf_of(page.text), "key": "not-a-key"})
    assert r.status_code == 401
    assert "That API key is not known." in r.text
    assert "priorauth_session" not in r.headers.get("set-cookie", "")


def test_sign_in_needs_the_forms_own_token(client_for) -> None:
    c = client_for()
    c.get("/ui/login")
    r = c.post("/ui/login", data={"csrf": "forged", "key": "demo-reviewer-key"})
    assert r.status_code == 403
    assert "expired" in r.text


def test_sign_in_with_username_and_password(app: FastAPI, client_for) -> None:
    with app.state.service.db.session() as s:
        create_user(s, "alice", "correct horse battery", "reviewer", None, "Alice Pharm.D.")
    c = client_for()
    page = c.get("/ui/login")
    wrong = c.post(
        "/ui/login",
        data={"csrf": csrf_of(page.text), "username": "alice", "password": "wrong password!"},
    )
    assert wrong.status_code == 401 and "Wrong username or password." in wrong.text
    page = c.get("/ui/login")
    r = c.post(
        "/ui/login",
        data={"csrf": csrf_of(page.text), "username": "alice", "password": "correct horse battery"},
    )
    assert r.status_code == 303
    assert "Alice Pharm.D. · reviewer" in c.get("/ui/queue").text


def test_passwords_are_stored_as_argon2_hashes(app: FastAPI) -> None:
    with app.state.service.db.session() as s:
        user = create_user(s, "bob", "a long enough password", "submitter", "demo-clinic")
        assert user.password_hash.startswith("$argon2id$")
        assert "a long enough password" not in user.password_hash


def test_every_form_needs_the_sessions_csrf_token(client_for) -> None:
    c = client_for("demo-submitter-key")
    page = c.get("/ui/submit?drug=Lumakras")
    assert c.post("/ui/submit", data={"medication.name": "Lumakras"}).status_code == 403
    assert c.post("/ui/logout", data={"csrf": "x" + csrf_of(page.text)}).status_code == 403
    assert c.get("/ui/cases").status_code == 200  # still signed in


def test_sign_out_ends_the_session_for_good(client_for) -> None:
    c = client_for("demo-reviewer-key")
    page = c.get("/ui/queue")
    token = c.cookies.get("priorauth_session")
    r = c.post("/ui/logout", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    c.cookies.set("priorauth_session", token)  # a stolen copy of the cookie is worth nothing
    assert c.get("/ui/queue").status_code == 303


def test_roles_and_organizations_as_in_the_json_api(client_for) -> None:
    submitter = client_for("demo-submitter-key")
    api = client_for()
    created = api.post(
        "/cases",
        json=json.loads((ROOT / "examples" / "investigational-deny.json").read_text()),
        headers={"Authorization": "Bearer demo-submitter-key"},
    ).json()
    assert submitter.get("/ui/queue").status_code == 403  # the queue is the reviewers'
    assert submitter.get(f"/ui/cases/{created['id']}").status_code == 200
    other = client_for("demo-other-clinic-key")
    r = other.get(f"/ui/cases/{created['id']}")
    assert r.status_code == 404  # another organization's case does not exist for it
    assert created["id"][:8] not in other.get("/ui/cases").text
    reviewer = client_for("demo-reviewer-key")
    assert created["id"][:8] in reviewer.get("/ui/queue").text
    assert reviewer.get("/ui/submit").status_code == 422  # reviewers do not submit


def test_opening_a_case_page_is_in_the_audit_log(app: FastAPI, client_for) -> None:
    api = client_for()
    created = api.post(
        "/cases",
        json=json.loads((ROOT / "examples" / "nsclc-initial-pend.json").read_text()),
        headers={"Authorization": "Bearer demo-submitter-key"},
    ).json()
    client_for("demo-reviewer-key").get(f"/ui/cases/{created['id']}")
    with app.state.service.db.reading() as s:
        reads = s.scalars(
            select(Event).where(Event.case_id == created["id"], Event.action == "read")
        ).all()
    assert [(e.actor, e.role) for e in reads] == [("Pharmacist A", "reviewer")]


def test_users_create_on_the_command_line(tmp_path: Path) -> None:
    cli = Path(sys.executable).parent / "priorauth"
    env = {**os.environ, "PRIORAUTH_DATABASE_URL": f"sqlite:///{tmp_path}/pa.db"}
    done = subprocess.run(
        [
            str(cli),
            "users",
            "create",
            "carol",
            "--role",
            "submitter",
            "--org",
            "demo-clinic",
            "--password-stdin",
        ],
        input="twelve chars or more\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "user created: carol (submitter, demo-clinic)" in done.stdout
    short = subprocess.run(
        [str(cli), "users", "create", "dave", "--role", "reviewer", "--password-stdin"],
        input="short\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode == 2
    assert short.stderr.strip() == "error: password: at least 12 characters"


def test_a_deleted_key_ends_its_sessions_at_once(app: FastAPI, client_for) -> None:
    from sqlalchemy import delete

    from priorauth.service.auth import create_key
    from priorauth.service.models import ApiKey

    with app.state.service.db.session() as s:
        key = create_key(s, "reviewer", None, "Temporary reviewer")
    c = client_for(key)
    assert c.get("/ui/queue").status_code == 200
    with app.state.service.db.session() as s:
        s.execute(delete(ApiKey).where(ApiKey.name == "Temporary reviewer"))
    assert c.get("/ui/queue").status_code == 303


def test_repeated_failed_sign_ins_are_slowed_down(client_for) -> None:
    from priorauth.web import signin

    c = client_for()
    for _ in range(signin.FAILURES_ALLOWED):
        page = c.get("/ui/login")
        r = c.post("/ui/login", data={"csrf": csrf_of(page.text), "key": "guess"})
        assert r.status_code == 401
    page = c.get("/ui/login")
    r = c.post("/ui/login", data={"csrf": csrf_of(page.text), "key": "demo-reviewer-key"})
    assert r.status_code == 429
    assert "Too many failed sign-ins from this address" in r.text
