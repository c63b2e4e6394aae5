#!/usr/bin/env python3
"""Attack: every API route of the real service with bodies and headers a careless or hostile
client sends, read off the socket byte for byte.

The routes are enumerated from the application itself (FHIR under /fhir, CDS Hooks under
/cds-services, the JSON API, the token endpoint; not the workbench's HTML pages, nor /docs).
Each route, with a made-up id in its path, gets, per method:

- with a valid key: a malformed JSON body, an oversize body (5 MiB), a body of the wrong
  content type (POST, PUT and PATCH); for every method, a valid key and nothing wrong;
- then, for every route: no Authorization header, and a key that does not exist (last, since a
  client sending unknown keys is throttled).

Each answer, read over a raw socket (HTTP/1.1, Connection: close), must: come (the server did
not drop the connection); not be a 5xx; carry a Content-Length equal to the bytes of body that
followed (or be chunked correctly); and, when it is an error, have the route's error shape: an
OperationOutcome (application/fhir+json) for FHIR, a CDS Hooks error object ({"error": text})
for CDS Hooks, an OAuth error ({"error": code}) for the token endpoint, an RFC 9457 problem
(application/problem+json, with the status) for the rest. /health must answer 200 after every
route. One line at the end: ATTACK PASS|FAIL; exit status 1 on any failure, 2 when the server
did not start.

    python scripts/attack.py [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import re
import select
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serverproc import Server
from soak import database  # (and points serverproc at this environment's priorauth)

VALID = "Bearer demo-submitter-key"
OVERSIZE = 5 * 1024 * 1024
# Values for the path's parameters: ids no case, claim or questionnaire has.
PATH_VALUES = {"service_id": "priorauth-order-sign"}
SKIPPED_PREFIXES = ("/ui", "/docs", "/openapi.json", "/letters", "/static", "/redoc")


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes
    length_ok: bool
    problem: str = ""  # why the exchange itself failed


def _read_all(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            got = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not got:
            break
        chunks.append(got)
    return b"".join(chunks)


def _dechunk(data: bytes) -> bytes | None:
    out = b""
    while True:
        line, sep, rest = data.partition(b"\r\n")
        if not sep:
            return None
        size = int(line.split(b";")[0] or b"0", 16)
        if size == 0:
            return out
        out += rest[:size]
        data = rest[size + 2 :]


def exchange(port: int, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Raw:
    """One request over its own connection; the answer exactly as bytes came."""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        head.append(f"Content-Length: {len(body)}")
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        sent = 0
        while body is not None and sent < len(body):
            # A server may answer (413) before the body is all sent: stop sending and read.
            ready, _, _ = select.select([sock], [], [], 0)
            if ready:
                break
            try:
                sent += sock.send(body[sent : sent + 65536])
            except (BrokenPipeError, ConnectionResetError):
                break
        data = _read_all(sock, 30)
    finally:
        sock.close()
    head_bytes, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return Raw(0, {}, b"", False, f"no complete answer ({len(data)} bytes)")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        if k.lower() in hdrs:
            hdrs[k.lower()] += ", " + v.strip()
        else:
            hdrs[k.lower()] = v.strip()
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        decoded = _dechunk(rest)
        return Raw(status, hdrs, decoded or b"", decoded is not None)
    declared = hdrs.get("content-length")
    ok = declared is not None and declared.isdigit() and int(declared) == len(rest)
    return Raw(status, hdrs, rest, ok)


def area(path: str) -> str:
    if path.startswith("/fhir"):
        return "fhir"
    if path.startswith("/cds-services"):
        return "cds"
    if path.startswith("/oauth"):
        return "oauth"
    return "api"


def shape_problem(kind: str, raw: Raw) -> str:
    """Why an error answer does not have its route's error shape ('' when it does)."""
    ctype = raw.headers.get("content-type", "")
    try:
        doc: Any = json.loads(raw.body)
    except ValueError:
        return f"body is not JSON ({ctype})"
    if not isinstance(doc, dict):
        return "body is not a JSON object"
    if kind == "fhir":
        issues = doc.get("issue")
        if not ctype.startswith("application/fhir+json"):
            return f"content type {ctype!r}, not application/fhir+json"
        if doc.get("resourceType") != "OperationOutcome" or not isinstance(issues, list):
            return f"not an OperationOutcome: {raw.body[:120]!r}"
        if not issues or not all(i.get("severity") and i.get("code") for i in issues):
            return "an OperationOutcome without an issue's severity and code"
        return ""
    if kind in ("cds", "oauth"):
        if not ctype.startswith("application/json"):
            return f"content type {ctype!r}, not application/json"
        if not isinstance(doc.get("error"), str) or not doc["error"]:
            return f"no 'error' text: {raw.body[:120]!r}"
        return ""
    if not ctype.startswith("application/problem+json"):
        return f"content type {ctype!r}, not application/problem+json"
    if doc.get("status") != raw.status or not doc.get("title"):
        return f"not a problem document with status {raw.status}: {raw.body[:120]!r}"
    return ""


