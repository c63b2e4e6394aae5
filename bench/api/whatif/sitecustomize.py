"""What-if experiments on the server, without touching src/: put this folder on the server's
PYTHONPATH and name the changes in PA_EXP (comma list). Python imports `sitecustomize` at start,
in the supervisor and in every worker.

    .venv/bin/python bench/api/run.py --databases postgresql \
        --server-env PYTHONPATH=bench/api/whatif --server-env PA_EXP=nodelay,pool,authcache

- nodelay: TCP_NODELAY on every accepted connection (uvicorn's multi-worker listener leaves it
  off: Kludex/uvicorn#3149);
- pool: PostgreSQL pool of 40 connections (anyio's thread limit), no overflow, no pre-ping;
- authcache: API key -> principal remembered in process (no lookup transaction per request);
  a no-op once src has its own cache (Service.principal);
- gclog: each full garbage collection (generation 2) and its pause, on stderr or appended to
  the file PA_GCLOG names.

Experiments only: they patch the app from outside to measure what a change in src would give.
"""

from __future__ import annotations

import os
import socket
from typing import Any

_EXP = set(filter(None, os.environ.get("PA_EXP", "").split(",")))


def _nodelay(orig: Any) -> Any:
    def connection_made(self: Any, transport: Any) -> Any:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return orig(self, transport)

    return connection_made


if "nodelay" in _EXP:
    from uvicorn.protocols.http import h11_impl

    h11_impl.H11Protocol.connection_made = _nodelay(h11_impl.H11Protocol.connection_made)  # type: ignore[method-assign]
    try:
        from uvicorn.protocols.http import httptools_impl

        httptools_impl.HttpToolsProtocol.connection_made = _nodelay(  # type: ignore[method-assign]
            httptools_impl.HttpToolsProtocol.connection_made
        )
    except ImportError:
        pass

if "pool" in _EXP:
    import sqlalchemy

    import priorauth.service.db as _db

    _make_engine = _db.make_engine

    def make_engine(url: str) -> Any:
        if url.startswith("sqlite"):
            return _make_engine(url)
        return sqlalchemy.create_engine(url, pool_size=40, max_overflow=0, pool_pre_ping=False)

    _db.make_engine = make_engine

if "authcache" in _EXP:
    import priorauth.service.http as _app

if "authcache" in _EXP and hasattr(_app, "principal_for"):  # src before Service.principal
    _principal_for = _app.principal_for
    _cache: dict[str, Any] = {}

    def principal_for(session: Any, key: str) -> Any:
        if key not in _cache:
            _cache[key] = _principal_for(session, key)
        return _cache[key]

    _app.principal_for = principal_for

if "gclog" in _EXP:
    # Every collection of the oldest generation, with its pause, on the server's stderr: a full
    # collection walks every object the process holds (the policies, the code tables), which
    # is what a request that waits behind it pays.
    import gc
    import sys
    import time

    _gc_started = [0.0]

    def _gc_report(phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            _gc_started[0] = time.perf_counter()
        else:
            pause = (time.perf_counter() - _gc_started[0]) * 1000
            line = (
                f"{time.strftime('%H:%M:%S')} gc: full collection in pid {os.getpid()}: "
                f"{pause:.0f} ms "
                f"({gc.get_freeze_count()} objects frozen)\n"
            )
            if os.environ.get("PA_GCLOG"):
                with open(os.environ["PA_GCLOG"], "a") as f:
                    f.write(line)
            else:
                sys.stderr.write(line)

    gc.callbacks.append(_gc_report)
