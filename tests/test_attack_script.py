"""scripts/attack.py: its byte-level check fails on an answer whose Content-Length is not its
body, and a CDS Hooks refusal of the real server passes it (it used to carry the length and type
of the OperationOutcome it was rewritten from)."""

from __future__ import annotations

import importlib.util
import socketserver
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _load(name: str) -> Any:
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(f"{name}_script", SCRIPTS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


attack = _load("attack")


class _Lying(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)
        body = b'{"error": "no"}'
        self.request.sendall(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
            b"Content-Length: 40\r\nConnection: close\r\n\r\n" + body
        )


@pytest.fixture
def lying_server() -> Iterator[int]:
    server = socketserver.TCPServer(("127.0.0.1", 0), _Lying)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_a_content_length_longer_than_the_body_is_caught(lying_server: int) -> None:
    raw = attack.exchange(lying_server, "POST", "/cds-services/x", {}, b"{}")
    assert raw.status == 401
    assert raw.body == b'{"error": "no"}'
    assert not raw.length_ok


def test_error_shapes_are_told_apart() -> None:
    fhir = attack.Raw(
        404,
        {"content-type": "application/fhir+json"},
        b'{"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]}',
        True,
    )
    assert attack.shape_problem("fhir", fhir) == ""
    assert "problem+json" in attack.shape_problem("api", fhir)
    assert attack.shape_problem("cds", fhir) != ""


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    serverproc = sys.modules["serverproc"]
    if not serverproc.PRIORAUTH.exists():
        pytest.skip(f"needs {serverproc.PRIORAUTH}")
    with tempfile.TemporaryDirectory() as tmp:
        s = serverproc.Server(f"sqlite:///{tmp}/pa.db", 1, Path(tmp) / "server.log")
        s.start(timeout=180)
        try:
            yield s
        finally:
            s.stop()


@pytest.mark.parametrize("key", [None, "Bearer not-a-key"])
def test_a_cds_hook_refused_for_its_key_says_its_own_length_and_type(
    server: Any, key: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = key
    raw = attack.exchange(server.port, "POST", "/cds-services/priorauth-order-sign", headers, b"{}")
    assert raw.status == 401
    assert raw.length_ok, (raw.headers, raw.body)
    assert attack.shape_problem("cds", raw) == ""
    assert raw.headers.get("www-authenticate", "").startswith("Bearer")


@pytest.mark.parametrize(
    ("path", "area"), [("/cds-services/priorauth-order-sign", "cds"), ("/oauth/token", "oauth")]
)
def test_an_oversize_body_is_refused_in_the_route_s_own_error_shape(
    server: Any, path: str, area: str
) -> None:
    headers = {"Authorization": "Bearer demo-submitter-key", "Content-Type": "application/json"}
    raw = attack.exchange(server.port, "POST", path, headers, b"{" + b" " * 5_000_000 + b"}")
    assert raw.status == 413
    assert raw.length_ok
    assert attack.shape_problem(area, raw) == ""
