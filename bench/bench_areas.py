"""The engine against the tightest hand-written rule on a mixed workload of other areas
(``make bench``, after bench_engine.py): weight management, a PCSK9 inhibitor and testosterone
(bench/areas/policies.yaml), with observations in several units, BMI from weight and height,
ages in ranges, sex, step therapy with durations and doses, and exclusions by drug class.

Timed as bench_engine.py times Lumakras: one process, every case warmed, the cases interleaved
in an order shuffled each round, the best of ``--repeat`` rounds of CPU time; the bar is
bench/tight_areas.py, given what the engine is given, validated by the same fast validator.
It prints the three ratios engine / hand-written (>= 1.0: the engine at least as fast), checks
that the engine, its explaining path and the rule agree on every request, and writes the figures
with the machine to ``--out`` (default ``var/bench/areas.json``).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import tight_areas
import workload_areas
import yaml
from bench_engine import (
    ENGINE_ALONE,
    ENGINE_DICT,
    ENGINE_JSON,
    RULE_DICT,
    RULE_JSON,
    answer,
    finish,
    loop,
    measure,
    print_agreement,
    print_cases,
)

from priorauth import Engine
from priorauth.policy.load import policy_from_data
from priorauth.request import read_dict, read_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
POLICIES = HERE / "areas" / "policies.yaml"

RULE_ALONE = "hand-written rule, validated request (bench/tight_areas.py)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="requests in the workload")
    ap.add_argument("--seed", type=int, default=1, help="workload seed")
    ap.add_argument("--repeat", type=int, default=7, help="rounds; the best of each case is kept")
    ap.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "areas.json")
    args = ap.parse_args(argv)

    policies = [policy_from_data(d, str(POLICIES)) for d in yaml.safe_load(POLICIES.read_text())]
    engine = Engine(policies)
    explaining = Engine(policies, compiled=False)
    wl = workload_areas.generate(args.n, args.seed)
    dicts, raw = wl.requests, wl.raw
    validated = [read_dict(d) for d in dicts]

    def rule_dict(d: Any) -> Any:
        return tight_areas.decide(read_dict(d))

    def rule_json(b: bytes) -> Any:
        return tight_areas.decide(read_json(b))

    off = [
        i
        for i, d in enumerate(dicts)
        if answer(engine.evaluate(d)) != rule_dict(d)
        or answer(engine.evaluate_json(raw[i])) != rule_json(raw[i])
        or answer(engine.evaluate_model(validated[i])) != tight_areas.decide(validated[i])
        or answer(explaining.evaluate(d)) != rule_dict(d)
    ]

    cases = [
        (RULE_ALONE, loop(tight_areas.decide, validated)),
        (ENGINE_ALONE, loop(engine.evaluate_model, validated)),
        (RULE_DICT, loop(rule_dict, dicts)),
        (ENGINE_DICT, loop(engine.evaluate, dicts)),
        (RULE_JSON, loop(rule_json, raw)),
        (ENGINE_JSON, loop(engine.evaluate_json, raw)),
        ("read_dict(dict) alone: the validation", loop(read_dict, dicts)),
        ("Engine(compiled=False).evaluate(dict)", loop(explaining.evaluate, dicts)),
    ]
    n = len(dicts)
    info, results, ratios = measure(cases, args.repeat, n, RULE_ALONE)
    print(
        f"priorauth bench, other areas: {n:,} Wegovy, Repatha and Xyosted requests (seed "
        f"{args.seed}), one process, best of {args.repeat} interleaved rounds, CPU time"
    )
    print_cases(results, ratios)
    mix = Counter(engine.evaluate(d).decision for d in dicts)
    print("decisions: " + ", ".join(f"{k} {v}" for k, v in mix.most_common()))
    print_agreement(
        "engine, explaining path and hand-written",
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
