"""The API benchmark: POST /cases at rising open-loop arrival rates against a real server.

For each database (SQLite file, PostgreSQL database; both fresh) and each server worker count,
start `priorauth serve --workers N` in its own process group, warm it up, then drive POST /cases
at each rate for `--duration` seconds with `loadgen.py` in separate processes on loopback.
Per rate: achieved throughput, p50/p95/p99/max latency from the scheduled send time, errors,
the generator's lateness and CPU, the server's and PostgreSQL's CPU. Prints a table per
configuration and writes var/bench/api.json (var/bench/api-fhir.json for --api fhir) with the
machine, outside the tracked tree; the runs the README quotes are kept in bench/api/*.json.

    .venv/bin/python bench/api/run.py                       # everything, about 6 minutes
    .venv/bin/python bench/api/run.py --databases postgresql --workers 2 --rates 300
    .venv/bin/python bench/api/run.py --profile 300          # py-spy the server at 300/s
    .venv/bin/python bench/api/run.py --api cases,fhir --databases postgresql --workers 2 \
        --rates 25,50,100,150 --ceiling-rates ""        # JSON and PAS, then side by side

Targets (PostgreSQL, no errors): POST /cases p99 < 50 ms at 300/s; PAS Claim/$submit p99 <
100 ms at 100/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from serverproc import Server, free_port, fresh_postgres, postgres_url  # noqa: E402

BIN = ROOT / ".venv" / "bin"
LOADGEN = HERE / "loadgen.py"
PG_DATABASE = "priorauth_bench"
TARGET: dict[str, Any] = {"database": "postgresql", "rate": 300, "p99_ms": 50.0}
CLK = os.sysconf("SC_CLK_TCK")


# --- processes and their CPU ---------------------------------------------------------------


def _stat(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces.
    return text[text.rindex(")") + 2 :].split()


def snapshot() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, process group, CPU seconds) for every live process."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        f = text[text.rindex(")") + 2 :].split()  # the name may hold spaces
        out[int(entry)] = (comm, int(f[2]), (int(f[11]) + int(f[12])) / CLK)
    return out


def cpu_split(
    a: dict[int, tuple[str, int, float]], b: dict[int, tuple[str, int, float]], server_pgid: int
) -> dict[str, float]:
    """CPU seconds between two snapshots: the server's process group, PostgreSQL backends.
    Processes that ended between the snapshots are not seen (their CPU shows as "other")."""
    server = postgres = 0.0
    for pid, (comm, pgid, cpu) in b.items():
        before = a.get(pid)
        delta = cpu - before[2] if before and before[0] == comm else cpu
        if pgid == server_pgid:
            server += delta
        elif comm == "postgres":
            postgres += delta
    return {"server": server, "postgres": postgres}


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]  # idle + iowait
    return float(sum(f) - idle), float(sum(f))


def pg_sessions(url: str) -> int | None:
    """Connections ever opened to the database (pg_stat_database.sessions, PostgreSQL 14+)."""
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(url)
        conninfo = u.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = %s", (u.database,)
            ).fetchone()
            return int(row[0]) if row else None
    except Exception:
        return None


def postgres_version(base_url: str) -> str | None:
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        conninfo = (
            make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        with psycopg.connect(conninfo, autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else None
    except Exception:
        return None


# --- one step: one rate ---------------------------------------------------------------------


def pct(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def drive(
    port: int,
    rate: float,
    duration: float,
    procs: int,
    client: str,
    prefix: str,
    profile: Path | None = None,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Run `procs` generator processes sharing `rate`; merge what they report."""
    per = rate / procs
    n_each = round(per * duration)
    start_at = time.time() + 1.0 + 0.2 * procs  # time to build the requests and connect
    gens = []
    for k in range(procs):
        cmd = [
            sys.executable,
            str(LOADGEN),
            "drive",
            "--port",
            str(port),
            "--rate",
            str(per),
            "--duration",
            str(duration),
            "--client",
            client,
            "--prefix",
            prefix,
            "--offset",
            str(k * n_each),
            "--phase",
            str(k / rate),
            "--start-at",
            str(start_at),
        ]
        gens.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    spy = None
    if profile is not None and server_pid is not None:
        spy = subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "--pid",
                str(server_pid),
                "--subprocesses",
                "--gil",
                "--nonblocking",
                "--rate",
                "200",
                "--duration",
                str(int(duration)),
                "--format",
                "raw",
                "--output",
                str(profile),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
    parts = []
    for g in gens:
        out, _ = g.communicate()
        if g.returncode != 0:
            raise RuntimeError(f"load generator failed ({g.returncode})")
        parts.append(json.loads(out))
    if spy is not None:
        spy.wait()
    lat = sorted(x for p in parts for x in p["latencies_ms"])
    late = sorted(x for p in parts for x in p["lateness_ms"])
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
    scheduled = sum(p["scheduled"] for p in parts)
    ok = sum(p["ok"] for p in parts)
    elapsed = max(p["elapsed_s"] for p in parts)
    gen_cpu = sum(p["cpu_s"] for p in parts)
    return {
        "offered_rate": rate,
        "scheduled": scheduled,
        "ok": ok,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "achieved_per_s": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": pct(lat, 50),
        "p95_ms": pct(lat, 95),
        "p99_ms": pct(lat, 99),
        "max_ms": lat[-1] if lat else None,
        "generator_lateness_p99_ms": pct(late, 99),
        "generator_cpu_ms_per_request": round(1000 * gen_cpu / scheduled, 3),
        "elapsed_s": round(elapsed, 2),
    }


