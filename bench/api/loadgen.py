"""Open-loop load generator for POST /cases, run as its own process by `run.py`.

Requests are scheduled by the clock, request i at start + i / rate, whatever happened to the
earlier ones; a request's latency runs from its scheduled time to the last byte of its answer, so
it includes any queueing in the generator, the connection pool, the kernel and the server (no
coordinated omission). The generator reports how late its scheduler was ("lateness"): when that
grows, the generator and not the server is the bottleneck, and the step says so.

Two clients:

- ``raw`` (default): HTTP/1.1 over asyncio streams with a keep-alive connection pool, about
  0.1 ms of CPU per request. On this 2-core machine the generator shares the CPU with the server,
  so a cheap client matters.
- ``httpx``: ``httpx.AsyncClient`` with a connection pool, for comparison; it costs about 1-2 ms
  of CPU per request, which at 400/s is most of a core taken from the server.

    python bench/api/loadgen.py drive --port P --rate 300 --duration 10 [--client raw]
    python bench/api/loadgen.py null-server --port P   # answers 201 at once: the ceiling test

`drive` prints one JSON document on stdout (latencies in ms, errors, lateness, CPU seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SUBMITTER_KEY = "demo-submitter-key"
MAX_IDLE_S = 3.0  # reuse a keep-alive connection only if it was used this recently
# `run.py --api fhir` drives PAS Claim/$submit with the FHIR examples instead of POST /cases.
API = os.environ.get("PRIORAUTH_BENCH_API", "cases")
PATH = "/fhir/Claim/$submit" if API == "fhir" else "/cases"
CONTENT_TYPE = "application/fhir+json" if API == "fhir" else "application/json"


def example_bodies() -> list[dict[str, Any]]:
    files = sorted(p for p in (ROOT / "examples").glob("*.json") if p.name != "expected.json")
    return [json.loads(p.read_text()) for p in files]


def fhir_bodies() -> list[dict[str, Any]]:
    files = sorted((ROOT / "examples" / "fhir").glob("pas-*.json"))
    return [json.loads(p.read_text()) for p in files if "answered" not in p.name]


def make_fhir_requests(n: int, prefix: str, offset: int) -> list[tuple[str, bytes]]:
    """PAS Bundles: the examples in turn, each with its own Claim identifier and member."""
    bodies = fhir_bodies()
    out = []
    for i in range(offset, offset + n):
        body = json.loads(json.dumps(bodies[i % len(bodies)]))
        key = f"{prefix}-{i:07d}"
        for entry in body["entry"]:
            res = entry["resource"]
            if res["resourceType"] == "Claim":
                res["identifier"][0]["value"] = key
            elif res["resourceType"] == "Coverage":
                res["subscriberId"] = key
        out.append((key, json.dumps(body).encode()))
    return out


def make_requests(n: int, prefix: str, offset: int = 0) -> list[tuple[str, bytes]]:
    """(Idempotency-Key, body) for n requests: the examples in turn, each a new member."""
    if API == "fhir":
        return make_fhir_requests(n, prefix, offset)
    bodies = example_bodies()
    out = []
    for i in range(offset, offset + n):
        body = json.loads(json.dumps(bodies[i % len(bodies)]))
        body["member"]["id"] = f"{prefix}-{i:07d}"
        out.append((f"{prefix}-{i:07d}", json.dumps(body).encode()))
    return out


# --- the raw asyncio client ---------------------------------------------------------------


class HTTPError(Exception):
    pass


class RawPool:
    """Keep-alive HTTP/1.1 connections to one host; at most `size` at once."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        # (reader, writer, last used): the server closes a connection idle for 5 s (uvicorn's
        # keep-alive timeout); reusing one just as it does would be a spurious error.
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.slots = asyncio.Semaphore(size)
        self.opened = 0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    async def warm(self, n: int) -> None:
        now = asyncio.get_running_loop().time()
        conns = await asyncio.gather(*(self._connect() for _ in range(n)))
        self.idle.extend((r, w, now) for r, w in conns)

    async def _get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        now = asyncio.get_running_loop().time()
        while self.idle:
            reader, writer, used = self.idle.pop()
            if now - used < MAX_IDLE_S:
                return reader, writer
            writer.close()
        return await self._connect()

    async def request(self, raw: bytes) -> int:
        async with self.slots:
            reader, writer = await self._get()
            try:
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status, length, chunked, close = _parse_head(head)
                if chunked:
                    await _read_chunked(reader)
                else:
                    await reader.readexactly(length)
            except BaseException:
                writer.close()
                raise
            if close:
                writer.close()
            else:
                self.idle.append((reader, writer, asyncio.get_running_loop().time()))
            return status

    async def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


