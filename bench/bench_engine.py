"""Determinations per second on a mixed Lumakras workload (``make bench``).

Times, best of ``--repeat`` runs in one process with ``time.perf_counter``:

* the engine over pre-validated request models, with and without reading the trace,
* the engine over raw JSON bytes (parse + validate + decide),
* the hand-written rule in ``bench/handwritten.py`` over the request dicts,
* ``Request.model_validate_json`` alone, as the ceiling for the JSON path.

Then prints the decision mix, checks the engine against the hand-written rule on every request
and writes ``bench/results.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import handwritten
import workload
from rich.console import Console
from rich.table import Table

from priorauth import Engine
from priorauth.request import Request

HERE = Path(__file__).resolve().parent
console = Console(width=int(os.environ.get("COLUMNS", "120")))


def _text(value: Any) -> Any:
    """Enum members, dates and plain values all compare as plain text."""
    if value is None:
        return None
    value = getattr(value, "value", value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value if isinstance(value, int | float) else str(value)


def engine_answer(det: Any) -> dict[str, Any]:
    auth = det.authorization
    return {
        "decision": _text(det.decision),
        "denial_basis": _text(det.denial_basis),
        "authorization": None
        if auth is None
        else {
            "start": _text(auth.start),
            "end": _text(auth.end),
            "max_daily_dose_mg": _text(auth.max_daily_dose_mg),
        },
        "missing": [_text(m.id) for m in det.missing],
    }


def best_of(repeat: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def loop(fn: Callable[[Any], Any], items: Sequence[Any]) -> Callable[[], None]:
    def run() -> None:
        for item in items:
            fn(item)

    return run


def machine() -> dict[str, Any]:
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=HERE,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or None
        )
    except OSError:
        commit = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "git_commit": commit,
    }


def agreement(
    wl: workload.Workload, engine_answers: list[dict[str, Any]], hand_answers: list[dict[str, Any]]
) -> dict[str, Any]:
    """Compare decision + denial basis (the verdict), then the authorization, then the pend
    questions (as sets of criterion ids)."""
    verdict_off: list[int] = []
    auth_off: list[int] = []
    missing_off: list[int] = []
    for i, (e, h) in enumerate(zip(engine_answers, hand_answers, strict=True)):
        if (e["decision"], e["denial_basis"]) != (h["decision"], h["denial_basis"]):
            verdict_off.append(i)
        elif e["authorization"] != h["authorization"]:
            auth_off.append(i)
        elif sorted(e["missing"]) != sorted(h["missing"]):
            missing_off.append(i)
    return {
        "verdict_disagree": verdict_off,
        "authorization_disagree": auth_off,
        "missing_disagree": missing_off,
    }


def show_disagreements(
    title: str,
    idx: list[int],
    wl: workload.Workload,
    engine_answers: list[dict[str, Any]],
    hand_answers: list[dict[str, Any]],
    limit: int = 10,
) -> list[dict]:
    shown = []
    by_label = Counter(wl.labels[i] for i in idx)
    console.print(
        f"[bold]{title}[/bold]: {len(idx)} "
        + ", ".join(f"{k}={v}" for k, v in by_label.most_common())
    )
    # one example per scenario first, so ten examples cover as many causes as possible
    seen: set[str] = set()
    firsts = [i for i in idx if not (wl.labels[i] in seen or seen.add(wl.labels[i]))]
    order = firsts + [i for i in idx if i not in set(firsts)]
    for i in order[:limit]:
        item = {
            "index": i,
            "scenario": wl.labels[i],
            "request": wl.requests[i],
            "engine": engine_answers[i],
            "handwritten": hand_answers[i],
        }
        shown.append(item)
        console.print(f"  #{i} [cyan]{wl.labels[i]}[/cyan]")
        console.print(f"    request:     {wl.raw[i].decode()}", soft_wrap=True)
        console.print(f"    engine:      {json.dumps(engine_answers[i])}", soft_wrap=True)
        console.print(f"    handwritten: {json.dumps(hand_answers[i])}", soft_wrap=True)
    return shown


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="requests in the workload")
    ap.add_argument("--seed", type=int, default=1, help="workload seed")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per case; best is kept")
    ap.add_argument("--out", type=Path, default=HERE / "results.json")
    args = ap.parse_args(argv)

    wl = workload.generate(args.n, args.seed)
    engine = Engine()
    models = [Request.model_validate(d) for d in wl.requests]

    notes: list[str] = []
    evaluate_model = getattr(engine, "evaluate_model", None)
    if evaluate_model is None:
        notes.append("Engine.evaluate_model missing: 'engine only' times Engine.evaluate(model)")
        evaluate_model = engine.evaluate
    evaluate_json = getattr(engine, "evaluate_json", None)
    if evaluate_json is None:
        notes.append("Engine.evaluate_json missing: 'engine + JSON' times Engine.evaluate(bytes)")
        evaluate_json = engine.evaluate

    # one untimed pass: answers for the agreement check, and it warms every cache
    dets, errors = [], []
    for i, m in enumerate(models):
        try:
            dets.append(evaluate_model(m))
        except Exception as exc:
            dets.append(None)
            errors.append((i, f"{type(exc).__name__}: {exc}"))
    ok = [i for i, d in enumerate(dets) if d is not None]
    if errors:
        notes.append(f"{len(errors)} requests raised in the engine and are left out of timing")
    ok_models = [models[i] for i in ok]
    ok_raw = [wl.raw[i] for i in ok]
    ok_dicts = [wl.requests[i] for i in ok]
    for r in ok_raw[:50]:
        evaluate_json(r)
    if errors and not ok:
        notes.append("every request raised: the engine cases time nothing")

    def with_trace(m: Any) -> Any:
        return evaluate_model(m).trace

    cases: list[tuple[str, Callable[[], None], int]] = [
        ("engine only", loop(evaluate_model, ok_models), len(ok_models)),
        ("engine + JSON parse/validate", loop(evaluate_json, ok_raw), len(ok_raw)),
        ("engine + trace", loop(with_trace, ok_models), len(ok_models)),
        ("hand-written rule over dicts", loop(handwritten.decide, ok_dicts), len(ok_dicts)),
        (
            "pydantic model_validate_json alone",
            loop(Request.model_validate_json, ok_raw),
            len(ok_raw),
        ),
    ]
    results = []
    for name, fn, count in cases:
        seconds = best_of(args.repeat, fn)
        results.append(
            {
                "case": name,
                "requests": count,
                "seconds": seconds,
                "per_second": count / seconds if count else None,
                "microseconds_each": 1e6 * seconds / count if count else None,
            }
        )

    table = Table(
        title=f"priorauth bench: {args.n} Lumakras requests, seed {args.seed}, "
        f"best of {args.repeat}"
    )
    table.add_column("case")
    table.add_column("requests", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("determinations/s", justify="right")
    table.add_column("µs each", justify="right")
    for r in results:
        if not r["requests"]:
            table.add_row(r["case"], "0", "-", "-", "-")
            continue
        table.add_row(
            r["case"],
            f"{r['requests']:,}",
            f"{r['seconds']:.4f}",
            f"{r['per_second']:,.0f}",
            f"{r['microseconds_each']:.1f}",
        )
    console.print(table)
    info = machine()
    console.print(
        f"Python {info['python']} ({info['implementation']}) on {info['platform']}, "
        f"{info['cpu_count']} CPUs, single process"
    )
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")

    engine_answers = [
        engine_answer(d)
        if d is not None
        else {"decision": "error", "denial_basis": None, "authorization": None, "missing": []}
        for d in dets
    ]
    hand_answers = [handwritten.decide(d) for d in wl.requests]

    mix = Counter(a["decision"] for a in engine_answers)
    basis = Counter(a["denial_basis"] for a in engine_answers if a["decision"] == "denied")
    renewals = sum(d["kind"] == "renewal" for d in wl.requests)
    console.print(
        "\n[bold]Decision mix (engine)[/bold]: "
        + ", ".join(f"{k} {v} ({100 * v / args.n:.1f}%)" for k, v in mix.most_common())
        + f"; denial basis: {dict(basis)}; renewals {renewals}"
        f" ({100 * renewals / args.n:.1f}%)"
    )
    intended = Counter(workload.EXPECTED[label] for label in wl.labels)
    console.print(
        "Decision mix (scenarios as built): "
        + ", ".join(f"{k} {v}" for k, v in intended.most_common())
    )
    for i, msg in errors[:10]:
        console.print(f"[red]engine error[/red] #{i} {wl.labels[i]}: {msg}")

    agree = agreement(wl, engine_answers, hand_answers)
    verdict_off, auth_off = agree["verdict_disagree"], agree["authorization_disagree"]
    missing_off = agree["missing_disagree"]
    console.print(
        f"\n[bold]Agreement engine vs hand-written[/bold] (decision + denial basis): "
        f"{args.n - len(verdict_off)}/{args.n}; of those, authorization "
        f"(start, end, max daily dose) differs on {len(auth_off)}, "
        f"pend questions (criterion ids) differ on {len(missing_off)}"
    )
    shown = []
    if verdict_off:
        shown += show_disagreements(
            "Verdict disagreements", verdict_off, wl, engine_answers, hand_answers
        )
    if auth_off:
        shown += show_disagreements(
            "Authorization disagreements", auth_off, wl, engine_answers, hand_answers, limit=5
        )
    if missing_off:
        shown += show_disagreements(
            "Pend-question disagreements", missing_off, wl, engine_answers, hand_answers, limit=5
        )

    args.out.write_text(
        json.dumps(
            {
                "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "workload": {
                    "n": args.n,
                    "seed": args.seed,
                    "repeat": args.repeat,
                    "renewals": renewals,
                    "decision_mix": dict(mix),
                    "denial_basis": dict(basis),
                },
                "machine": info,
                "cases": results,
                "notes": notes,
                "engine_errors": [
                    {"index": i, "scenario": wl.labels[i], "error": m} for i, m in errors[:50]
                ],
                "agreement": {
                    "requests": args.n,
                    "verdict_agree": args.n - len(verdict_off),
                    "verdict_disagree": len(verdict_off),
                    "authorization_disagree": len(auth_off),
                    "missing_disagree": len(missing_off),
                    "examples": shown,
                },
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