def routes() -> list[tuple[str, str]]:
    """(method, path) of every API route, from the application itself."""
    from fastapi.routing import APIRoute

    try:  # the composition root, once it has moved there
        from priorauth.server import create_app  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from priorauth.service.app import create_app
    from priorauth.service.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(database_url=f"sqlite:///{tmp}/routes.db", demo_keys=True))
        found = []
        for route in app.routes:
            # FastAPI 0.165 keeps an included router as one entry that lists its routes.
            contexts = getattr(route, "effective_route_contexts", None)
            for r in contexts() if contexts else [route]:
                path, methods = getattr(r, "path", ""), getattr(r, "methods", None)
                if not methods or path.startswith(SKIPPED_PREFIXES):
                    continue
                if not contexts and not isinstance(r, APIRoute):
                    continue
                for method in sorted(set(methods) - {"HEAD", "OPTIONS"}):
                    found.append((method, path))
        app.state.service.db.engine.dispose()
    return sorted(set(found), key=lambda m_p: (m_p[1], m_p[0]))


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "attack-0000"), path)


def attacks(method: str, path: str) -> list[tuple[str, dict[str, str], bytes | None]]:
    """(name, headers, body) of each attack on one route with a valid key."""
    json_type = "application/fhir+json" if area(path) == "fhir" else "application/json"
    form = area(path) == "oauth"
    out: list[tuple[str, dict[str, str], bytes | None]] = []
    if method in ("POST", "PUT", "PATCH"):
        good_type = "application/x-www-form-urlencoded" if form else json_type
        auth = {"Authorization": VALID, "Content-Type": good_type}
        out.append(("malformed body", auth, b'{"resourceType": "Bundle", "entry": [{"reso'))
        big = b'{"resourceType": "Bundle", "note": "' + b"a" * OVERSIZE + b'"}'
        out.append(("oversize body", auth, big))
        wrong = {"Authorization": VALID, "Content-Type": "text/plain"}
        out.append(("wrong content type", wrong, b'{"resourceType": "Parameters"}'))
        out.append(("empty body", auth, b""))
    else:
        out.append(("valid key", {"Authorization": VALID}, None))
    return out


def unauthenticated(method: str, path: str) -> list[tuple[str, dict[str, str], bytes | None]]:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    ctype = {"Content-Type": "application/json"} if body is not None else {}
    return [
        ("no auth", ctype, body),
        ("wrong auth", {**ctype, "Authorization": "Bearer not-a-key-attack"}, body),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = ap.parse_args()
    began = time.monotonic()
    found = routes()
    workdir = Path(tempfile.mkdtemp(prefix="priorauth-attack-"))
    server = Server(database(args.db, workdir), 1, workdir / "server.log")
    try:
        server.start(timeout=180)
    except RuntimeError as exc:
        print(f"ATTACK FAIL could not start: {exc}")
        return 2
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    sent = 0

    def run(method: str, path: str, name: str, headers: dict[str, str], body: bytes | None) -> None:
        nonlocal sent
        sent += 1
        where = f"{method} {path} [{name}]"
        try:
            raw = exchange(server.port, method, concrete(path), headers, body)
        except OSError as exc:
            failures.append(f"{where}: {type(exc).__name__}: {exc}")
            return
        statuses[raw.status] += 1
        if raw.problem:
            failures.append(f"{where}: {raw.problem}")
            return
        if raw.status >= 500:
            failures.append(f"{where}: {raw.status} {raw.body[:160]!r}")
        if not raw.length_ok:
            declared = raw.headers.get("content-length")
            failures.append(f"{where}: Content-Length {declared} but {len(raw.body)} bytes of body")
        if raw.status >= 400:
            why = shape_problem(area(path), raw)
            if why:
                failures.append(f"{where}: {raw.status}, {why}")

    def alive(after: str) -> bool:
        try:
            raw = exchange(server.port, "GET", "/health", {}, None)
        except OSError as exc:
            failures.append(f"server down after {after}: {exc}")
            return False
        if raw.status != 200:
            failures.append(f"/health {raw.status} after {after}")
            return False
        return True

    try:
        for method, path in found:
            for name, headers, body in attacks(method, path):
                run(method, path, name, headers, body)
            if not alive(f"{method} {path}"):
                break
        else:
            for method, path in found:
                for name, headers, body in unauthenticated(method, path):
                    run(method, path, name, headers, body)
            alive("the unauthenticated requests")
    finally:
        server.stop()
    for line in failures:
        print(f"  ! {line}")
    by_area = Counter(area(p) for _, p in found)
    areas = ", ".join(f"{n} {a}" for a, n in sorted(by_area.items()))
    counts = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
    print(
        f"ATTACK {'FAIL' if failures else 'PASS'} {args.db}: {len(found)} routes ({areas}), "
        f"{sent} requests, {len(failures)} failures; statuses {counts} "
        f"({time.monotonic() - began:.0f} s)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
