"""What a review run found, whichever engine ran it: the counts for the summary, and a DuckDB
connection holding the ``findings`` and ``rejects`` tables for the files and the report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from priorauth.claims.files import findings_query, rejects_query, write_table
from priorauth.claims.review_sql import FINDINGS
from priorauth.claims.rules import Rules

# (step label, fraction done 0..1) -> None
Progress = Callable[[str, float], None]


def no_progress(_label: str, _done: float) -> None:
    return None


@dataclass
class Review:
    engine: str
    con: duckdb.DuckDBPyConnection
    rules: Rules
    extras: list[str]
    claims_read: int = 0
    claims_rejected: int = 0
    claims_reviewed: int = 0
    auths_read: int = 0
    auths_rejected: int = 0
    seconds: float = 0.0
    by_finding: dict[str, tuple[int, float]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> int:
        return sum(n for n, _ in self.by_finding.values())

    @property
    def dollars_at_risk(self) -> float:
        return round(sum(d for _, d in self.by_finding.values()), 2)

    def tally(self) -> None:
        """Counts and dollars by finding, from the findings table."""
        rows = self.con.execute(
            "SELECT finding, count(*), sum(cents) FROM findings GROUP BY finding"
        ).fetchall()
        got = {str(f): (int(n), int(c or 0) / 100) for f, n, c in rows}
        self.by_finding = {f: got.get(f, (0, 0.0)) for f in FINDINGS}

    def count_rejects(self) -> None:
        rows = dict(self.con.execute("SELECT file, count(*) FROM rejects GROUP BY file").fetchall())
        self.claims_rejected = int(rows.get("claims", 0))
        self.auths_rejected = int(rows.get("authorizations", 0))

    def write_findings(self, path: Path) -> None:
        write_table(self.con, findings_query(self.extras), path, "findings")

    def write_rejects(self, path: Path) -> None:
        write_table(self.con, rejects_query(), path, "rejects")

    def rejects_preview(self, limit: int = 5) -> list[tuple[str, int, str]]:
        rows = self.con.execute(f"{rejects_query()} LIMIT {int(limit)}").fetchall()
        return [(str(f), int(r), str(p)) for f, r, _c, p in rows]

    def as_dict(self) -> dict[str, object]:
        return {
            "engine": self.engine,
            "claims_read": self.claims_read,
            "claims_rejected": self.claims_rejected,
            "claims_reviewed": self.claims_reviewed,
            "authorizations_read": self.auths_read,
            "authorizations_rejected": self.auths_rejected,
            "flagged": self.flagged,
            "dollars_at_risk": self.dollars_at_risk,
            "by_finding": {
                f: {"claims": n, "dollars_at_risk": round(d, 2)}
                for f, (n, d) in self.by_finding.items()
            },
            "seconds": round(self.seconds, 3),
        }
