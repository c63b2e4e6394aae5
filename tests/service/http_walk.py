"""Every route's error paths, sent to a real server and read off the socket.

- `serve(app)`: the application on uvicorn on 127.0.0.1, in a thread of the test.
- `exchange(...)`: one request on its own connection (`Connection: close`), the answer read to
  the end: the bytes received after the head are compared with the Content-Length it declared,
  which an in-process client would take on trust.
- `probes(app, ...)`: the requests that fail, for every route of `app.routes` (included routers
  and mounted applications too), so a route added later is walked with nothing to add: no key,
  an unknown key, another media type, malformed JSON, a body over the limit, an unknown id, a
  method the path does not take, a NUL in the URL; each carries a marked value (`mark`) in its
  path, query, headers and body, for the log test to look for.
- `check_shape(...)`: the error document each adapter promises: RFC 9457 for the JSON API, an
  OperationOutcome (read by fhir.resources) for FHIR, the CDS Hooks error object, an OAuth 2.0
  error for the token endpoint, an HTML page for the workbench."""

from __future__ import annotations

import contextlib
import json
import re
import socket
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fhir.resources.R4B.operationoutcome import OperationOutcome
from starlette.routing import Mount

from priorauth.fhir.openapi import OAUTH_ERRORS

try:  # FastAPI 0.165 keeps an included router as one entry of app.routes
    from fastapi.routing import iter_route_contexts as routes_of
except ImportError:  # earlier versions list every route flat

    def routes_of(routes: Any) -> Any:  # type: ignore[misc]
        return routes


SUBMITTER_KEY = "demo-submitter-key"
# Routes that answer without a key (a missing or unknown key is no error there).
PUBLIC = {
    ("GET", "/"),
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/fhir/metadata"),
    ("GET", "/fhir/.well-known/smart-configuration"),
    ("GET", "/cds-services"),
    ("POST", "/oauth/token"),
}
OTHER_CLIENT = "127.0.0.2"  # unknown keys come from here: their throttle is not the others'


# --- the server and the wire ------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    declared: int | None  # the Content-Length header, None when absent

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(
    port: int,
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    declare: int | None = None,
    source: str = "127.0.0.1",
) -> Answer:
    """One request, on a connection of its own, and its answer as received: the body is every
    byte the server sent after the head, however many the head declared."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or declare is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body) if declare is None else declare}")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as s:
        with contextlib.suppress(OSError):  # a refusal may close before the body is all sent
            s.sendall(raw)
        with contextlib.suppress(TimeoutError):  # a short body never ends: what came is kept
            while chunk := s.recv(65536):
                data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    declared = parsed.get("content-length")
    return Answer(
        int(status_line.split()[1]), parsed, rest, int(declared) if declared is not None else None
    )


# --- the routes and their error paths --------------------------------------------------------


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route, mounted applications' included; static files
    (no routes of their own) left out."""
    out: list[tuple[str, str]] = []

    def walk(routes: Any, prefix: str) -> None:
        for route in routes_of(list(routes)):
            if isinstance(getattr(route, "original_route", route), Mount):
                walk(route.routes, prefix + route.path)
            else:
                for method in sorted(set(route.methods or ()) - {"HEAD"}):
                    out.append((method, prefix + route.path))

    walk(app.routes, "")
    return out


def adapter_of(path: str) -> str:
    if path == "/fhir" or path.startswith("/fhir/"):
        return "fhir"
    if path == "/cds-services" or path.startswith("/cds-services/"):
        return "cds"
    if path == "/oauth/token":
        return "oauth"
    if path == "/ui" or path.startswith("/ui/"):
        return "web"
    return "api"


@dataclass
class Probe:
    kind: str
    method: str
    template: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    declare: int | None = None
    source: str = "127.0.0.1"
    expect: frozenset[int] | None = None  # None: any 4xx, or a success where it is no error

    @property
    def adapter(self) -> str:
        return adapter_of(self.template)

    def __str__(self) -> str:
        return f"{self.kind}: {self.method} {self.template}"


def _fill(template: str, mark: str) -> str:
    """The path with the mark in every parameter, spelt as an id can be (`{name:convertor}`
    too)."""
    return re.sub(
        r"\{(\w+)(?::\w+)?\}", lambda m: f"{mark}-{m.group(1).replace('_', '-')}", template
    )


def _json_body(mark: str) -> bytes:
    """A body that fails, full of the mark: names, ids, free text, a key, a 100 KB name."""
    return json.dumps(
        {
            "resourceType": "Bundle",
            "hook": mark,
            "kind": "initial",
            "member": {"id": mark, "name": f"{mark} Doe", "birth_date": f"{mark}-01-01"},
            "medication": {"name": mark + "x" * 100_000},
            "diagnoses": [{"code": mark, "histology": mark}],
            "reason": mark,
            "action": mark,
            mark: mark,
            "entry": [{"resource": {"resourceType": "Patient", "name": [{"family": mark}]}}],
        }
    ).encode()