def run_config(
    db: str, url: str, workers: int, args: argparse.Namespace, workdir: Path
) -> list[dict[str, Any]]:
    env = dict(kv.split("=", 1) for kv in args.server_env)
    server = Server(url, workers, workdir / f"server-{db}-w{workers}.log", env)
    server.start()
    rows = []
    try:
        drive(server.port, args.warmup_rate, args.warmup, 1, args.client, f"WARM-{db}-{workers}")
        for rate in args.rates:
            time.sleep(args.pause)
            profile = None
            if args.profile and rate == args.profile:
                profile = HERE / f"profile-{db}-w{workers}-{rate:.0f}.folded"
            n0 = pg_sessions(url) if db == "postgresql" else None
            b0 = machine_busy()
            snap0, t0 = snapshot(), time.monotonic()
            row = drive(
                server.port,
                rate,
                args.duration,
                args.procs,
                args.client,
                f"B-{db}-{workers}-{rate}",
                profile,
                server.pid,
            )
            snap1, t1 = snapshot(), time.monotonic()
            b1 = machine_busy()
            wall = t1 - t0
            split = cpu_split(snap0, snap1, server.pid)
            ncpu = os.cpu_count() or 1
            busy_cores = ncpu * (b1[0] - b0[0]) / max(1.0, b1[1] - b0[1])
            row["machine_cpu_busy_pct"] = round(100 * busy_cores / ncpu, 1)
            gen_cores = row["generator_cpu_ms_per_request"] * row["scheduled"] / 1000 / wall
            row["other_cpu_cores"] = round(
                busy_cores - (split["server"] + split["postgres"]) / wall - gen_cores, 2
            )
            n1 = pg_sessions(url) if db == "postgresql" else None
            if n0 is not None and n1 is not None:
                row["postgres_connections_opened"] = n1 - n0 - 1  # less our own
            row["server_cpu_ms_per_request"] = round(1000 * split["server"] / max(1, row["ok"]), 3)
            row["server_cpu_cores"] = round(split["server"] / wall, 2)
            if db == "postgresql":
                # Live backends only: a backend that exits during the step takes its CPU along.
                row["postgres_cpu_ms_per_request"] = round(
                    1000 * split["postgres"] / max(1, row["ok"]), 3
                )
            if profile is not None:
                row["profile"] = str(profile.relative_to(ROOT))
            row["saturated"] = row["achieved_per_s"] < 0.95 * rate or row["errors"] > 0
            rows.append(row)
            print_row(db, workers, row)
            # Overloaded: higher rates only queue more, but always measure the target rate.
            over = row["p99_ms"] is None or row["p99_ms"] > args.stop_above_ms
            if over and rate >= TARGET["rate"]:
                print(f"    (p99 above {args.stop_above_ms:.0f} ms: higher rates skipped)")
                break
    finally:
        server.stop()
    return rows


# --- output ---------------------------------------------------------------------------------

