#!/usr/bin/env python3
"""Crash test: every acknowledged case survives a kill -9 of the server, exactly once.

For each database (a fresh SQLite file, and a fresh PostgreSQL database when one is available):

1. start a real server process (`priorauth serve`) in its own process group; wait for /health;
2. send a burst of POST /cases from several threads, each request with a unique member id and a
   unique Idempotency-Key; a 201/200 answer with a case id is "acknowledged";
3. `kill -9` the server's whole process group in the middle of the burst (once a share of the
   requests has been acknowledged), so some requests are in flight and some never sent;
4. restart the server on the same database; retry every request that was not acknowledged and
   replay every acknowledged one, each with its original Idempotency-Key;
5. check through the API (admin key): every acknowledged case exists with its member; every
   member has exactly one case; every replay returned the acknowledged case; every retry returned
   one case, the one now on file; no case beyond the burst's.

Prints PASS/FAIL with counts per database; exit status 0 when all pass, 1 on any failure,
2 when the test could not run (server did not start, no PostgreSQL when asked for it).

    .venv/bin/python scripts/reliability.py [--database sqlite|postgresql|both] [--requests 300]

A kill -9 tests the server process dying, not the machine losing power: committed data that
sits in the OS page cache survives the former and is what this script can prove.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serverproc import PRIORAUTH, ROOT, Server, free_port, fresh_postgres, postgres_url

SUBMITTER = {"Authorization": "Bearer demo-submitter-key"}
ADMIN = {"Authorization": "Bearer demo-admin-key"}
PG_DATABASE = "priorauth_reliability"


# --- the server and the databases: scripts/serverproc.py -------------------------------


def fresh_sqlite(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'reliability.db'}"


# --- the burst --------------------------------------------------------------------------


def example_bodies() -> list[dict[str, Any]]:
    files = sorted(p for p in (ROOT / "examples").glob("*.json") if p.name != "expected.json")
    return [json.loads(p.read_text()) for p in files]


@dataclass
class Item:
    index: int
    key: str
    member: str
    body: bytes
    first: str = "not sent"  # acked | error | not sent
    first_status: int | None = None
    first_case: str | None = None
    first_error: str = ""
    second: str = ""  # the outcome after the restart
    second_status: int | None = None
    second_case: str | None = None


@dataclass
class Outcome:
    database: str
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    def fail(self, message: str) -> None:
        self.ok = False
        if len(self.problems) < 20:
            self.problems.append(message)
        elif len(self.problems) == 20:
            self.problems.append("... (more problems left out)")


def make_items(n: int, run: str) -> list[Item]:
    bodies = example_bodies()
    items = []
    for i in range(n):
        body = json.loads(json.dumps(bodies[i % len(bodies)]))
        member = f"REL-{run}-{i:05d}"
        body["member"]["id"] = member
        items.append(Item(i, f"rel-{run}-{i:05d}", member, json.dumps(body).encode()))
    return items


def post(client: httpx.Client, base: str, item: Item) -> tuple[int, str | None]:
    r = client.post(
        f"{base}/cases",
        content=item.body,
        headers={**SUBMITTER, "Idempotency-Key": item.key, "Content-Type": "application/json"},
    )
    case_id = None
    if r.status_code in (200, 201):
        case_id = r.json().get("id")
    return r.status_code, case_id


def burst(server: Server, items: list[Item], threads: int, kill_after: int) -> dict[str, Any]:
    """Send items from `threads` threads; kill -9 the server once `kill_after` are acked."""
    todo: Queue[Item] = Queue()
    for item in items:
        todo.put(item)
    lock = threading.Lock()
    acked = 0
    killed = threading.Event()
    killed_at: dict[str, float] = {}
    start = time.monotonic()

    def worker() -> None:
        nonlocal acked
        with httpx.Client(timeout=30.0) as client:
            while True:
                try:
                    item = todo.get_nowait()
                except Empty:
                    return
                if killed.is_set():
                    continue  # the server is gone: leave the rest "not sent"
                try:
                    status, case_id = post(client, server.base, item)
                except httpx.HTTPError as exc:
                    item.first, item.first_error = "error", type(exc).__name__
                    continue
                item.first_status = status
                if status in (200, 201) and case_id:
                    item.first, item.first_case = "acked", case_id
                    with lock:
                        acked += 1
                        if acked >= kill_after and not killed.is_set():
                            killed.set()
                            killed_at["t"] = time.monotonic() - start
                            server.kill()
                else:
                    item.first, item.first_error = "error", f"HTTP {status}"

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if not killed.is_set():  # fewer acks than planned: kill anyway, the test goes on
        server.kill()
    return {"killed_after_s": round(killed_at.get("t", time.monotonic() - start), 3)}


def retry_all(server: Server, items: list[Item], threads: int) -> None:
    """After the restart: every request again, same Idempotency-Key (acked ones are replays)."""
    todo: Queue[Item] = Queue()
    for item in items:
        todo.put(item)

    def worker() -> None:
        with httpx.Client(timeout=30.0) as client:
            while True:
                try:
                    item = todo.get_nowait()
                except Empty:
                    return
                try:
                    status, case_id = post(client, server.base, item)
                except httpx.HTTPError as exc:
                    item.second, item.second_status = f"error {type(exc).__name__}", None
                    continue
                item.second_status, item.second_case = status, case_id
                item.second = "ok" if status in (200, 201) and case_id else f"HTTP {status}"

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def verify(server: Server, items: list[Item], run: str, out: Outcome) -> None:
    with httpx.Client(timeout=30.0, headers=ADMIN) as client:
        on_file: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            r = client.get(f"{server.base}/cases", params={"member_id": item.member})
            if r.status_code != 200:
                out.fail(f"GET /cases?member_id={item.member}: HTTP {r.status_code}")
                continue
            on_file[item.member] = r.json()
        for item in items:
            cases = on_file.get(item.member)
            if cases is None:
                continue
            ids = [c["id"] for c in cases]
            if len(ids) != 1:
                out.fail(f"{item.member} ({item.key}): {len(ids)} cases on file {ids}")
            if item.first == "acked":
                if item.first_case not in ids:
                    out.fail(f"{item.member}: acknowledged case {item.first_case} is missing")
                else:
                    r = client.get(f"{server.base}/cases/{item.first_case}")
                    if r.status_code != 200 or r.json().get("member_id") != item.member:
                        out.fail(f"GET /cases/{item.first_case}: HTTP {r.status_code}")
                if item.second_status != 200 or item.second_case != item.first_case:
                    out.fail(
                        f"{item.key}: replay after restart gave HTTP {item.second_status} "
                        f"case {item.second_case}, acknowledged {item.first_case} "
                        "(want 200 and the same case)"
                    )
            else:
                if item.second != "ok":
                    out.fail(f"{item.key}: retry after restart failed: {item.second}")
                elif ids and item.second_case != ids[0]:
                    out.fail(f"{item.key}: retry gave {item.second_case}, on file {ids[0]}")
        # Nothing beyond the burst: every case the server holds belongs to one of our members.
        ours: list[dict[str, Any]] = []
        following: str | None = f"{server.base}/cases?limit=500"
        while following:  # the list comes a page at a time; the Link header names the next
            r = client.get(following)
            if r.status_code != 200:
                out.fail(f"GET /cases: {r.status_code}")
                return
            ours += [c for c in r.json() if c["member_id"].startswith(f"REL-{run}-")]
            following = r.links.get("next", {}).get("url")
        out.counts["cases_on_file"] = len(ours)
        if len(ours) != len(items):
            out.fail(f"{len(ours)} cases on file for {len(items)} distinct requests")


def run_one(name: str, url: str, args: argparse.Namespace, workdir: Path) -> Outcome:
    out = Outcome(name)
    run = uuid.uuid4().hex[:8]
    items = make_items(args.requests, run)
    server = Server(url, args.workers, workdir / f"server-{name}.log", port=free_port())
    t0 = time.monotonic()
    try:
        server.start()
        kill_after = max(1, int(args.requests * args.kill_at))
        info = burst(server, items, args.threads, kill_after)
        server.start()  # same database, same port
        retry_all(server, items, args.threads)
        verify(server, items, run, out)
    except RuntimeError as exc:
        out.fail(f"could not run: {exc}")
        out.counts["setup_error"] = True
        info = {}
    finally:
        server.stop()
    first = Counter(i.first for i in items)
    acked = [i for i in items if i.first == "acked"]
    unacked = [i for i in items if i.first != "acked"]
    out.counts.update(
        {
            "requests": len(items),
            "acknowledged": first["acked"],
            "acknowledged_201": sum(i.first_status == 201 for i in acked),
            "failed_in_flight": first["error"],
            "not_sent": first["not sent"],
            "retried": len(unacked),
            "retry_201_new": sum(i.second_status == 201 for i in unacked),
            "retry_200_committed_before_crash": sum(i.second_status == 200 for i in unacked),
            "replayed_acked_200_same_case": sum(
                i.second_status == 200 and i.second_case == i.first_case for i in acked
            ),
            "seconds": round(time.monotonic() - t0, 2),
            **info,
        }
    )
    errors = Counter(i.first_error for i in items if i.first == "error")
    if errors:
        out.counts["in_flight_errors"] = dict(errors)
    if not out.ok:
        out.counts["server_log"] = str(server.log)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--database",
        choices=("sqlite", "postgresql", "both"),
        default=None,
        help="default: both when a PostgreSQL URL is available, else sqlite",
    )
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--workers", type=int, default=1, help="server worker processes")
    p.add_argument(
        "--kill-at",
        type=float,
        default=0.4,
        help="kill -9 once this share of the requests is acknowledged",
    )
    p.add_argument("--json", type=Path, help="also write the outcome as JSON here")
    args = p.parse_args(argv)
    if not PRIORAUTH.exists():
        print(f"error: {PRIORAUTH} missing; create the venv first (make test)", file=sys.stderr)
        return 2

    pg = postgres_url() if args.database != "sqlite" else None
    which = args.database or ("both" if pg else "sqlite")
    if which in ("postgresql", "both") and not pg:
        print(
            "error: no PostgreSQL URL (PRIORAUTH_TEST_POSTGRES_URL or "
            "scripts/postgres-for-tests.sh)",
            file=sys.stderr,
        )
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="priorauth-reliability-"))
    outcomes: list[Outcome] = []
    try:
        if which in ("sqlite", "both"):
            outcomes.append(run_one("sqlite", fresh_sqlite(workdir), args, workdir))
        if which in ("postgresql", "both"):
            assert pg is not None
            outcomes.append(run_one("postgresql", fresh_postgres(pg, PG_DATABASE), args, workdir))
    finally:
        keep = any(not o.ok for o in outcomes)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"\nreliability: {args.requests} submissions, {args.threads} threads, "
        f"server --workers {args.workers}, kill -9 after {args.kill_at:.0%} acknowledged"
    )
    for o in outcomes:
        c = o.counts
        print(f"\n[{'PASS' if o.ok else 'FAIL'}] {o.database}")
        print(
            f"  acknowledged before the crash   {c.get('acknowledged', 0):>5} "
            f"(killed at {c.get('killed_after_s', '?')} s)"
        )
        print(
            f"  in flight at the crash (failed) {c.get('failed_in_flight', 0):>5} "
            f"{c.get('in_flight_errors', '')}"
        )
        print(f"  never sent                      {c.get('not_sent', 0):>5}")
        print(
            f"  retried after restart           {c.get('retried', 0):>5}: "
            f"{c.get('retry_201_new', 0)} new (201), "
            f"{c.get('retry_200_committed_before_crash', 0)} already on file (200)"
        )
        print(f"  acknowledged, replayed -> same  {c.get('replayed_acked_200_same_case', 0):>5}")
        print(
            f"  cases on file / requests        {c.get('cases_on_file', '?')} / "
            f"{c.get('requests', 0)}"
        )
        print(f"  seconds                         {c.get('seconds', 0):>5}")
        for msg in o.problems:
            print(f"  problem: {msg}")
        if not o.ok:
            print(f"  server log kept: {c.get('server_log')}")
    ok = bool(outcomes) and all(o.ok for o in outcomes)
    print(
        f"\n{'PASS' if ok else 'FAIL'}: "
        + ", ".join(f"{o.database} {'pass' if o.ok else 'FAIL'}" for o in outcomes)
    )
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))
    if any(o.counts.get("setup_error") for o in outcomes):
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
