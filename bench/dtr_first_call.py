"""The first DTR `$questionnaire-package` in a fresh process, against the calls after it, with
and without `priorauth.fhir.dtr.warm(service)` at start-up (issue 25).

    .venv/bin/python bench/dtr_first_call.py [--runs 3]

Each run is a new Python process (what a first request pays for is imports and caches): the
application on a new SQLite file, then three calls of the function the route calls, on
examples/fhir/dtr-questionnaire-package.json. Prints one line a run and the load average."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONE_RUN = """
import sys, tempfile, time
from priorauth.fhir import dtr
from priorauth.server import create_app
from priorauth.service.config import Settings
raw = open(sys.argv[1], "rb").read()
app = create_app(Settings(database_url=f"sqlite:///{tempfile.mkdtemp()}/pa.db"))
service = app.state.service
out = []
if sys.argv[2] == "warm":
    t = time.perf_counter()
    dtr.warm(service)
    out.append(f"warm() {time.perf_counter() - t:.3f} s")
for i in range(3):
    t = time.perf_counter()
    dtr.questionnaire_package(service, raw, "http://127.0.0.1:8000")
    out.append(f"call {i + 1} {time.perf_counter() - t:.3f} s")
print("  ".join(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    request = ROOT / "examples" / "fhir" / "dtr-questionnaire-package.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for mode in ("cold", "warm"):
        for _ in range(args.runs):
            line = subprocess.run(
                [sys.executable, "-c", ONE_RUN, str(request), mode],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            print(f"{mode:5} {line}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