LEGEND = """
latency: from the scheduled send time to the last byte (open loop); got/s: successful answers/s
srv cpu: server cores busy; ms/req: server CPU ms per request; pg cpu: PostgreSQL CPU ms per
request; other: cores busy with anything else (other programs on the machine, exited backends);
cpu%: whole machine busy; pg conn: PostgreSQL connections opened in the step;
gen lag: the generator's own lateness, p99 ms (large = the generator is the bottleneck)
"""

HEADER = (
    f"{'db':<10} {'w':>1} {'rate/s':>6} {'got/s':>6} {'p50 ms':>7} {'p95 ms':>7} "
    f"{'p99 ms':>7} {'max ms':>7} {'err':>5} {'srv cpu':>7} {'ms/req':>6} {'pg cpu':>6} "
    f"{'other':>5} {'cpu%':>5} {'pg conn':>7} {'gen lag':>7}"
)


def _f(v: float | None, width: int, digits: int = 1) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}.{digits}f}"


def print_row(db: str, workers: int, r: dict[str, Any]) -> None:
    print(
        f"{db:<10} {workers:>1} {r['offered_rate']:>6.0f} {r['achieved_per_s']:>6.0f} "
        f"{_f(r['p50_ms'], 7)} {_f(r['p95_ms'], 7)} {_f(r['p99_ms'], 7)} {_f(r['max_ms'], 7)} "
        f"{r['errors']:>5} {_f(r['server_cpu_cores'], 7, 2)} "
        f"{_f(r['server_cpu_ms_per_request'], 6, 2)} "
        f"{_f(r.get('postgres_cpu_ms_per_request'), 6, 2)} {_f(r['other_cpu_cores'], 5, 2)} "
        f"{_f(r.get('machine_cpu_busy_pct'), 5, 0)} "
        f"{_f(r.get('postgres_connections_opened'), 7, 0)} "
        f"{_f(r['generator_lateness_p99_ms'], 7)}",
        flush=True,
    )


