"""What the engine and the hand-written rule execute, counted rather than timed
(``make bench-counts``; needs valgrind).

On a shared machine, timings of the same code move by 10 % or more from one minute to the next,
which hides any change smaller than that. Valgrind's cachegrind counts, for one process, the
machine instructions executed and the reads that miss its model of the first-level data cache;
those counts barely move between runs (``PYTHONHASHSEED`` is fixed, since the hash seed changes
how dicts probe). Each case is run twice under cachegrind, deciding the workload once and three
times over, and the difference divided by the requests decided: loading the engine, generating
the workload and warming every cache cancel out.

The engine executes fewer instructions than the rule, and misses the simulated cache more
often: it remembers each criterion's statuses per distinct list, and a lookup in those memos
reads remembered keys spread over memory, where the rule reads only its own small tables and
the request.

The counts are of cachegrind's simulated machine, not of this processor: instructions compare
two versions of the code well; the simulated misses only roughly (a change that saved 4-9 % of
the time on this processor added simulated misses). Time a change with bench/ab_generated.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = ("rule", "engine", "rule_dict", "engine_dict", "rule_json", "engine_json")
PAIRS = {
    "deciding alone": ("rule", "engine"),
    "from a dict": ("rule_dict", "engine_dict"),
    "from JSON bytes": ("rule_json", "engine_json"),
}


def inner(case: str, n: int, reps: int, which: str) -> None:
    """Decide the workload ``reps`` times over with one case (run under valgrind)."""
    sys.path.insert(0, str(HERE))
    from priorauth import Engine
    from priorauth.request import read_dict, read_json

    if which == "areas":
        import tight_areas as tight
        import workload_areas as workload
        import yaml

        from priorauth.policy.load import policy_from_data

        policies = HERE / "areas" / "policies.yaml"
        engine = Engine(
            [policy_from_data(d, "areas") for d in yaml.safe_load(policies.read_text())]
        )
    else:
        import tight
        import workload

        engine = Engine()
    wl = workload.generate(n, 1)
    validated = [read_dict(d) for d in wl.requests]

    def rule_dict(d: Any) -> Any:
        return tight.decide(read_dict(d))

    def rule_json(b: bytes) -> Any:
        return tight.decide(read_json(b))

    cases: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
        "rule": (tight.decide, validated),
        "engine": (engine.evaluate_model, validated),
        "rule_dict": (rule_dict, wl.requests),
        "engine_dict": (engine.evaluate, wl.requests),
        "rule_json": (rule_json, wl.raw),
        "engine_json": (engine.evaluate_json, wl.raw),
    }
    for i, d in enumerate(wl.requests):  # every memo of either side filled before counting
        engine.evaluate(d)
        engine.evaluate_json(wl.raw[i])
        engine.evaluate_model(validated[i])
        tight.decide(validated[i])
    decide, items = cases[case]
    for _ in range(reps):
        for item in items:
            decide(item)


def counted(case: str, n: int, reps: int, which: str) -> tuple[int, int]:
    """(instructions, first-level data read misses) of one run under cachegrind."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=yes",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--inner",
            case,
            "--n",
            str(n),
            "--reps",
            str(reps),
            "--workload",
            which,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stderr

    def figure(label: str) -> int:
        m = re.search(rf"{label}:\s+([\d,]+)", out)
        if m is None:
            raise SystemExit(f"bench_counts: no {label!r} in valgrind's output:\n{out[-2000:]}")
        return int(m.group(1).replace(",", ""))

    return figure(r"I\s+refs"), figure(r"D1\s+misses")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="requests in the workload")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated cases to count")
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "counts.json")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument(
        "--workload",
        choices=("lumakras", "areas"),
        default="lumakras",
        help="Lumakras (bench_engine.py's) or the mixed workload of other areas (bench_areas.py's)",
    )
    args = ap.parse_args(argv)
    if args.inner:
        inner(args.inner, args.n, args.reps, args.workload)
        return 0
    if shutil.which("valgrind") is None:
        print("bench_counts: valgrind is not installed (Debian: apt-get install valgrind)")
        return 2

    per_request: dict[str, dict[str, float]] = {}
    what = "Lumakras" if args.workload == "lumakras" else "other areas'"
    print(f"priorauth bench-counts: {args.n:,} {what} requests (seed 1), under cachegrind")
    print(f"{'case':<12}  {'instructions':>12}  {'D1 read misses':>14}   (per request)")
    for case in args.cases.split(","):
        once = counted(case, args.n, 1, args.workload)
        thrice = counted(case, args.n, 3, args.workload)
        decided = 2 * args.n
        got = {
            "instructions": (thrice[0] - once[0]) / decided,
            "d1_misses": (thrice[1] - once[1]) / decided,
        }
        per_request[case] = got
        print(f"{case:<12}  {got['instructions']:>12,.0f}  {got['d1_misses']:>14,.1f}")
    for name, (rule, engine) in PAIRS.items():
        if rule in per_request and engine in per_request:
            r, e = per_request[rule], per_request[engine]
            print(
                f"engine / hand-written, {name + ':':<16} instructions "
                f"{e['instructions'] / r['instructions']:.2f}, "
                f"D1 read misses {e['d1_misses'] / r['d1_misses']:.2f}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"n": args.n, "per_request": per_request, "hash_seed": 0}, indent=2) + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
