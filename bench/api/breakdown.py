"""Where a POST /cases spends its time, stage by stage, in one process (no HTTP, no threads).

Builds the app the server builds (create_app) on a fresh database, then times, per call, each
piece of work a submission does, in the order the server does it:

- auth: the `current_principal` lookup (its own transaction);
- idempotency lookup: `_by_idempotency` (its own transaction);
- engine: parse + evaluate with the trace, no database;
- submit: `Service.submit` end to end (auth excluded: the two lookups above are inside it...
  the idempotency one is; auth is not);
- response: `case_view` + JSON encoding through FastAPI's `jsonable_encoder` and JSONResponse;
- the whole request through the ASGI app in process (httpx.ASGITransport), and GET /health.

CPU time (process time) and wall time per call, median of `--repeat` rounds.

    .venv/bin/python bench/api/breakdown.py [--database sqlite|postgresql] [--n 300]
    .venv/bin/python bench/api/breakdown.py --cprofile submit   # cProfile one stage, top 30
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import loadgen  # noqa: E402
import run  # noqa: E402


def timed(fn: Callable[[int], Any], n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call over n calls."""
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(n):
        fn(i)
    return (1000 * (time.process_time() - c0) / n, 1000 * (time.perf_counter() - w0) / n)


def _area(file: str, func: str) -> str:
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/priorauth/" in file:
        return "priorauth." + file.split("/priorauth/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if file == "~":
        return f"builtin {func}"[:60]
    if "/lib/python3" in file:
        return "stdlib " + file.rsplit("/", 1)[1]
    return file


def inline_threadpool() -> None:
    """Run what the routes hand to the thread pool in the calling thread: cProfile sees only
    the thread it was started in, and a PAS submission does most of its work in the pool."""
    import importlib

    async def inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    for module in (
        "fastapi.routing",
        "fastapi.dependencies.utils",
        "priorauth.fhir.routes",
        "priorauth.api.routes",
    ):
        mod = importlib.import_module(module)
        if hasattr(mod, "run_in_threadpool"):
            mod.run_in_threadpool = inline  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    p.add_argument("--n", type=int, default=300, help="calls per stage and round")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--cprofile", default="", help="profile this stage with cProfile")
    args = p.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="priorauth-breakdown-"))
    if args.database == "sqlite":
        url = f"sqlite:///{tmp / 'b.db'}"
    else:
        pg = run.postgres_url()
        if not pg:
            print("error: no PostgreSQL URL", file=sys.stderr)
            return 2
        url = run.fresh_postgres(pg, "priorauth_breakdown")
    os.environ["PRIORAUTH_DATABASE_URL"] = url
    os.environ["PRIORAUTH_DEMO_KEYS"] = "1"

    import httpx
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse

    from priorauth.request import parse_request
    from priorauth.server import create_app
    from priorauth.service.auth import principal_for
    from priorauth.service.config import Settings
    from priorauth.service.workflow import case_view

    app = create_app(Settings())
    svc = app.state.service
    who = None
    with svc.db.session() as s:
        who = principal_for(s, "demo-submitter-key")
    assert who is not None
    counter = [0]

    def fresh(k: int) -> list[tuple[str, bytes]]:
        counter[0] += 1
        return loadgen.make_requests(k, f"BD{counter[0]}")

    stages: dict[str, Callable[[], Callable[[int], Any]]] = {}

    def auth() -> Callable[[int], Any]:
        def f(_: int) -> Any:
            with svc.db.session() as s:
                return principal_for(s, "demo-submitter-key")

        return f

    def idem() -> Callable[[int], Any]:
        reqs = fresh(args.n)
        models = [parse_request(b) for _, b in reqs]
        return lambda i: svc._by_idempotency("demo-clinic", reqs[i][0], models[i])

    def engine() -> Callable[[int], Any]:
        reqs = fresh(args.n)
        return lambda i: svc.engine.evaluate_model(parse_request(reqs[i][1])).model_dump(
            mode="json"
        )

    def submit() -> Callable[[int], Any]:
        reqs = fresh(args.n)
        return lambda i: svc.submit(who, reqs[i][1], reqs[i][0])

    done = [svc.submit(who, b, k)[0] for k, b in fresh(20)]

    def response() -> Callable[[int], Any]:
        now = svc.clock()
        return lambda i: JSONResponse(jsonable_encoder(case_view(done[i % 20], now))).body

    client_loop = asyncio.new_event_loop()
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://t")
    headers = {"Authorization": "Bearer demo-submitter-key", "Content-Type": "application/json"}

    def http_post() -> Callable[[int], Any]:
        reqs = fresh(args.n)

        def f(i: int) -> Any:
            r = client_loop.run_until_complete(
                client.post(
                    "/cases", content=reqs[i][1], headers={**headers, "Idempotency-Key": reqs[i][0]}
                )
            )
            assert r.status_code == 201, r.text

        return f

    fhir_headers = {**headers, "Content-Type": "application/fhir+json"}

    def http_pas() -> Callable[[int], Any]:
        counter[0] += 1
        reqs = loadgen.make_fhir_requests(args.n, f"BDF{counter[0]}", 0)

        def f(i: int) -> Any:
            r = client_loop.run_until_complete(
                client.post("/fhir/Claim/$submit", content=reqs[i][1], headers=fhir_headers)
            )
            assert r.status_code == 200, r.text

        return f

    def http_health() -> Callable[[int], Any]:
        return lambda i: client_loop.run_until_complete(client.get("/health"))

    stages = {
        "auth lookup (own transaction)": auth,
        "idempotency lookup (own transaction)": idem,
        "engine: parse + evaluate + model_dump": engine,
        "Service.submit (idempotency + insert)": submit,
        "response: case_view + JSON": response,
        "POST /cases through ASGI (in process)": http_post,
        "PAS POST /fhir/Claim/$submit through ASGI": http_pas,
        "GET /health through ASGI (in process)": http_health,
    }
    if args.cprofile:
        inline_threadpool()
        name = next(k for k in stages if k.lower().startswith(args.cprofile.lower()))
        fn = stages[name]()
        prof = cProfile.Profile()
        prof.enable()
        for i in range(args.n):
            fn(i)
        prof.disable()
        print(f"cProfile of '{name}', {args.n} calls, {args.database}")
        stats = pstats.Stats(prof)
        stats.dump_stats(str(HERE.parent.parent / "var" / "bench" / "breakdown.prof"))
        stats.sort_stats("cumulative").print_stats(25)
        # Self time by package: where the CPU goes, whoever called it.
        areas: dict[str, float] = {}
        for (file, _, func), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            areas[_area(file, func)] = areas.get(_area(file, func), 0.0) + tottime
        total = sum(areas.values())
        print(f"self time by package ({1000 * total / args.n:.2f} ms per call under cProfile):")
        for area, t in sorted(areas.items(), key=lambda kv: -kv[1]):
            print(f"  {100 * t / total:5.1f}%  {1000 * t / args.n:6.3f} ms  {area}")
        return 0

    results: dict[str, dict[str, float]] = {}
    for name, make in stages.items():
        make()(0)  # warm
        rounds = [timed(make(), args.n) for _ in range(args.repeat)]
        cpu = statistics.median(r[0] for r in rounds)
        wall = statistics.median(r[1] for r in rounds)
        results[name] = {"cpu_ms": round(cpu, 3), "wall_ms": round(wall, 3)}
        print(f"{args.database:<10} {name:<42} cpu {cpu:7.3f} ms  wall {wall:7.3f} ms", flush=True)
    client_loop.run_until_complete(client.aclose())
    out = HERE.parent.parent / "var" / "bench" / f"breakdown-{args.database}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"database": args.database, "n": args.n, "stages": results}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