def verdict(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The target (p99 < 50 ms at 300/s on PostgreSQL, no errors), and the best worker count."""
    out: dict[str, Any] = {"target": TARGET, "configs": []}
    for cfg in results:
        at = [r for r in cfg["rows"] if r["offered_rate"] == TARGET["rate"]]
        # Highest rate with p99 under the target and no errors: the capacity at this latency.
        good = [
            r["offered_rate"]
            for r in cfg["rows"]
            if r["errors"] == 0
            and r["p99_ms"] is not None
            and r["p99_ms"] < TARGET["p99_ms"]
            and not r["saturated"]
        ]
        entry = {
            "database": cfg["database"],
            "workers": cfg["workers"],
            "p99_ms_at_target_rate": at[0]["p99_ms"] if at else None,
            "errors_at_target_rate": at[0]["errors"] if at else None,
            "meets_target_rate": bool(at)
            and at[0]["errors"] == 0
            and at[0]["p99_ms"] is not None
            and at[0]["p99_ms"] < TARGET["p99_ms"],
            "highest_rate_p99_under_target": max(good) if good else None,
        }
        out["configs"].append(entry)
    for db in sorted({c["database"] for c in out["configs"]}):
        cands = [c for c in out["configs"] if c["database"] == db]
        best = max(
            cands,
            key=lambda c: (
                c["highest_rate_p99_under_target"] or 0,
                -(c["p99_ms_at_target_rate"] or 1e9),
            ),
        )
        out[f"best_workers_{db}"] = best["workers"]
    out["target_met"] = any(
        c["meets_target_rate"] for c in out["configs"] if c["database"] == TARGET["database"]
    )
    return out


def ceiling(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The generator alone against a server that answers at once: its own ceiling."""
    port = free_port()
    null = subprocess.Popen(
        [sys.executable, str(LOADGEN), "null-server", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert null.stdout is not None
    null.stdout.readline()
    rows = []
    try:
        for rate in args.ceiling_rates:
            r = drive(port, rate, 3.0, 1, args.client, "NULL")
            rows.append(
                {
                    k: r[k]
                    for k in (
                        "offered_rate",
                        "achieved_per_s",
                        "p50_ms",
                        "p99_ms",
                        "errors",
                        "generator_lateness_p99_ms",
                        "generator_cpu_ms_per_request",
                    )
                }
            )
            print(
                f"  generator ceiling ({args.client}, 1 process): offered {rate:>5.0f}/s, "
                f"got {r['achieved_per_s']:>6.0f}/s, p99 {_f(r['p99_ms'], 6, 2)} ms, "
                f"lateness p99 {_f(r['generator_lateness_p99_ms'], 6, 2)} ms, "
                f"{r['generator_cpu_ms_per_request']:.3f} ms CPU/request",
                flush=True,
            )
    finally:
        os.killpg(null.pid, signal.SIGTERM)
        null.wait()
    return rows


def machine(pg: str | None, args: argparse.Namespace) -> dict[str, Any]:
    def version(pkg: str) -> str | None:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as v

        try:
            return v(pkg)
        except PackageNotFoundError:
            return None

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": commit or None,
        "git_dirty": bool(
            subprocess.run(
                ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "pyproject.toml"],
                capture_output=True,
                text=True,
            ).stdout.strip()
        ),
        "uvicorn": version("uvicorn"),
        "fastapi": version("fastapi"),
        "sqlalchemy": version("sqlalchemy"),
        "uvloop": version("uvloop"),
        "httptools": version("httptools"),
        "postgresql": postgres_version(pg) if pg else None,
        "load_generator": f"{args.client} client, {args.procs} process(es), open loop",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--databases",
        default=None,
        help="comma list of sqlite,postgresql (default both when PostgreSQL is here)",
    )
    p.add_argument("--workers", default="1,2", help="comma list of server worker counts")
    p.add_argument("--rates", default="50,100,200,300,400", help="comma list, requests/s")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per rate")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up, not recorded")
    p.add_argument("--warmup-rate", type=float, default=50.0)
    p.add_argument("--pause", type=float, default=1.0, help="seconds between rates")
    p.add_argument("--procs", type=int, default=1, help="load generator processes")
    p.add_argument("--client", choices=("raw", "httpx"), default="raw")
    p.add_argument(
        "--stop-above-ms",
        type=float,
        default=5000.0,
        help="skip rates above the target rate (300/s) once p99 exceeds this",
    )
    p.add_argument(
        "--ceiling-rates",
        default="500,1000,2000",
        help="rates for the generator-only test ('' to skip)",
    )
    p.add_argument(
        "--profile",
        type=float,
        default=0.0,
        help="py-spy the server at this rate (needs .venv/bin/py-spy)",
    )
    p.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server (experiments, e.g. PYTHONPATH)",
    )
    p.add_argument(
        "--api",
        default="cases",
        help="POST /cases (JSON: cases), PAS POST /fhir/Claim/$submit with "
        "examples/fhir/pas-*.json (fhir), or both in turn (cases,fhir): then a table of the two "
        "side by side",
    )
    p.add_argument("--out", type=Path, default=None)
    p.add_argument(
        "--out-suffix",
        default="",
        help="added to the names of the files written (var/bench/api-fhir-SUFFIX.json)",
    )
    args = p.parse_args(argv)
    apis = [a for a in args.api.split(",") if a]
    if not apis or any(a not in TARGETS for a in apis):
        print(f"error: --api takes {', '.join(TARGETS)} or a comma list of them", file=sys.stderr)
        return 2
    var = HERE.parent.parent / "var" / "bench"
    var.mkdir(parents=True, exist_ok=True)
    args.rates = [float(x) for x in args.rates.split(",") if x]
    args.ceiling_rates = [float(x) for x in args.ceiling_rates.split(",") if x]
    workers = [int(x) for x in args.workers.split(",") if x]
    if args.profile and not (BIN / "py-spy").exists():
        print("error: --profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2

    wanted = args.databases.split(",") if args.databases else None
    pg = postgres_url() if wanted is None or "postgresql" in wanted else None
    dbs = wanted or (["sqlite", "postgresql"] if pg else ["sqlite"])
    if "postgresql" in dbs and not pg:
        print(
            "error: no PostgreSQL URL (PRIORAUTH_TEST_POSTGRES_URL or "
            "scripts/postgres-for-tests.sh)",
            file=sys.stderr,
        )
        return 2

    info = machine(pg, args)
    print(
        f"machine: {info['cpu_count']} CPUs, Python {info['python']}, uvicorn "
        f"{info['uvicorn']} (httptools {info['httptools']}, uvloop {info['uvloop']}), "
        f"PostgreSQL {info['postgresql']}"
    )
    ceiling_rows = ceiling(args) if args.ceiling_rates else []
    docs: dict[str, dict[str, Any]] = {}
    for api in apis:
        docs[api] = run_api(api, args, dbs, workers, pg, info, ceiling_rows)
        name = OUT_FILES[api].replace(".json", f"{args.out_suffix}.json")
        out = args.out if args.out and len(apis) == 1 else var / name
        out.write_text(json.dumps(docs[api], indent=2) + "\n")
        print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    if len(apis) > 1:
        side_by_side(docs)
    return 0


TARGETS: dict[str, dict[str, Any]] = {
    "cases": {"database": "postgresql", "rate": 300, "p99_ms": 50.0},
    # issue 10: p99 < 100 ms at 100 submissions/s
    "fhir": {"database": "postgresql", "rate": 100, "p99_ms": 100.0},
}
ENDPOINTS = {"cases": "POST /cases", "fhir": "POST /fhir/Claim/$submit"}
OUT_FILES = {"cases": "api.json", "fhir": "api-fhir.json"}


def run_api(
    api: str,
    args: argparse.Namespace,
    dbs: list[str],
    workers: list[int],
    pg: str | None,
    info: dict[str, Any],
    ceiling_rows: list[dict[str, Any]],
) -> dict[str, Any]:
    """Every configuration driven on one API; its verdict printed; the document to write."""
    # The load generators (child processes) read which API to drive from the environment.
    os.environ["PRIORAUTH_BENCH_API"] = api
    TARGET.clear()
    TARGET.update(TARGETS[api])
    print(f"\n{ENDPOINTS[api]}")
    print(LEGEND)
    print(HEADER, flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="priorauth-bench-"))
    results = []
    try:
        for db in dbs:
            for w in workers:
                if db == "sqlite":
                    url = f"sqlite:///{workdir / f'bench-w{w}.db'}"
                else:
                    assert pg is not None
                    url = fresh_postgres(pg, PG_DATABASE)
                rows = run_config(db, url, w, args, workdir)
                results.append({"database": db, "workers": w, "rows": rows})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    v = verdict(results)
    print()
    for c in v["configs"]:
        print(
            f"{c['database']:<10} workers={c['workers']}: p99 at {TARGET['rate']}/s = "
            f"{_f(c['p99_ms_at_target_rate'], 0)} ms, errors {c['errors_at_target_rate']}; "
            f"highest rate with p99 < {TARGET['p99_ms']:.0f} ms: "
            f"{c['highest_rate_p99_under_target']}"
        )
    for db in dbs:
        print(f"best worker count on {db}: {v.get(f'best_workers_{db}')}")
    print(
        f"target for {ENDPOINTS[api]} (p99 < {TARGET['p99_ms']:.0f} ms at {TARGET['rate']}/s "
        f"on PostgreSQL, no errors): {'MET' if v['target_met'] else 'MISSED'}"
    )
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "settings": {
            "rates": args.rates,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "workers": workers,
            "databases": dbs,
            "generator_processes": args.procs,
            "client": args.client,
            "endpoint": ENDPOINTS[api],
            "latency": "scheduled send time to last response byte (open loop)",
        },
        "generator_ceiling": ceiling_rows,
        "results": results,
        "verdict": v,
    }


