"""``priorauth evaluate --batch`` on a file of 100,000 requests (``make bench-batch``).

Times the command as a user runs it (wall clock, start-up included, output to /dev/null; and
the CPU time of the command and its workers, which the machine's other load does not inflate),
without and with ``--trace``, on 1 and 2 jobs; the command on an empty file (start-up alone);
and, in this process, the floor: reading the same lines, validating each with the engine's fast
validator (``read_json``), deciding it with the hand-written rule (bench/tight.py) and writing
its answers with orjson. Results go to
``--out`` (default ``var/bench/batch.json``) with the machine, its load and the commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import orjson
import tight
import workload
from bench_engine import machine

from priorauth.request import read_json

ROOT = Path(__file__).resolve().parent.parent
PRIORAUTH = Path(sys.executable).with_name("priorauth")


def make_file(path: Path, n: int, seed: int) -> None:
    if path.exists() and path.stat().st_size and path.read_bytes().count(b"\n") == n:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    wl = workload.generate(n, seed)
    path.write_bytes(b"".join(r + b"\n" for r in wl.raw))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(args: list[str]) -> tuple[float, float]:
    """Wall-clock seconds, and CPU seconds of the command and its workers."""
    start, cpu = time.perf_counter(), _children_cpu()
    with open(os.devnull, "wb") as sink:
        done = subprocess.run([str(PRIORAUTH), *args], stdout=sink, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"priorauth {' '.join(args)} exited with {done.returncode}")
    return seconds, _children_cpu() - cpu


def floor(path: Path) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    out = []
    dumps = orjson.dumps
    with path.open("rb") as f:
        for line in f:
            d, b, a = tight.decide(read_json(line))
            out.append(dumps({"decision": d, "denial_basis": b, "authorization": a}))
    with open(os.devnull, "wb") as sink:
        sink.write(b"\n".join(out))
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="runs of each case; best is kept")
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "batch.json")
    args = ap.parse_args(argv)
    data = ROOT / "var" / "bench" / f"batch-{args.n}-{args.seed}.ndjson"
    make_file(data, args.n, args.seed)
    empty = data.with_name("empty.ndjson")
    empty.write_bytes(b"")

    cases: list[tuple[str, list[str] | None]] = [
        ("start-up alone (empty file)", ["evaluate", "--batch", str(empty)]),
        ("--batch, 1 job", ["evaluate", "--batch", str(data), "--jobs", "1"]),
        ("--batch, 2 jobs", ["evaluate", "--batch", str(data), "--jobs", "2"]),
        ("--batch --trace, 1 job", ["evaluate", "--batch", str(data), "--trace", "--jobs", "1"]),
        ("--batch --trace, 2 jobs", ["evaluate", "--batch", str(data), "--trace", "--jobs", "2"]),
        ("floor: read_json + hand-written rule + orjson, in process", None),
    ]
    before = os.getloadavg()
    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    for _ in range(args.repeat):
        for name, argv_ in cases:
            seconds, cpu = floor(data) if argv_ is None else run(argv_)
            best[name] = min(best.get(name, float("inf")), seconds)
            best_cpu[name] = min(best_cpu.get(name, float("inf")), cpu)
    info = machine()
    info["load_average_before"] = before

    print(f"priorauth evaluate --batch: {args.n:,} lines (seed {args.seed}), best of {args.repeat}")
    width = max(len(n) for n, _ in cases)
    print(f"{'':<{width}}  {'wall':>7}    {'CPU':>7}    {'lines/s (wall)':>14}")
    for name, _ in cases:
        rate = "" if name.startswith("start-up") else f"{args.n / best[name]:>14,.0f}"
        print(f"{name:<{width}}  {best[name]:>7.2f} s  {best_cpu[name]:>7.2f} s  {rate}")
    load = " ".join(f"{x:.2f}" for x in info["load_average"])
    print(
        f"{info['cpu']}, {info['cpu_count']} CPUs, load average {load}; commit {info['git_commit']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "lines": args.n,
                "seed": args.seed,
                "machine": info,
                "wall_seconds": best,
                "cpu_seconds": best_cpu,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
