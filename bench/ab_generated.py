"""A/B of a change to the generated code, timed in one process (for whoever tunes the compiled
path; not part of ``make bench``).

Timings of two commits taken minutes apart differ by more than most changes to the generated
functions gain. Here both variants run in one process, on one workload, round after round in
a shuffled order (bench_engine.side_by_side). Engines A and B are built from this checkout;
each decider's generated function (``Decider.sources["memo"]``) is rewritten by the functions
``A`` and ``B`` of a transform file and compiled again in its own namespace, and the entry
points' source (``priorauth.engine.engine._ENTRY_SOURCE``) by ``entry_A`` / ``entry_B`` if
given. A and B must agree on every request (decision, basis, authorization) before anything is
timed.

    python bench/ab_generated.py transform.py [--rounds 21] [--workload areas]

with transform.py, for instance::

    def A(source): return source
    def B(source): return source.replace("...", "...")

Run it with A and B both the identity first: the spread that gives is the noise (about ±2 %
here); order effects are removed by the shuffle, not by luck.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import workload
import workload_areas
import yaml
from bench_engine import loop, side_by_side

import priorauth.engine.engine as engine_module
from priorauth import Engine
from priorauth.policy.load import policy_from_data
from priorauth.request import read_dict

AREAS = Path(__file__).resolve().parent / "areas" / "policies.yaml"


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("transform", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"ab_generated: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _engine(entry: Callable[[str], str], areas: bool) -> Engine:
    original = engine_module._ENTRY_SOURCE
    engine_module._ENTRY_SOURCE = entry(original)
    try:
        if areas:
            data = yaml.safe_load(AREAS.read_text())
            return Engine([policy_from_data(d, str(AREAS)) for d in data])
        return Engine()
    finally:
        engine_module._ENTRY_SOURCE = original


def _rewrite(engine: Engine, transform: Callable[[str], str]) -> None:
    for decider in engine._deciders.values():
        fn = decider.decide_fast
        namespace = dict(fn.__globals__)
        exec(compile(transform(decider.sources["memo"]), "<ab>", "exec"), namespace)
        decider.decide_fast = namespace["decide"]
    # The versions hold the functions they were made with: made again on first use.
    engine._choosers.clear()
    engine._default_choosers.clear()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("transform", type=Path, help="a file defining A(source) and B(source)")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument(
        "--workload",
        choices=("lumakras", "areas"),
        default="lumakras",
        help="bench_engine.py's Lumakras requests or bench_areas.py's mixed workload",
    )
    args = ap.parse_args(argv)
    tr = _load(args.transform)

    def same(source: str) -> str:
        return source

    areas = args.workload == "areas"
    a = _engine(getattr(tr, "entry_A", same), areas)
    b = _engine(getattr(tr, "entry_B", same), areas)
    _rewrite(a, tr.A)
    _rewrite(b, tr.B)

    wl = (workload_areas if areas else workload).generate(args.n, 1)
    validated = [read_dict(d) for d in wl.requests]
    for d, raw in zip(wl.requests, wl.raw, strict=True):
        x, y = a.evaluate(d), b.evaluate(d)
        a.evaluate_json(raw), b.evaluate_json(raw)
        if (x.decision, x.denial_basis, x.authorization) != (
            y.decision,
            y.denial_basis,
            y.authorization,
        ):
            raise SystemExit(f"ab_generated: A and B disagree on {d}")
    cases = [
        (f"{variant} {what}", loop(fn, items))
        for what, items, a_fn, b_fn in (
            ("alone", validated, a.evaluate_model, b.evaluate_model),
            ("dict", wl.requests, a.evaluate, b.evaluate),
            ("json", wl.raw, a.evaluate_json, b.evaluate_json),
        )
        for variant, fn in (("A", a_fn), ("B", b_fn))
    ]
    best = side_by_side(cases, args.rounds)
    us = 1e6 / args.n
    for what in ("alone", "dict", "json"):
        ta, tb = best[f"A {what}"], best[f"B {what}"]
        print(
            f"{what:<6} A {ta * us:.3f} µs  B {tb * us:.3f} µs  "
            f"B faster by {(ta / tb - 1) * 100:+.1f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
