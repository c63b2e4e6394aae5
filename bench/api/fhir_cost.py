"""Where a PAS submission's CPU goes, in-process (no HTTP): checking the request Bundle with the
FHIR models, mapping it to a request, the workflow's submission (as POST /cases does it), and
building the response Bundle (from checked parts: not checked again). CPU milliseconds per call,
on a scratch SQLite file.

    .venv/bin/python bench/api/fhir_cost.py
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from priorauth.fhir import pas
from priorauth.fhir.mapping import Chart, to_request
from priorauth.server import create_app
from priorauth.service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
N = 200


def cpu_ms(f: Callable[[], object], n: int = N) -> float:
    f()
    start = time.process_time()
    for _ in range(n):
        f()
    return (time.process_time() - start) / n * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(database_url=f"sqlite:///{tmp}/cost.db", demo_keys=True))
        svc = app.state.service
        who = svc.principal("demo-submitter-key")
        raw = (ROOT / "examples" / "fhir" / "pas-approve.json").read_bytes()
        request = json.loads((ROOT / "examples" / "nsclc-initial-approve.json").read_text())
        counter = iter(range(10**9))

        def mapping() -> object:
            chart = Chart()
            chart.add_bundle(json.loads(raw), "Bundle")
            order = chart.resolve("MedicationRequest/order-1")
            assert order is not None
            return to_request(chart, order, svc.engine)

        def workflow() -> object:
            body = {**request, "member": {**request["member"], "id": f"C-{next(counter)}"}}
            return svc.submit(who, body, None)

        def pas_submit() -> object:
            body = json.loads(raw)
            body["entry"][0]["resource"]["identifier"][0]["value"] = f"F-{next(counter)}"
            bundle, results = pas.submit(svc, who, json.dumps(body).encode())
            return json.dumps(pas.response_bundle(bundle, results, svc.clock()))

        bundle, results = pas.submit(svc, who, raw)
        rows = [
            ("check the request Bundle (fhir.resources)", cpu_ms(lambda: pas.parse_bundle(raw))),
            ("map it to a request", cpu_ms(mapping)),
            (
                "build the response Bundle",
                cpu_ms(lambda: pas.response_bundle(bundle, results, svc.clock())),
            ),
            ("workflow submission (what POST /cases does)", cpu_ms(workflow)),
            ("PAS submission, all of it, with JSON out", cpu_ms(pas_submit)),
        ]
        for label, ms in rows:
            print(f"{label:<48} {ms:6.2f} ms CPU")
        app.state.service.db.engine.dispose()


if __name__ == "__main__":
    main()