def _parse_head(head: bytes) -> tuple[int, int, bool, bool]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HTTPError(f"bad status line {lines[0][:60]!r}")
    status = int(parts[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    return status, length, chunked, close


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


def raw_request(host: str, port: int, key: str, body: bytes) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {SUBMITTER_KEY}\r\nContent-Type: {CONTENT_TYPE}\r\n"
        f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# --- the open-loop driver -----------------------------------------------------------------


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    n = max(1, round(args.rate * args.duration))
    reqs = make_requests(n, args.prefix, args.offset)
    timeout = args.timeout
    errors: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    latencies: list[float] = []  # successful requests, seconds
    lateness: list[float] = []
    done_at: list[float] = []
    loop = asyncio.get_running_loop()

    send: Callable[[int], Awaitable[int]]
    close: Callable[[], Awaitable[None]]
    if args.client == "raw":
        pool = RawPool(args.host, args.port, args.connections)
        await pool.warm(min(args.connections, args.warm_connections))
        raws = [raw_request(args.host, args.port, k, b) for k, b in reqs]

        async def send(i: int) -> int:
            return await pool.request(raws[i])

        close = pool.close
    else:
        import httpx

        client = httpx.AsyncClient(
            base_url=f"http://{args.host}:{args.port}",
            limits=httpx.Limits(
                max_connections=args.connections, max_keepalive_connections=args.connections
            ),
            timeout=httpx.Timeout(timeout, pool=timeout),
        )
        headers = {"Authorization": f"Bearer {SUBMITTER_KEY}", "Content-Type": CONTENT_TYPE}
        await asyncio.gather(*(client.get("/health") for _ in range(8)))

        async def send(i: int) -> int:
            key, body = reqs[i]
            r = await client.post(PATH, content=body, headers={**headers, "Idempotency-Key": key})
            return r.status_code

        close = client.aclose

    async def one(i: int, at: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                status = await send(i)
        except TimeoutError:
            errors["timeout"] += 1
            return
        except Exception as exc:  # every failure is a counted error, never a crash
            errors[type(exc).__name__] += 1
            return
        finally:
            done_at.append(loop.time())
        statuses[status] += 1
        if 200 <= status < 300:
            latencies.append(loop.time() - at)
        else:
            errors[f"HTTP {status}"] += 1

    if args.start_at:  # several generator processes start together
        await asyncio.sleep(max(0.0, args.start_at - time.time()))
    cpu0 = _cpu()
    t0 = loop.time() + args.phase
    tasks = []
    for i in range(n):
        at = t0 + i / args.rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness.append(max(0.0, loop.time() - at))
        tasks.append(asyncio.create_task(one(i, at)))
    await asyncio.gather(*tasks)
    cpu = _cpu() - cpu0
    await close()
    return {
        "client": args.client,
        "rate": args.rate,
        "scheduled": n,
        "ok": len(latencies),
        "errors": dict(errors),
        "statuses": {str(k): v for k, v in statuses.items()},
        "elapsed_s": (max(done_at) if done_at else loop.time()) - t0,
        "latencies_ms": [round(x * 1000, 3) for x in latencies],
        "lateness_ms": [round(x * 1000, 3) for x in lateness],
        "cpu_s": cpu,
        "connections_opened": pool.opened if args.client == "raw" else None,
    }


# --- a server that answers at once: how fast can the generator go? -----------------------


async def null_server(port: int) -> None:
    body = b'{"id":"00000000-0000-0000-0000-000000000000"}' + b" " * 6000  # a case is ~6 KB
    answer = (
        b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                _, length, _, _ = _parse_head(b"HTTP/1.1 0\r\n" + head.split(b"\r\n", 1)[1])
                await reader.readexactly(length)
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Open-loop load generator for POST /cases.")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("drive")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--rate", type=float, required=True, help="requests per second")
    d.add_argument("--duration", type=float, default=10.0, help="seconds of scheduled sends")
    d.add_argument("--client", choices=("raw", "httpx"), default="raw")
    d.add_argument("--connections", type=int, default=256, help="connection pool size")
    d.add_argument("--warm-connections", type=int, default=32)
    d.add_argument("--timeout", type=float, default=30.0)
    d.add_argument("--prefix", default="BENCH", help="member id and Idempotency-Key prefix")
    d.add_argument("--offset", type=int, default=0, help="first request number")
    d.add_argument("--phase", type=float, default=0.0, help="seconds to shift the schedule")
    d.add_argument("--start-at", type=float, default=0.0, help="wall-clock time to start")
    n = sub.add_parser("null-server")
    n.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    if args.cmd == "null-server":
        asyncio.run(null_server(args.port))
        return 0
    json.dump(asyncio.run(drive(args)), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
