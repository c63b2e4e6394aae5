"""The lists page by keyset (limit, an opaque cursor, a Link to the next page), stay in order
and stable while cases change, and a listing is one audit row that each case's history shows."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import (
    ADMIN,
    REVIEWER,
    START,
    SUBMITTER,
    FakeClock,
    assert_problem,
    example,
    submit,
)
from sqlalchemy import delete, event, func, select

from priorauth.service.models import Authorization, Case, Event, Listing, ListingCase

QUEUED = ("in_review", "in_appeal")


def pages(client: TestClient, url: str, who: dict[str, str] = REVIEWER) -> Iterator[Any]:
    """Each page of a list, following its Link rel="next" to the end."""
    following: str | None = url
    while following:
        r = client.get(following, headers=who)
        assert r.status_code == 200, r.text
        yield r
        following = r.links.get("next", {}).get("url")


def approved(client: TestClient, member: str, start: str) -> dict[str, Any]:
    body = example("nsclc-initial-approve")
    body["member"]["id"] = member
    body["date_of_service"] = start
    return submit(client, body)


def in_review(client: TestClient, member: str, urgency: str = "standard") -> dict[str, Any]:
    body = example("investigational-deny")
    body["member"]["id"] = member
    body["urgency"] = urgency
    return submit(client, body)


# --- the pagination contract --------------------------------------------------------------

LISTS = {
    "queue": ("/queue", "id"),
    "cases": ("/cases", "id"),
    "member authorizations": ("/members/M-PAGE/authorizations", "case_id"),
    "expiring": ("/authorizations/expiring?within_days=400", "case_id"),
}


@pytest.fixture
def five_of_each(client: TestClient, clock: FakeClock) -> dict[str, list[str]]:
    """Five cases in review, five approvals of one member; the clock still between some, so
    that rows tie on their first sort key and the order falls to the id."""
    made: dict[str, list[str]] = {"review": [], "approved": []}
    for i in range(5):
        made["review"].append(in_review(client, f"R-{i}")["id"])
        made["approved"].append(approved(client, "M-PAGE", f"2026-06-{10 + i % 3:02d}")["id"])
        if i % 2:
            clock.advance(minutes=1)
    return made


@pytest.mark.parametrize("name", LISTS)
def test_following_next_links_shows_every_row_once_in_the_lists_order(
    client: TestClient, five_of_each: dict[str, list[str]], name: str
) -> None:
    path, id_field = LISTS[name]
    sep = "&" if "?" in path else "?"
    whole = client.get(f"{path}{sep}limit=500", headers=REVIEWER)
    assert "link" not in whole.headers  # one page holds it all: no next page
    expected = [row[id_field] for row in whole.json()]
    assert len(expected) == (10 if name == "cases" else 5)
    paged = [r.json() for r in pages(client, f"{path}{sep}limit=2")]
    assert [len(p) for p in paged] == ([2, 2, 2, 2, 2] if name == "cases" else [2, 2, 1])
    assert [row[id_field] for p in paged for row in p] == expected


def test_the_link_header_is_rfc_8288_and_keeps_the_filters(
    client: TestClient, five_of_each: dict[str, list[str]]
) -> None:
    r = client.get("/cases?status=in_review&limit=3", headers=REVIEWER)
    link = r.headers["link"]
    assert link.startswith("<http") and link.endswith('>; rel="next"')
    following = r.links["next"]["url"]
    assert "status=in_review" in following and "limit=3" in following
    rest = client.get(following, headers=REVIEWER)
    assert [c["status"] for c in rest.json()] == ["in_review", "in_review"]
    assert "link" not in rest.headers


def test_a_list_is_fifty_by_default(client: TestClient) -> None:
    for i in range(51):
        in_review(client, f"D-{i}")
    first = client.get("/queue", headers=REVIEWER)
    assert len(first.json()) == 50
    assert len(client.get(first.links["next"]["url"], headers=REVIEWER).json()) == 1


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", ""])
def test_a_bad_limit_is_a_problem_naming_limit(client: TestClient, name: str, limit: str) -> None:
    path, _ = LISTS[name]
    sep = "&" if "?" in path else "?"
    assert_problem(client.get(f"{path}{sep}limit={limit}", headers=REVIEWER), 422, "limit")


def _next_cursor(client: TestClient, url: str) -> str:
    r = client.get(url, headers=REVIEWER)
    cursor: str = r.links["next"]["url"].split("cursor=")[1].split("&")[0]
    return cursor


def _altered(cursor: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[raw.index(b'"k":[') + 6] ^= 1  # one character of the sort key
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda c: "not-a-cursor", id="garbage"),
        pytest.param(lambda c: "", id="empty"),
        pytest.param(lambda c: c[:-3], id="truncated"),
        pytest.param(_altered, id="altered"),
        pytest.param(lambda c: "x" * 600, id="too long"),
    ],
)
def test_a_tampered_cursor_is_a_problem_naming_cursor(
    client: TestClient, five_of_each: dict[str, list[str]], make: Callable[[str], str]
) -> None:
    cursor = _next_cursor(client, "/queue?limit=2")
    r = client.get("/queue", params={"limit": 2, "cursor": make(cursor)}, headers=REVIEWER)
    assert_problem(r, 422, "cursor")


@pytest.mark.parametrize(
    "issued,used",
    [
        ("/queue?limit=2", "/cases?limit=2"),  # another list
        ("/cases?limit=2", "/cases?limit=2&status=approved"),  # other filters
        ("/cases?status=in_review&limit=2", "/cases?limit=2"),
        ("/members/M-PAGE/authorizations?limit=2", "/members/M-OTHER/authorizations?limit=2"),
        ("/authorizations/expiring?within_days=400&limit=2", "/authorizations/expiring?limit=2"),
    ],
)
def test_a_cursor_of_another_list_or_other_filters_is_refused(
    client: TestClient, five_of_each: dict[str, list[str]], issued: str, used: str
) -> None:
    cursor = _next_cursor(client, issued)
    doc = assert_problem(client.get(f"{used}&cursor={cursor}", headers=REVIEWER), 422, "cursor")
    assert "first page" in doc["detail"]


def test_a_submitter_pages_through_its_own_organizations_cases_only(
    client: TestClient, five_of_each: dict[str, list[str]]
) -> None:
    theirs = submit(client, "nsclc-initial-approve", headers=ADMIN)  # organization "plan"
    seen = [c for r in pages(client, "/cases?limit=3", SUBMITTER) for c in r.json()]
    assert len(seen) == 10 and theirs["id"] not in {c["id"] for c in seen}


# --- stable while cases change --------------------------------------------------------------

# What may happen between two page reads: a case comes into the queue (standard or expedited),
# a recommended denial is confirmed (it leaves), a denial is appealed (it comes back, due
# later), a case is withdrawn, an approval is submitted (in /cases only); the clock moves on or
# stays (rows then tie on their first sort key).
CHANGES = st.sampled_from(["expedited", "standard", "confirm", "appeal", "withdraw", "approve"])


def _ids(app: FastAPI, *where: Any) -> set[str]:
    with app.state.service.db.reading() as s:
        return set(s.scalars(select(Case.id).where(*where)))


def _change(client: TestClient, app: FastAPI, clock: FakeClock, what: str, pick: int) -> None:
    if what in ("expedited", "standard"):
        in_review(client, f"C-{pick}", what)
    elif what == "approve":
        approved(client, f"C-{pick}", "2026-06-15")
    else:
        status = {"confirm": "in_review", "appeal": "denied", "withdraw": "in_review"}[what]
        candidates = sorted(_ids(app, Case.status == status))
        if not candidates:
            return
        case_id = candidates[pick % len(candidates)]
        action, body, who = {
            "confirm": ("review", {"action": "confirm_denial", "reason": "r"}, REVIEWER),
            "appeal": ("appeal", {"reason": "new evidence"}, SUBMITTER),
            "withdraw": ("withdraw", {"reason": "no longer needed"}, SUBMITTER),
        }[what]
        r = client.post(f"/cases/{case_id}/{action}", json=body, headers=who)
        assert r.status_code == 200, r.text
    clock.advance(minutes=pick % 3)  # 0: the next rows tie with this one


LIVE_LISTS = {
    # name: (first page, the rows in the list now, the sort key of a shown row, descending)
    "queue": ("/queue", (Case.status.in_(QUEUED),), "due_by", False),
    "cases": ("/cases", (), "received_at", True),
    "cases in review": (
        "/cases?status=in_review",
        (Case.status == "in_review",),
        "received_at",
        True,
    ),
}


@pytest.mark.parametrize("name", LIVE_LISTS)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=st.lists(
        st.tuples(st.sampled_from(["expedited", "standard"]), st.integers(0, 99)), max_size=10
    ),
    limit=st.integers(1, 4),
    between=st.lists(st.lists(st.tuples(CHANGES, st.integers(0, 99)), max_size=3), max_size=8),
)
def test_paging_while_cases_change_shows_each_case_present_throughout_exactly_once(
    client: TestClient,
    app: FastAPI,
    clock: FakeClock,
    name: str,
    before: list[tuple[str, int]],
    limit: int,
    between: list[list[tuple[str, int]]],
) -> None:
    first, where, sort_key, descending = LIVE_LISTS[name]
    with app.state.service.db.session() as s:  # a clean database for this example
        for table in (ListingCase, Listing, Event, Authorization, Case):
            s.execute(delete(table))
    for what, pick in before:
        _change(client, app, clock, what, pick)
    at_start = _ids(app, *where)
    sep = "&" if "?" in first else "?"
    following: str | None = f"{first}{sep}limit={limit}"
    seen: list[dict[str, Any]] = []
    changed: set[str] = set()
    reads = 0
    while following:
        r = client.get(following, headers=REVIEWER)
        assert r.status_code == 200, r.text
        seen += r.json()
        following = r.links.get("next", {}).get("url")
        for what, pick in between[reads] if reads < len(between) else []:
            listed = _ids(app, *where)
            _change(client, app, clock, what, pick)
            changed |= listed ^ _ids(app, *where)
        reads += 1
    throughout = (at_start & _ids(app, *where)) - changed
    ids = [c["id"] for c in seen]
    assert len(ids) == len(set(ids)), "a case shown twice"
    assert throughout <= set(ids), f"skipped: {throughout - set(ids)}"
    keys = [(dt.datetime.fromisoformat(c[sort_key]), c["id"]) for c in seen]
    assert keys == sorted(keys, reverse=descending)


# --- the audit of listings ----------------------------------------------------------------


def test_a_listing_is_one_audit_row_and_in_each_shown_cases_history(
    client: TestClient, app: FastAPI, clock: FakeClock
) -> None:
    cases = []
    for i in range(3):
        cases.append(in_review(client, f"A-{i}"))
        clock.advance(minutes=20)  # due in this order
    assert len(client.get("/queue?limit=2", headers=REVIEWER).json()) == 2
    with app.state.service.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(Listing)) == 1
        assert s.scalar(select(func.count()).where(Event.action == "read")) == 0
        assert s.scalar(select(func.count()).select_from(ListingCase)) == 2
    clock.advance(hours=1)
    r = client.post(
        f"/cases/{cases[0]['id']}/review",
        json={"action": "confirm_denial", "reason": "not a listed indication"},
        headers=REVIEWER,
    )
    assert r.status_code == 200
    history = client.get(f"/cases/{cases[0]['id']}/history", headers=ADMIN).json()
    assert [(e["action"], e["actor"], e["to_status"]) for e in history] == [
        ("submitted", "Demo Oncology Clinic", "received"),
        ("evaluated", "Demo Oncology Clinic", "in_review"),
        ("read", "Pharmacist A", "in_review"),
        ("confirm_denial", "Pharmacist A", "denied"),
    ]
    read = history[2]
    assert read["at"] == (START + dt.timedelta(minutes=60)).isoformat()
    assert read["role"] == "reviewer" and read["detail"]["what"] == "queue"
    assert isinstance(read["detail"]["listing"], int)
    unlisted = client.get(f"/cases/{cases[2]['id']}/history", headers=ADMIN).json()
    assert "read" not in [e["action"] for e in unlisted]


def test_each_page_read_is_its_own_listing_in_the_history(
    client: TestClient, five_of_each: dict[str, list[str]], clock: FakeClock
) -> None:
    for _ in pages(client, "/cases?limit=4"):
        clock.advance(minutes=5)
    for _ in range(2):
        client.get("/queue?limit=500", headers=REVIEWER)
    case_id = five_of_each["review"][0]
    reads = [
        e["detail"]
        for e in client.get(f"/cases/{case_id}/history", headers=ADMIN).json()
        if e["action"] == "read" and e["actor"] == "Pharmacist A"
    ]
    assert [d["what"] for d in reads] == ["case list", "queue", "queue"]
    assert len({d["listing"] for d in reads}) == 3


# --- the indexes: every statement of a page reads an index range, never the whole table ------


@pytest.fixture
def sqlite_statements(app: FastAPI, app_db_url: str) -> Iterator[list[tuple[str, Any]]]:
    if not app_db_url.startswith("sqlite"):
        pytest.skip("SQLite's query plans (PostgreSQL's depend on its statistics)")
    seen: list[tuple[str, Any]] = []
    engine = app.state.service.db.engine

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        # The service's own reads (the FHIR adapter's notifier thread reads its tables too).
        if statement.lstrip().upper().startswith("SELECT") and "fhir_" not in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize(
    "path",
    [
        "/queue?limit=2",
        "/cases?limit=2",
        "/cases?limit=2&status=in_review",
        "/members/M-PAGE/authorizations?limit=2",
        "/authorizations/expiring?within_days=400&limit=2",
    ],
)
def test_a_later_page_and_the_history_search_indexes_on_sqlite(
    client: TestClient,
    app: FastAPI,
    five_of_each: dict[str, list[str]],
    sqlite_statements: list[tuple[str, Any]],
    path: str,
) -> None:
    second = client.get(f"{path}&cursor={_next_cursor(client, path)}", headers=REVIEWER)
    client.get(f"/cases/{five_of_each['review'][0]}/history", headers=REVIEWER)
    assert second.status_code == 200
    plans = []
    with app.state.service.db.engine.connect() as conn:
        for statement, parameters in sqlite_statements:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            plans.append((statement, [row[-1] for row in rows]))
    for statement, plan in plans:
        for step in plan:
            # SCAN of a table (not of an index) reads every row; a TEMP B-TREE sorts them.
            assert not (step.startswith("SCAN") and "INDEX" not in step), (statement, plan)
            assert "TEMP B-TREE" not in step or "DISTINCT" in step, (statement, plan)


@pytest.mark.parametrize(
    "path",
    ["/queue", "/cases", "/members/{member_id}/authorizations", "/authorizations/expiring"],
)
def test_the_openapi_document_declares_limit_cursor_and_the_link_header(
    client: TestClient, path: str
) -> None:
    operation = client.get("/openapi.json").json()["paths"][path]["get"]
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 500)
    assert limit["schema"]["default"] == 50
    assert "cursor" in [p["name"] for p in operation["parameters"]]
    assert "Link" in operation["responses"]["200"]["headers"]
