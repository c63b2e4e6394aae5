"""The queue benchmark: GET /queue's first page and a page from the middle of the queue, with
100, 10,000 and 100,000 cases in review, on SQLite and PostgreSQL, through a real server.

For each database and size: a fresh database, migrated, filled directly (one case submitted
through the service, then copied row by row in bulk inserts: a new id, member, receipt and due
time each, a third of them expedited); PostgreSQL is then ANALYZEd, as autovacuum would. Then
`priorauth serve` (one worker) on loopback, a warm-up, and `--requests` sequential GETs on one
keep-alive connection for each page: the first page (`limit=50`), and the page that starts
halfway down the queue (its cursor made as the service makes it), the servers of every
size up at once and their requests interleaved in a new random order each round. Every GET
is what a client does: it expires overdue pends, reads the page, writes its listing (one row
and 50 ids) and answers JSON. Prints a table and writes var/bench/queue.json (outside the
tracked tree).

    .venv/bin/python bench/api/queue_pages.py         # both databases, about 6 minutes
    .venv/bin/python bench/api/queue_pages.py --databases sqlite --sizes 100,100000 --requests 100

Target: p50 at 100,000 cases within 2x of p50 at 100 cases, for each page and database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import serverproc  # noqa: E402
from serverproc import Server, fresh_postgres, postgres_url  # noqa: E402

from priorauth.engine.engine import Engine  # noqa: E402
from priorauth.service import paging  # noqa: E402
from priorauth.service.auth import Principal  # noqa: E402
from priorauth.service.config import Settings  # noqa: E402
from priorauth.service.db import Database  # noqa: E402
from priorauth.service.migrate import upgrade  # noqa: E402
from priorauth.service.models import Case, Event  # noqa: E402
from priorauth.service.workflow import Service  # noqa: E402

# The server this interpreter's environment has (the repository's .venv, or another one).
serverproc.PRIORAUTH = Path(sys.executable).parent / "priorauth"
PG_DATABASE = "priorauth_bench_queue"
REVIEWER = {"Authorization": "Bearer demo-reviewer-key"}
CHUNK = 5000
TARGET_RATIO = 2.0


def fill(url: str, n: int) -> float:
    """`n` cases in review, the first through the service, the rest copied in bulk; seconds."""
    t0 = time.perf_counter()
    db = Database(url)
    upgrade(db.engine)
    service = Service(db, Engine(), Settings(database_url=url))
    body = json.loads((ROOT / "examples" / "investigational-deny.json").read_text())
    clinic = Principal("Bench Clinic", "submitter", "bench-clinic")
    first, _ = service.submit(clinic, body, None)
    with db.reading() as s:
        template = dict(s.execute(select(Case.__table__).where(Case.id == first.id)).one()._mapping)
    now = dt.datetime.now(dt.UTC)
    rows = []
    for i in range(1, n):
        urgency = "expedited" if i % 3 == 0 else "standard"
        received = now - dt.timedelta(seconds=n - i)
        rows.append(
            {
                **template,
                "id": str(uuid.uuid4()),
                "member_id": f"B-{i:07d}",
                "urgency": urgency,
                "received_at": received,
                "due_by": service.due_by(received, urgency),
            }
        )
    with db.session() as s:
        for start in range(0, len(rows), CHUNK):
            s.execute(insert(Case.__table__), rows[start : start + CHUNK])
    if not db.is_sqlite:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    with db.reading() as s:
        assert s.scalar(select(func.count()).where(Case.status == "in_review")) == n
    db.engine.dispose()
    return time.perf_counter() - t0


def middle_cursor(url: str, n: int) -> str:
    """The cursor of the page that starts halfway down the queue, as the service makes it."""
    db = Database(url)
    with db.reading() as s:
        row = s.execute(
            select(Case.due_by, Case.id)
            .where(Case.status == "in_review")
            .order_by(Case.due_by, Case.id)
            .offset(min(n // 2, n - 51))  # a whole page after it
            .limit(1)
        ).one()
        horizon = s.scalar(select(func.max(Event.id))) or 0
    db.engine.dispose()
    scope = {"status": None, "drug": None, "org": None}
    return paging.encode("queue", scope, (row.due_by, row.id, horizon))


def one_get(client: httpx.Client, url: str) -> float:
    t0 = time.perf_counter()
    r = client.get(url, headers=REVIEWER)
    took = (time.perf_counter() - t0) * 1000
    if r.status_code != 200 or len(r.json()) != 50:
        raise RuntimeError(f"GET {url}: {r.status_code} {r.text[:200]}")
    return took


def summary(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
        "max_ms": round(ms[-1], 2),
    }


def run_database(urls: dict[int, str], requests: int, log: Path) -> list[dict[str, Any]]:
    """Every size's server up at once, and their requests interleaved in a shuffled order each
    round: a neighbour's load on this shared machine then weighs on every size alike."""
    filled = {n: fill(url, n) for n, url in urls.items()}
    pages = {
        n: ("/queue?limit=50", f"/queue?limit=50&cursor={middle_cursor(url, n)}")
        for n, url in urls.items()
    }
    servers = {
        n: Server(url, workers=1, log=log, extra_env={"PRIORAUTH_ACCESS_LOG": "0"})
        for n, url in urls.items()
    }
    times: dict[tuple[int, int], list[float]] = {(n, p): [] for n in urls for p in (0, 1)}
    try:
        for server in servers.values():
            server.start()
        clients = {n: httpx.Client(base_url=servers[n].base, timeout=30) for n in urls}
        order = list(times)
        for round_no in range(requests + 20):  # the first 20: warm-up, not counted
            random.shuffle(order)
            for n, p in order:
                took = one_get(clients[n], pages[n][p])
                if round_no >= 20:
                    times[(n, p)].append(took)
        for client in clients.values():
            client.close()
    finally:
        for server in servers.values():
            server.stop()
    return [
        {
            "cases": n,
            "fill_s": round(filled[n], 1),
            "first_page": summary(times[(n, 0)]),
            "middle_page": summary(times[(n, 1)]),
        }
        for n in urls
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="100,10000,100000")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    out_dir = ROOT / "var" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "queue-server.log"
    results: list[dict[str, Any]] = []
    for database in args.databases.split(","):
        base = postgres_url() if database == "postgresql" else None
        if database == "postgresql" and not base:
            print("postgresql: not available (scripts/postgres-for-tests.sh); skipped")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            urls = {
                n: f"sqlite:///{tmp}/queue-{n}.db"
                if database == "sqlite"
                else fresh_postgres(str(base), f"{PG_DATABASE}_{n}")
                for n in sizes
            }
            rows = [{"database": database, **r} for r in run_database(urls, args.requests, log)]
        for row in rows:
            n = row["cases"]
            results.append(row)
            print(
                f"{database:<11} {n:>7,} cases  filled in {row['fill_s']:>5.1f} s   "
                f"first page p50 {row['first_page']['p50_ms']:>6.2f} ms "
                f"(p95 {row['first_page']['p95_ms']:>6.2f})   "
                f"middle page p50 {row['middle_page']['p50_ms']:>6.2f} ms "
                f"(p95 {row['middle_page']['p95_ms']:>6.2f})",
                flush=True,
            )
    verdict = []
    for database in {r["database"] for r in results}:
        mine = sorted((r for r in results if r["database"] == database), key=lambda r: r["cases"])
        if len(mine) < 2:
            continue
        for page in ("first_page", "middle_page"):
            ratio = mine[-1][page]["p50_ms"] / mine[0][page]["p50_ms"]
            verdict.append(
                {
                    "database": database,
                    "page": page,
                    "ratio": round(ratio, 2),
                    "met": ratio <= TARGET_RATIO,
                }
            )
            print(
                f"{database:<11} {page.replace('_', ' ')}: p50 at {mine[-1]['cases']:,} / at "
                f"{mine[0]['cases']:,} = {ratio:.2f} "
                f"({'met' if ratio <= TARGET_RATIO else 'MISSED'}: target <= {TARGET_RATIO})"
            )
    (out_dir / "queue.json").write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": len(os.sched_getaffinity(0)),
                },
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "requests": args.requests,
                "results": results,
                "verdict": verdict,
            },
            indent=2,
        )
    )
    return 0 if all(v["met"] for v in verdict) else 1


if __name__ == "__main__":
    raise SystemExit(main())
