"""A synthetic history of Lumakras requests as NDJSON, for `priorauth policy impact`:
`{"id": "case-000001", "request": {...}}` a line, drawn from the engine benchmark's workload
(every branch of the policy: approvals, partial approvals, denials, pends, renewals).

    .venv/bin/python bench/claims/history.py --n 5000 --out data/history.ndjson
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workload import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("data/history.ndjson"))
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    wl = generate(args.n, args.seed)
    with args.out.open("w") as f:
        for i, request in enumerate(wl.requests, start=1):
            f.write(json.dumps({"id": f"case-{i:06d}", "request": request}) + "\n")
    print(f"wrote {args.n:,} requests to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
