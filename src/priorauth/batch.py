"""Deciding an NDJSON file of requests at file speed: one request a line in, one determination a
line out, in input order.

Lines are read and written as bytes and (de)serialized with orjson; the trace is written only
when asked for (it is most of the work and most of the output). With ``jobs`` > 1 the file is
cut into chunks decided by worker processes (each with its own engine, forked from the parent's
so that nothing is compiled twice), and the chunks are written back in order. A line that
cannot be decided becomes ``{"line": N, "error": "..."}`` and the batch goes on.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.pool import AsyncResult
from typing import IO, Any

import orjson

from priorauth.engine.engine import Engine
from priorauth.errors import PriorAuthError

CHUNK_LINES = 2000

Chunk = tuple[int, list[bytes]]  # number of the first line, the lines
Decided = tuple[bytes, list[tuple[int, str]]]  # output lines, (line, error) for each bad one


def decide_lines(engine: Engine, first: int, lines: list[bytes], trace: bool) -> Decided:
    out: list[bytes] = []
    errors: list[tuple[int, str]] = []
    dumps = orjson.dumps
    evaluate = engine.evaluate_json
    for n, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        try:
            out.append(evaluate(line).to_json(trace))
        except PriorAuthError as exc:
            errors.append((n, str(exc)))
            out.append(dumps({"line": n, "error": str(exc)}))
    out.append(b"")
    return b"\n".join(out), errors


def chunks(lines: Iterable[bytes], size: int = CHUNK_LINES) -> Iterator[Chunk]:
    batch: list[bytes] = []
    first = 1
    for n, line in enumerate(lines, start=1):
        if not batch:
            first = n
        batch.append(line)
        if len(batch) >= size:
            yield first, batch
            batch = []
    if batch:
        yield first, batch


# The engine a worker process decides with: set in the parent before the pool forks.
_worker_engine: Engine | None = None


def _decide_chunk(args: tuple[int, list[bytes], bool]) -> Decided:
    assert _worker_engine is not None
    first, lines, trace = args
    return decide_lines(_worker_engine, first, lines, trace)


def run_batch(
    engine: Engine,
    source: IO[bytes],
    sink: IO[bytes],
    *,
    trace: bool = False,
    jobs: int = 1,
    on_error: Callable[[int, str], Any] | None = None,
) -> int:
    """Decide every line of ``source`` into ``sink``; the number of lines that were refused."""
    bad = 0

    def emit(result: Decided) -> None:
        nonlocal bad
        data, errors = result
        sink.write(data)
        bad += len(errors)
        if on_error is not None:
            for n, message in errors:
                on_error(n, message)

    if jobs > 1 and "fork" not in mp.get_all_start_methods():
        jobs = 1  # workers share the parent's engine by forking; without fork, one process
    if jobs <= 1:
        for first, lines in chunks(source):
            emit(decide_lines(engine, first, lines, trace))
        return bad

    global _worker_engine
    _worker_engine = engine
    context = mp.get_context("fork")
    with context.Pool(jobs) as pool:
        # A bounded window of chunks in flight keeps memory flat on a file of any size.
        pending: deque[AsyncResult[Decided]] = deque()
        for first, lines in chunks(source):
            pending.append(pool.apply_async(_decide_chunk, ((first, lines, trace),)))
            if len(pending) >= 2 * jobs:
                emit(pending.popleft().get())
        while pending:
            emit(pending.popleft().get())
    _worker_engine = None
    return bad