def probes(
    app: FastAPI, mark: str, auth: dict[str, str], session: dict[str, str] | None = None
) -> list[Probe]:
    """The error paths of every route: `auth` is a valid key's header for the JSON API, FHIR and
    CDS Hooks; `session` a signed-in workbench's Cookie header."""
    limit: int = app.state.limits.max_body_bytes
    out: list[Probe] = []
    table = route_table(app)
    taken: dict[str, set[str]] = {}
    for method, template in table:
        taken.setdefault(template, set()).add(method)
    marked = {"X-Patient-Name": mark, "Idempotency-Key": mark}
    for method, template in table:
        target = _fill(template, mark)
        adapter = adapter_of(template)
        good = {**(session or {})} if adapter == "web" else {**auth}
        public = (method, template) in PUBLIC
        no_key = None if public or adapter == "web" else frozenset({401})
        bad_key = None if public or adapter == "web" else frozenset({401, 429})
        out.append(Probe("no key", method, template, target, dict(marked), expect=no_key))
        out.append(
            Probe(
                "unknown key",
                method,
                template,
                target,
                {**marked, "Authorization": f"Bearer {mark}"},
                source=OTHER_CLIENT,
                expect=bad_key,
            )
        )
        out.append(Probe("unknown id", method, template, target, {**good, **marked}))
        query = f"{target}?{mark}={mark}&member_id={mark}"
        out.append(Probe("unknown query parameter", method, template, query, {**good, **marked}))
        for other in ("PUT", "PATCH", "DELETE", "POST", "GET"):
            if other not in taken[template] and method == min(taken[template]):
                out.append(
                    Probe(
                        "wrong method",
                        other,
                        template,
                        target,
                        {**good, **marked},
                        expect=frozenset({405}),
                    )
                )
                break
        nul = _fill(template, mark + "%00")
        if nul != template:
            out.append(
                Probe("NUL in the URL", method, template, nul, dict(good), expect=frozenset({400}))
            )
        if method != "POST":
            continue
        json_type = {"Content-Type": "application/json"}
        out.append(
            Probe(
                "body too large",
                method,
                template,
                target,
                {**good, **json_type},
                body=b'{"name": "' + mark.encode(),
                declare=limit + 1,
                expect=frozenset({413}),
            )
        )
        bad_type = {**good, **marked, "Content-Type": "text/plain"}
        other_type = frozenset({415}) if adapter in ("api", "fhir", "cds") and not public else None
        out.append(
            Probe(
                "wrong media type",
                method,
                template,
                target,
                bad_type,
                _json_body(mark),
                expect=other_type,
            )
        )
        out.append(
            Probe(
                "malformed JSON",
                method,
                template,
                target,
                {**good, **marked, **json_type},
                f'{{"member": {{"id": "{mark}", '.encode(),
                expect=frozenset({400, 422}) if adapter in ("api", "fhir", "cds") else None,
            )
        )
        out.append(
            Probe(
                "invalid body",
                method,
                template,
                target,
                {**good, **marked, **json_type},
                _json_body(mark),
            )
        )
    return out


# --- what an answer must be -------------------------------------------------------------------


def check_answer(probe: Probe, answer: Answer) -> None:
    """Content-Length equal to the bytes sent; the status the probe expects; the adapter's error
    document."""
    assert answer.declared is not None, f"{probe}: no Content-Length ({answer.headers})"
    assert answer.declared == len(answer.body), (
        f"{probe}: Content-Length {answer.declared}, {len(answer.body)} bytes sent"
    )
    assert answer.status < 500, f"{probe}: {answer.status} {answer.body[:300]!r}"
    if probe.expect is not None:
        assert answer.status in probe.expect, (
            f"{probe}: {answer.status}, expected {sorted(probe.expect)}: {answer.body[:300]!r}"
        )
    if answer.status >= 400:
        check_shape(probe.adapter, answer, str(probe))
    if answer.status == 405:
        assert answer.headers.get("allow"), f"{probe}: a 405 without Allow"


def check_shape(adapter: str, answer: Answer, what: str) -> None:
    media = answer.headers.get("content-type", "").split(";")[0].strip()
    if adapter == "web":
        assert media == "text/html", f"{what}: {media} on a workbench page"
        assert b"<title>" in answer.body, what
        return
    body = answer.json()
    if adapter == "api":
        assert media == "application/problem+json", f"{what}: {media}"
        for name, kind in (("type", str), ("title", str), ("status", int), ("detail", str)):
            assert isinstance(body.get(name), kind), f"{what}: {name} missing in {body}"
        assert body["status"] == answer.status, what
    elif adapter == "fhir":
        assert media == "application/fhir+json", f"{what}: {media}"
        read = OperationOutcome.model_validate(body)
        assert read.issue and read.issue[0].severity == "error", what
        assert read.issue[0].diagnostics, what
    elif adapter == "cds":
        assert media == "application/json", f"{what}: {media}"
        assert isinstance(body.get("error"), str) and body["error"], f"{what}: {body}"
        assert set(body) <= {"error", "expression"}, f"{what}: {body}"
        expression = body.get("expression", [])
        assert isinstance(expression, list), f"{what}: expression {expression!r}"
        assert all(isinstance(e, str) for e in expression), what
    elif adapter == "oauth":
        assert media == "application/json", f"{what}: {media}"
        assert body.get("error") in OAUTH_ERRORS, f"{what}: {body}"


def sign_in(port: int, key: str) -> dict[str, str]:
    """A workbench session for the key: its Cookie header."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False) as c:
        page = c.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf, page.text
        r = c.post("/ui/login", data={"csrf": csrf.group(1), "key": key, "next": "/ui/"})
        assert r.status_code == 303, r.text
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
    return {"Cookie": cookie}
