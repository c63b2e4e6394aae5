#!/usr/bin/env python3
"""Soak test: the real service through a stretch of mixed traffic, memory and latency watched.

1. start `priorauth serve --workers 2` on 127.0.0.1 with a fresh database (a temporary SQLite
   file, or with `--db postgres` a fresh PostgreSQL database next to PRIORAUTH_TEST_POSTGRES_URL
   or scripts/postgres-for-tests.sh's) and the demo keys;
2. drive mixed traffic at about `--rate` requests a second (open loop: requests leave on schedule
   whatever the answers' latency) for `--minutes`: JSON API cases (approved, pended then answered,
   investigational denial, the other examples), queue and case reads, PAS Claim/$submit, CRD
   order-sign, DTR $questionnaire-package, and drugs no policy covers, on the JSON API and PAS;
   every submission with its own member and Idempotency-Key (or claim identifier);
3. print each worker's RSS after the warm-up (the first `--warmup` seconds), half-way and at the
   end; p50/p99 latency and 5xx per minute; status counts per kind of request;
4. check that every acknowledged case can be read and is on file once (GET /cases?member_id=);
5. end with one line: SOAK PASS|FAIL ...; exit 1 on a lost or duplicated case, on any 5xx, on
   a PAS answer for a drug no policy covers that is not "no action required" (NA, and no case),
   or when the server died; 2 when the test could not run.

Its own time limit: the traffic stops after `--minutes`, and the check of the cases stops at
`--minutes` + 1 minute from the start (saying how many it could check).

    python scripts/soak.py [--minutes 10] [--rate 18] [--db sqlite|postgres] [--workers 2]
    python scripts/soak.py --first-requests   # what the first request of each kind costs

`--first-requests` starts one worker and times the first three requests of each kind, in order
(DTR first, since it used to pay for the ICD-10-CM code set).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serverproc
from serverproc import ROOT, Server, fresh_postgres, postgres_url

# The service this interpreter's environment installs (a worktree has no .venv of its own).
serverproc.PRIORAUTH = Path(sys.executable).parent / "priorauth"

SUBMITTER = {"Authorization": "Bearer demo-submitter-key"}
REVIEWER = {"Authorization": "Bearer demo-reviewer-key"}
ADMIN = {"Authorization": "Bearer demo-admin-key"}
FHIR = {**SUBMITTER, "Content-Type": "application/fhir+json"}
EXAMPLES = ROOT / "examples"
UNCOVERED = "uncovered"  # the kinds of request whose 5xx is known (drugs no policy covers)
PG_DATABASE = "priorauth_soak"


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return data


# --- the traffic -------------------------------------------------------------------------------


@dataclass
class Sent:
    kind: str
    at: float  # seconds since the traffic started
    ms: float
    status: int  # 0: no answer (connection failed or timed out)


@dataclass
class Ack:
    member: str
    case_id: str | None  # None when the answer does not name the case (PAS: read by member)


@dataclass
class Book:
    """What the traffic did, shared by its threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: list[Sent] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    recent: list[str] = field(default_factory=list)  # case ids to read back
    failures: list[str] = field(default_factory=list)
    wrong: int = 0  # answers of the wrong kind (a drug no policy covers, not answered NA)

    def record(self, kind: str, t0: float, started: float, status: int) -> None:
        ms = (time.perf_counter() - started) * 1000
        with self.lock:
            self.sent.append(Sent(kind, started - t0, ms, status))

    def ack(self, member: str, case_id: str | None) -> None:
        with self.lock:
            self.acks.append(Ack(member, case_id))
            if case_id:
                self.recent.append(case_id)
                del self.recent[:-200]

    def note(self, text: str) -> None:
        with self.lock:
            if len(self.failures) < 20:
                self.failures.append(text)


