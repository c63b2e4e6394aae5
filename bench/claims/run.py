"""`make bench-claims`: claims reviewed per minute, DuckDB and Spark side by side.

For each size (1M and 10M synthetic claims from Parquet by default), runs `priorauth claims review
CLAIMS --authorizations AUTHS --out FINDINGS.parquet` as a separate process per engine (best of 3
for DuckDB; one Spark run, as a 10M Spark run takes minutes), timing the whole command (start-up,
read, review, write the findings and rejects) and sampling the memory of the process and its
children (Spark's JVM) from /proc. Checks that both engines wrote the same findings. Prints a
table and writes var/bench/claims.json (outside the tracked tree).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DATA = ROOT / "data" / "bench-claims"


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak resident memory (KiB) of the process tree, and stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        tree, todo = [], [proc.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += _children(pid)
        peak = max(peak, sum(_rss_kb(p) for p in tree))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    return seconds, peak, out


def ensure_data(n: int) -> Path:
    folder = DATA / f"n{n}"
    if not (folder / "claims.parquet").exists():
        t = time.perf_counter()
        subprocess.run(
            [str(BIN / "priorauth"), "claims", "synth", "--n", str(n), "--out", str(folder)],
            check=True,
        )
        print(f"synthesized {n:,} claims in {time.perf_counter() - t:.1f} s", flush=True)
    return folder


def same_findings(a: Path, b: Path) -> bool:
    con = duckdb.connect()
    q = "SELECT count(*) FROM (SELECT * FROM '{}' EXCEPT ALL SELECT * FROM '{}')"
    diff = [con.execute(q.format(x, y)).fetchone() for x, y in ((a, b), (b, a))]
    return diff == [(0,), (0,)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--engines", default="duckdb,spark")
    parser.add_argument("--duckdb-repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--spark-repeat", type=int, default=1, help="best of this many runs")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    rows = []
    for n in sizes:
        folder = ensure_data(n)
        outputs = {}
        for engine in engines:
            out = folder / f"findings-{engine}.parquet"
            cmd = [
                str(BIN / "priorauth"),
                "claims",
                "review",
                str(folder / "claims.parquet"),
                "--authorizations",
                str(folder / "authorizations.parquet"),
                "--out",
                str(out),
                "--engine",
                engine,
                "--json",
            ]
            # The machine is shared: the best of a few runs is the engine's speed, the worst
            # peak is its memory.
            repeats = args.duckdb_repeat if engine == "duckdb" else args.spark_repeat
            runs = [run_measured(cmd) for _ in range(repeats)]
            seconds = min(r[0] for r in runs)
            peak_kb = max(r[1] for r in runs)
            summary = json.loads(runs[0][2])
            outputs[engine] = out
            row = {
                "claims": n,
                "engine": engine,
                "seconds": round(seconds, 2),
                "runs": repeats,
                "all_seconds": [round(r[0], 2) for r in runs],
                "claims_per_minute": round(n / seconds * 60),
                "peak_memory_mb": round(peak_kb / 1024),
                "reviewed": summary["claims_reviewed"],
                "flagged": summary["flagged"],
                "dollars_at_risk": summary["dollars_at_risk"],
            }
            rows.append(row)
            print(
                f"{n:>11,} {engine:<7} {seconds:8.1f} s {row['claims_per_minute']:>14,} claims/min"
                f" {row['peak_memory_mb']:>7,} MB peak  {row['flagged']:,} flagged",
                flush=True,
            )
        if len(outputs) == 2:
            agree = same_findings(*outputs.values())
            for r in rows:
                if r["claims"] == n:
                    r["engines_agree"] = agree
            print(f"{n:>11,} DuckDB and Spark findings identical: {agree}", flush=True)
            if not agree:
                return 1
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "duckdb": duckdb.__version__,
            "pyspark": metadata.version("pyspark"),
            "load_average_at_end": os.getloadavg(),
        },
        "runs": rows,
    }
    out = ROOT / "var" / "bench" / "claims.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