def side_by_side(docs: dict[str, dict[str, Any]]) -> None:
    """Each API's latency and server CPU per request at every rate both were driven at."""
    apis = list(docs)
    print("\nside by side (same machine, same run): p50 / p99 ms, server CPU ms per request")
    print(f"{'db':<10} {'w':>1} {'rate/s':>6}" + "".join(f"  {a:>26}" for a in apis))
    by: dict[tuple[str, int, float], dict[str, dict[str, Any]]] = {}
    for api, doc in docs.items():
        for cfg in doc["results"]:
            for r in cfg["rows"]:
                key = (cfg["database"], cfg["workers"], r["offered_rate"])
                by.setdefault(key, {})[api] = r
    for (db, w, rate), rows in sorted(by.items()):
        cells = []
        for api in apis:
            r = rows.get(api)
            if r is None:
                cells.append(f"  {'-':>26}")
                continue
            cells.append(
                f"  {_f(r['p50_ms'], 6)} / {_f(r['p99_ms'], 7)}, "
                f"{_f(r['server_cpu_ms_per_request'], 5, 2)} ms" + ("*" if r["saturated"] else " ")
            )
        print(f"{db:<10} {w:>1} {rate:>6.0f}" + "".join(cells))
    print("(* saturated: under 95% of the rate answered, or errors)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