class Traffic:
    """The kinds of request, each a function of (client, unique number), and their weights."""

    def __init__(self, base: str, book: Book, t0: float, run: str) -> None:
        self.base, self.book, self.t0, self.run = base, book, t0, run
        self.json_examples = {
            "approve": example("nsclc-initial-approve.json"),
            "pend": example("nsclc-initial-pend.json"),
            "investigational": example("investigational-deny.json"),
            "others": [
                example(n)
                for n in (
                    "crc-initial-approve.json",
                    "nsclc-initial-partial.json",
                    "nsclc-renewal-approve.json",
                    "krazati-crc-initial-approve.json",
                    "tagrisso-first-line-approve.json",
                    "tagrisso-adjuvant-approve.json",
                )
            ],
        }
        self.pas = [
            example(f"fhir/pas-{n}.json")
            for n in ("approve", "pend", "partial", "deny", "investigational", "pend-answered")
        ]
        self.crd = example("fhir/crd-order-sign-lumakras.json")
        self.dtr = example("fhir/dtr-questionnaire-package.json")
        self.kinds: list[tuple[str, int, Callable[[httpx.Client, int], None]]] = [
            ("cases approve", 12, self.approve),
            ("cases pend+answer", 10, self.pend_and_answer),
            ("cases investigational", 6, self.investigational),
            ("cases other", 8, self.other_case),
            (f"cases {UNCOVERED}", 3, self.uncovered_case),
            ("queue+review", 10, self.queue_and_review),
            ("case read", 6, self.read_case),
            ("pas submit", 14, self.pas_submit),
            (f"pas {UNCOVERED}", 3, self.pas_uncovered),
            ("crd order-sign", 10, self.order_sign),
            ("dtr package", 6, self.dtr_package),
        ]
        self.weights = [w for _, w, _ in self.kinds]
        # Kinds that send two requests (a submission then its answer; the queue then a review):
        # the schedule counts requests, not kinds.
        double = sum(w for k, w, _ in self.kinds if k in ("cases pend+answer", "queue+review"))
        self.requests_per_kind = 1 + double / sum(self.weights)
        self.rng = random.Random(7)

    def member(self, n: int) -> str:
        return f"SOAK-{self.run}-{n:06d}"

    def send(
        self, client: httpx.Client, kind: str, method: str, path: str, **kw: Any
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            r = client.request(method, self.base + path, **kw)
        except httpx.HTTPError as exc:
            self.book.record(kind, self.t0, started, 0)
            self.book.note(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        self.book.record(kind, self.t0, started, r.status_code)
        if r.status_code >= 500 and UNCOVERED not in kind:
            self.book.note(f"{kind}: {r.status_code} {r.text[:200]}")
        return r

    def case(self, client: httpx.Client, n: int, body: dict[str, Any], kind: str = "") -> Any:
        body = copy.deepcopy(body)
        member = self.member(n)
        body["member"]["id"] = member
        headers = {**SUBMITTER, "Idempotency-Key": f"soak-{self.run}-{n}"}
        r = self.send(client, kind or "cases", "POST", "/cases", json=body, headers=headers)
        if r is not None and r.status_code in (200, 201):
            case_id = r.json().get("id")
            self.book.ack(member, case_id)
            return case_id
        return None

    def approve(self, client: httpx.Client, n: int) -> None:
        self.case(client, n, self.json_examples["approve"], "cases approve")

    def investigational(self, client: httpx.Client, n: int) -> None:
        self.case(client, n, self.json_examples["investigational"], "cases investigational")

    def pend_and_answer(self, client: httpx.Client, n: int) -> None:
        case_id = self.case(client, n, self.json_examples["pend"], "cases pend+answer")
        if case_id is None:
            return
        answers = {
            "answers": {"initial.nsclc.kras_g12c": True},
            "attestations": {"liver_function_monitoring": True},
        }
        self.send(
            client,
            "cases answer",
            "POST",
            f"/cases/{case_id}/information",
            json=answers,
            headers=SUBMITTER,
        )

    def other_case(self, client: httpx.Client, n: int) -> None:
        others = self.json_examples["others"]
        self.case(client, n, others[n % len(others)], "cases other")

    def uncovered_case(self, client: httpx.Client, n: int) -> None:
        body = copy.deepcopy(self.json_examples["approve"])
        body["medication"]["name"] = f"Nocoverol {n % 50}"  # no policy covers it
        self.case(client, n, body, f"cases {UNCOVERED}")

    def queue(self, client: httpx.Client, n: int) -> Any:
        r = self.send(client, "queue", "GET", "/queue", headers=REVIEWER)
        return r.json() if r is not None and r.status_code == 200 else []

    def queue_and_review(self, client: httpx.Client, n: int) -> None:
        """A pharmacist reads the queue and confirms the most urgent recommended denial (about
        as many as arrive: the queue stays the size of a working day's)."""
        waiting = [c for c in self.queue(client, n) if c.get("status") == "in_review"]
        if not waiting:
            return
        body = {"action": "confirm_denial", "reason": "not a listed indication (soak)"}
        path = f"/cases/{waiting[0]['id']}/review"
        self.send(client, "review", "POST", path, json=body, headers=REVIEWER)

    def read_case(self, client: httpx.Client, n: int) -> None:
        with self.book.lock:
            recent = list(self.book.recent)
        if not recent:
            return self.queue(client, n)
        case_id = recent[n % len(recent)]
        self.send(client, "case read", "GET", f"/cases/{case_id}", headers=SUBMITTER)
        return None

    def _pas_body(self, n: int, bundle: dict[str, Any], drug: str | None = None) -> dict[str, Any]:
        body = copy.deepcopy(bundle)
        for entry in body["entry"]:
            res = entry["resource"]
            if res["resourceType"] == "Claim":
                res["identifier"][0]["value"] = f"SOAK-{self.run}-{n}"
                if drug:
                    for item in res.get("item", []):
                        item["productOrService"] = {"text": drug}
            elif res["resourceType"] == "Coverage":
                res["subscriberId"] = self.member(n)
            elif drug and res["resourceType"] == "MedicationRequest":
                res["medicationCodeableConcept"] = {"text": drug}
        return body

    def pas_submit(self, client: httpx.Client, n: int, drug: str | None = None) -> None:
        kind = f"pas {UNCOVERED}" if drug else "pas submit"
        body = self._pas_body(n, self.pas[n % len(self.pas)], drug)
        r = self.send(client, kind, "POST", "/fhir/Claim/$submit", json=body, headers=FHIR)
        if r is None or r.status_code != 200:
            return
        if drug is None:
            self.book.ack(self.member(n), None)
        elif '"NA"' not in r.text:
            # A drug no policy covers is answered "no action required" (X12 306 NA), no case.
            self.book.note(f"PAS {drug}: answered without review action NA")
            with self.book.lock:
                self.book.wrong += 1

    def pas_uncovered(self, client: httpx.Client, n: int) -> None:
        self.pas_submit(client, n, f"Nocoverol {n % 50} MG Oral Tablet")

    def order_sign(self, client: httpx.Client, n: int) -> None:
        body = copy.deepcopy(self.crd)
        body["hookInstance"] = str(uuid.uuid4())
        self.send(
            client,
            "crd order-sign",
            "POST",
            "/cds-services/priorauth-order-sign",
            json=body,
            headers=SUBMITTER,
        )

    def dtr_package(self, client: httpx.Client, n: int) -> None:
        path = "/fhir/Questionnaire/$questionnaire-package"
        self.send(client, "dtr package", "POST", path, json=self.dtr, headers=FHIR)


def drive(traffic: Traffic, rate: float, until: float, numbers: itertools.count[int]) -> None:
    """Requests on schedule, `rate` a second, from a pool of threads, until `until`."""
    local = threading.local()
    rng = traffic.rng

    def client() -> httpx.Client:
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = httpx.Client(timeout=30.0)
        return c

    def one(fn: Callable[[httpx.Client, int], None], n: int) -> None:
        try:
            fn(client(), n)
        except Exception as exc:  # a bug in this script must not stop the soak
            traffic.book.note(f"script error: {type(exc).__name__}: {exc}")

    per_second = rate / traffic.requests_per_kind
    with ThreadPoolExecutor(max_workers=24) as pool:
        start = time.perf_counter()
        for i in itertools.count():
            due = start + i / per_second
            if due >= until:
                break
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            [(_, _, fn)] = rng.choices(traffic.kinds, weights=traffic.weights)
            pool.submit(one, fn, next(numbers))


# --- the workers' memory -----------------------------------------------------------------------


def worker_pids(master: int) -> list[int]:
    """uvicorn's worker processes: the master's children but multiprocessing's trackers; the
    master itself when it serves alone."""
    kids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == master and b"resource_tracker" not in cmd:
            kids.append(int(d.name))
    return sorted(kids) or [master]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- the check of the cases --------------------------------------------------------------------


def check_on_file(url: str, acks: list[Ack]) -> tuple[int, int, int]:
    """(on file once, lost, duplicated): every acknowledged member's cases in the database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, member_id FROM cases")).all()
    finally:
        engine.dispose()
    by_member: dict[str, list[str]] = defaultdict(list)
    for case_id, member in rows:
        by_member[member].append(case_id)
    once = lost = dup = 0
    for ack in acks:
        found = by_member.get(ack.member, [])
        if not found or (ack.case_id is not None and ack.case_id not in found):
            lost += 1
        elif len(found) > 1:
            dup += 1
        else:
            once += 1
    return once, lost, dup


def check_cases(base: str, acks: list[Ack], deadline: float) -> tuple[int, int, int, int]:
    """(checked, retrievable once, lost, duplicated): acknowledged members' cases read back
    through the API (GET /cases?member_id=, and the case itself), in random order, until the
    deadline."""
    acks = random.Random(1).sample(acks, len(acks))
    lost = dup = once = checked = 0
    lock = threading.Lock()
    local = threading.local()

    def one(ack: Ack) -> None:
        nonlocal lost, dup, once, checked
        if time.monotonic() > deadline:
            return
        c = getattr(local, "client", None)
        if c is None:
            c = local.client = httpx.Client(timeout=30.0)
        r = c.get(f"{base}/cases", params={"member_id": ack.member}, headers=ADMIN)
        found = [x["id"] for x in r.json()] if r.status_code == 200 else []
        if ack.case_id is not None and ack.case_id in found:
            r2 = c.get(f"{base}/cases/{ack.case_id}", headers=SUBMITTER)
            if r2.status_code != 200:
                found = []
        elif ack.case_id is not None:
            found = []
        with lock:
            checked += 1
            if not found:
                lost += 1
            elif len(found) > 1:
                dup += 1
            else:
                once += 1

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, acks))
    return checked, once, lost, dup


# --- the report --------------------------------------------------------------------------------


def p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def per_minute(sent: list[Sent]) -> list[str]:
    rows = [f"{'minute':>6} {'requests':>8} {'p50 ms':>7} {'p99 ms':>7} {'5xx':>5}"]
    by_minute: dict[int, list[Sent]] = defaultdict(list)
    for s in sent:
        by_minute[int(s.at // 60)].append(s)
    for m in sorted(by_minute):
        items = by_minute[m]
        ms = [s.ms for s in items if s.status]
        bad = sum(1 for s in items if s.status >= 500)
        rows.append(f"{m + 1:>6} {len(items):>8} {p(ms, 50):>7.1f} {p(ms, 99):>7.1f} {bad:>5}")
    return rows


def database(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'soak.db'}"
    base = postgres_url()
    if not base:
        raise SystemExit("soak: no PostgreSQL (set PRIORAUTH_TEST_POSTGRES_URL)")
    return fresh_postgres(base, PG_DATABASE)


def soak(args: argparse.Namespace) -> int:
    began = time.monotonic()
    hard_stop = began + args.minutes * 60 + 60  # the whole run, checks included
    workdir = Path(tempfile.mkdtemp(prefix="priorauth-soak-"))
    url = database(args.db, workdir)
    server = Server(url, args.workers, workdir / "server.log")
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"soak: {args.db}, {args.workers} workers, {args.minutes:g} min at {args.rate:g} req/s "
        f"(warm-up {args.warmup:g} s), commit {commit or '?'}, log {server.log}",
        flush=True,
    )
    try:
        server.start(timeout=50, healthy_checks=args.workers)
    except RuntimeError as exc:
        print(f"SOAK FAIL could not start: {exc}")
        return 2
    try:
        book = Book()
        t0 = time.perf_counter()
        traffic = Traffic(server.base, book, t0, uuid.uuid4().hex[:8])
        numbers = itertools.count()
        # The traffic's minutes, less what starting took beyond 20 s: the checks keep 40 s.
        end = min(t0 + args.minutes * 60, t0 + (hard_stop - 40 - time.monotonic()))
        samples: dict[str, dict[int, float | None]] = {}
        marks = [("start", t0 + args.warmup), ("middle", (t0 + args.warmup + end) / 2)]
        for name, when in marks:
            drive(traffic, args.rate, when, numbers)
            pids = worker_pids(server.pid)
            samples[name] = {pid: rss_mb(pid) for pid in pids}
            print(f"  RSS at {name}: " + _rss_line(samples[name]), flush=True)
        drive(traffic, args.rate, end, numbers)
        samples["end"] = {pid: rss_mb(pid) for pid in worker_pids(server.pid)}
        print("  RSS at end: " + _rss_line(samples["end"]), flush=True)
        alive = server.proc is not None and server.proc.poll() is None
        try:
            alive = alive and httpx.get(f"{server.base}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            alive = False
        checked, once, lost, dup = check_cases(server.base, list(book.acks), hard_stop - 20)
    finally:
        server.stop()
    db_once, db_lost, db_dup = check_on_file(url, list(book.acks))
    print(
        f"cases read back through the API: {checked} of {len(book.acks)} (time limit), once "
        f"{once}, lost {lost}, duplicated {dup}; in the database: all {len(book.acks)}, once "
        f"{db_once}, lost {db_lost}, duplicated {db_dup}"
    )
    lost, dup = max(lost, db_lost), max(dup, db_dup)

    sent = book.sent
    elapsed = max(s.at for s in sent) if sent else 0.0
    print("\n".join(per_minute(sent)))
    by_kind: dict[str, Counter[int]] = defaultdict(Counter)
    for s in sent:
        by_kind[s.kind][s.status] += 1
    print("status by kind (p50 / p99 ms):")
    for kind in sorted(by_kind):
        counts = ", ".join(f"{st or 'no answer'}: {n}" for st, n in sorted(by_kind[kind].items()))
        ms = [s.ms for s in sent if s.kind == kind and s.status]
        print(f"  {kind:24} {p(ms, 50):6.1f} / {p(ms, 99):7.1f}  {counts}")
    five = sum(1 for s in sent if s.status >= 500)
    known = sum(1 for s in sent if s.status >= 500 and UNCOVERED in s.kind)
    unanswered = sum(1 for s in sent if s.status == 0)
    for note in book.failures:
        print(f"  ! {note}")
    growth = []
    for pid, start_mb in samples.get("start", {}).items():
        end_mb = samples["end"].get(pid)
        if start_mb is not None and end_mb is not None:
            growth.append(f"{end_mb - start_mb:+.1f}")
    # Whole minutes only: the last one may hold a few stragglers.
    minutes = Counter(int(s.at // 60) for s in sent)
    p99s = [
        p([s.ms for s in sent if int(s.at // 60) == m and s.status], 99)
        for m, n in sorted(minutes.items())
        if n >= args.rate * 30
    ]
    acked = len(book.acks)
    ok = alive and lost == 0 and dup == 0 and five == 0 and unanswered == 0 and not book.wrong
    print(
        f"SOAK {'PASS' if ok else 'FAIL'} {args.db} {args.minutes:g} min: {len(sent)} requests "
        f"({len(sent) / max(elapsed, 1):.1f}/s), p99 per minute {min(p99s, default=0):.0f}-"
        f"{max(p99s, default=0):.0f} ms, 5xx {five} ({known} uncovered drug), no answer "
        f"{unanswered}, RSS after warm-up {'/'.join(growth) or '?'} MB per worker, cases "
        f"acknowledged {acked} (read back {checked}, all in the database), once {db_once}, lost "
        f"{lost}, duplicated {dup}"
        f"{'' if alive else ', SERVER DOWN'} ({time.monotonic() - began:.0f} s)"
    )
    return 0 if ok else 1


def _rss_line(sample: dict[int, float | None]) -> str:
    return ", ".join(
        f"worker {pid} {'gone' if mb is None else f'{mb:.1f} MB'}" for pid, mb in sample.items()
    )


# --- the first request of each kind ------------------------------------------------------------


def first_requests(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="priorauth-first-"))
    server = Server(database("sqlite", workdir), 1, workdir / "server.log")
    started = time.perf_counter()
    server.start(timeout=180)
    print(
        f"server healthy after {time.perf_counter() - started:.1f} s (one worker, "
        f"RSS {rss_mb(server.pid) or 0:.1f} MB)"
    )
    try:
        book = Book()
        traffic = Traffic(server.base, book, time.perf_counter(), uuid.uuid4().hex[:8])
        plan = [
            ("dtr package", traffic.dtr_package),
            ("pas submit", traffic.pas_submit),
            ("crd order-sign", traffic.order_sign),
            ("cases approve", traffic.approve),
            ("queue", traffic.queue),
        ]
        n = 0
        with httpx.Client(timeout=120) as client:
            for _ in range(3):
                for _, fn in plan:
                    fn(client, n)
                    n += 1
        print(f"{'request':16} {'1st ms':>8} {'2nd ms':>8} {'3rd ms':>8}")
        by_kind: dict[str, list[float]] = defaultdict(list)
        for s in book.sent:
            by_kind[s.kind].append(s.ms)
        for kind, _ in plan:
            times = by_kind[kind]
            print(f"{kind:16} " + " ".join(f"{t:>8.1f}" for t in times[:3]))
        print(f"RSS after these requests {rss_mb(server.pid) or 0:.1f} MB")
    finally:
        server.stop()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="traffic duration (10)")
    ap.add_argument("--rate", type=float, default=18.0, help="requests a second (18)")
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=30.0, help="seconds before the first RSS")
    ap.add_argument("--first-requests", action="store_true", help="time each kind's first")
    args = ap.parse_args()
    if args.first_requests:
        return first_requests(args)
    args.warmup = min(args.warmup, args.minutes * 60 / 4)
    return soak(args)


if __name__ == "__main__":
    sys.exit(main())
