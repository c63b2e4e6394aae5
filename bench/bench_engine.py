"""The engine against the tightest hand-written rule, side by side in one process (``make bench``).

On one workload of generated Lumakras requests, each case is timed in turn, round after round
in an order shuffled each round (best of ``--repeat`` rounds), so that the machine's load falls
on every case alike. The clock is
this process's CPU time (``time.process_time``): on a machine shared with other work, time the
scheduler gives to other processes is not counted against any case.

The bar is the policy hand-written as fast as we can (bench/tight.py). Any rule a plan runs
must validate its input first, so the rule is given what the engine is given, validated by the
same fast validator, and each engine case is held to the rule doing the same work:

* deciding alone: ``tight.decide(validated)`` against ``Engine.evaluate_model(validated)``,
  the request validated beforehand (the decision, its basis and authorization, nothing else);
* from a dict: ``tight.decide(read_dict(dict))`` against ``Engine.evaluate(dict)``;
* from JSON bytes: ``tight.decide(read_json(bytes))`` against ``Engine.evaluate_json(bytes)``;

and, for reference: ``read_dict(dict)`` alone (what validation costs), the whole explanation
tree read (``Engine.evaluate(dict).trace``), the explaining path deciding
(``Engine(compiled=False)``), and an engine holding 100 versions of the policy (dates of service
spread over all 100 versions' spans, each moved back with its birth date), to show that
choosing the version costs the same.

It prints the three ratios engine / hand-written (determinations per second; >= 1.0 means the
engine is at least as fast), checks that the engine and the rule agree on every request
(decision, denial basis, authorization), and writes every figure with the machine, its load and
the commit to ``--out`` (default ``var/bench/engine.json``, outside the tracked tree).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tight
import workload

from priorauth import Engine
from priorauth.request import read_dict, read_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


RULE_ALONE = "hand-written rule, validated request (bench/tight.py)"
ENGINE_ALONE = "Engine.evaluate_model(validated request)"
RULE_DICT = "hand-written rule on read_dict(dict)"
ENGINE_DICT = "Engine.evaluate(dict)"
RULE_JSON = "hand-written rule on read_json(bytes)"
ENGINE_JSON = "Engine.evaluate_json(bytes)"


def machine() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
            )
        except OSError:
            return None
        return out.stdout.strip() or None

    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def loop(fn: Callable[[Any], Any], items: Sequence[Any]) -> Callable[[], None]:
    def run() -> None:
        for item in items:
            fn(item)

    return run


def side_by_side(
    cases: list[tuple[str, Callable[[], None]]], rounds: int, seed: int = 7
) -> dict[str, float]:
    """Best time of each case over ``rounds`` rounds, the cases interleaved within a round in
    an order shuffled each round: a case timed right after another is timed faster (two
    identical cases differ by 2-8 % in a fixed order here), so no case may always follow the
    same one."""
    best = {name: float("inf") for name, _ in cases}
    order = list(cases)
    rng = random.Random(seed)
    for _ in range(rounds):
        rng.shuffle(order)
        for name, run in order:
            start = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - start)
    return best


def answer(det: Any) -> tuple[Any, ...]:
    a = det.authorization
    auth = None if a is None else (a.start, a.end, a.max_daily_dose_mg)
    return (det.decision, det.denial_basis, auth)


def measure(
    cases: list[tuple[str, Callable[[], None]]], repeat: int, n: int, rule_alone: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, float]]:
    """Time the cases side by side: the machine it ran on, each case's figures, and the three
    ratios of the engine over the hand-written rule (``rule_alone``: that rule's case name)."""
    before = os.getloadavg()
    best = side_by_side(cases, repeat)
    info = machine()
    info["load_average_before"] = before
    results = [
        {
            "case": name,
            "requests": n,
            "seconds": best[name],
            "per_second": n / best[name],
            "microseconds_each": 1e6 * best[name] / n,
        }
        for name, _ in cases
    ]
    ratios = {
        "deciding alone": best[rule_alone] / best[ENGINE_ALONE],
        "from a dict": best[RULE_DICT] / best[ENGINE_DICT],
        "from JSON bytes": best[RULE_JSON] / best[ENGINE_JSON],
    }
    return info, results, ratios


def print_cases(results: list[dict[str, Any]], ratios: dict[str, float]) -> None:
    width = max(len(r["case"]) for r in results)
    print(f"{'case':<{width}}  {'determinations/s':>16}  {'µs each':>8}")
    for r in results:
        print(f"{r['case']:<{width}}  {r['per_second']:>16,.0f}  {r['microseconds_each']:>8.2f}")
    for name, ratio in ratios.items():
        print(f"ratio engine / hand-written, {name + ':':<16} {ratio:.2f}")
    print(f"ratio engine / hand-written, lowest of the three: {min(ratios.values()):.2f}")


def print_agreement(
    who: str,
    off: list[int],
    n: int,
    labels: Sequence[str],
    engine_answer: Callable[[int], Any],
    rule_answer: Callable[[int], Any],
) -> None:
    """How many requests the engine and the rule agree on, and the first five they do not."""
    print(f"agreement {who} (decision, basis, authorization): {n - len(off):,}/{n:,}")
    for i in off[:5]:
        print(f"  #{i} {labels[i]}: engine {engine_answer(i)}")
        print(f"  {'':>{len(str(i)) + 1}} hand-written {rule_answer(i)}")


def finish(
    out: Path,
    workload: dict[str, Any],
    info: dict[str, Any],
    results: list[dict[str, Any]],
    ratios: dict[str, float],
    disagreements: int,
) -> None:
    """Print the machine the figures come from and write them all to ``out``."""
    load = " ".join(f"{x:.2f}" for x in info["load_average"])
    print(
        f"Python {info['python']} on {info['platform']}, {info['cpu']}, {info['cpu_count']} CPUs, "
        f"load average {load}; commit {info['git_commit']}"
        + (" (uncommitted changes)" if info["git_dirty"] else "")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "workload": workload,
                "clock": "time.process_time (CPU time of the benchmark process)",
                "machine": info,
                "cases": results,
                "ratio_engine_over_handwritten": ratios,
                "disagreements": disagreements,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="requests in the workload")
    ap.add_argument("--seed", type=int, default=1, help="workload seed")
    ap.add_argument("--repeat", type=int, default=7, help="rounds; the best of each case is kept")
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "engine.json")
    args = ap.parse_args(argv)

    wl = workload.generate(args.n, args.seed)
    dicts, raw = wl.requests, wl.raw
    engine = Engine()
    explaining = Engine(compiled=False)
    lumakras = next(p for p in engine.policies if p.drug.brand == "Lumakras")
    span = dt.timedelta(days=30)
    many = Engine(
        policies=[
            lumakras.model_copy(update={"effective_date": lumakras.effective_date - span * k})
            for k in range(100)
        ]
    )

    def moved_back(d: dict[str, Any], days: int) -> dict[str, Any]:
        back = dt.timedelta(days=days)

        def day(text: str) -> str:
            return (dt.date.fromisoformat(text) - back).isoformat()

        member = {**d["member"], "birth_date": day(d["member"]["birth_date"])}
        return {**d, "date_of_service": day(d["date_of_service"]), "member": member}

    # Each request into another version's span, so that every one is chosen by bisection.
    spread = [moved_back(d, 30 * (i % 100)) for i, d in enumerate(dicts)]

    validated = [read_dict(d) for d in dicts]

    def rule_dict(d: Any) -> Any:
        return tight.decide(read_dict(d))

    def rule_json(b: bytes) -> Any:
        return tight.decide(read_json(b))

    # Agreement first (it also warms every cache the timed rounds use).
    off = [
        i
        for i, d in enumerate(dicts)
        if answer(engine.evaluate(d)) != rule_dict(d)
        or answer(engine.evaluate_json(raw[i])) != rule_json(raw[i])
        or answer(engine.evaluate_model(validated[i])) != tight.decide(validated[i])
    ]

    for d in dicts:  # the other engines warmed as well: every case starts with its caches full
        explaining.evaluate(d)
        engine.evaluate(d).trace  # noqa: B018 - read for its side effect
    for d in spread:
        many.evaluate(d)

    def with_trace(d: Any) -> Any:
        return engine.evaluate(d).trace

    cases = [
        (RULE_ALONE, loop(tight.decide, validated)),
        (ENGINE_ALONE, loop(engine.evaluate_model, validated)),
        (RULE_DICT, loop(rule_dict, dicts)),
        (ENGINE_DICT, loop(engine.evaluate, dicts)),
        (RULE_JSON, loop(rule_json, raw)),
        (ENGINE_JSON, loop(engine.evaluate_json, raw)),
        ("read_dict(dict) alone: the validation", loop(read_dict, dicts)),
        ("Engine.evaluate(dict).trace", loop(with_trace, dicts)),
        ("Engine(compiled=False).evaluate(dict)", loop(explaining.evaluate, dicts)),
        ("Engine.evaluate(dict), 100 versions of the policy", loop(many.evaluate, spread)),
    ]
    n = len(dicts)
    info, results, ratios = measure(cases, args.repeat, n, RULE_ALONE)
    print(
        f"priorauth bench: {n:,} Lumakras requests (seed {args.seed}), one process, "
        f"best of {args.repeat} interleaved rounds in shuffled order, CPU time"
    )
    print_cases(results, ratios)
    mix = Counter(engine.evaluate(d).decision for d in dicts)
    print("decisions: " + ", ".join(f"{k} {v}" for k, v in mix.most_common()))
    print_agreement(
        "engine vs hand-written",
        off,
        n,
        wl.labels,
        lambda i: answer(engine.evaluate(dicts[i])),
        lambda i: rule_dict(dicts[i]),
    )
    finish(
        args.out,
        {"n": n, "seed": args.seed, "rounds": args.repeat, "mix": mix},
        info,
        results,
        ratios,
        len(off),
    )
    return 1 if off else 0


if __name__ == "__main__":
    sys.exit(main())
