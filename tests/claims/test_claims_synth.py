"""Synthetic claims: deterministic, the promised columns, every kind of finding present, and
drugs that no policy covers."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("duckdb", reason="needs the claims extra: pip install 'priorauth[claims]'")
pytest.importorskip("pyarrow", reason="needs the claims extra: pip install 'priorauth[claims]'")

import duckdb

from priorauth import Engine
from priorauth.claims.duckdb_review import review
from priorauth.claims.review_sql import AUTH_COLUMNS, CLAIM_COLUMNS
from priorauth.claims.synth import synthesize


def test_same_seed_same_files_and_the_review_finds_every_kind(
    tmp_path: Path, engine: Engine
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    claims, auths, n_auths = synthesize(5000, a, seed=3, engine=engine)
    synthesize(5000, b, seed=3, engine=engine)
    for name in ("claims.parquet", "authorizations.parquet"):
        same = duckdb.execute(
            f"SELECT count(*) FROM (SELECT * FROM '{a / name}' EXCEPT ALL "
            f"SELECT * FROM '{b / name}')"
        ).fetchone()
        assert same == (0,)
    cols = [c[0] for c in duckdb.execute(f"DESCRIBE SELECT * FROM '{claims}'").fetchall()]
    assert tuple(cols) == CLAIM_COLUMNS
    acols = [c[0] for c in duckdb.execute(f"DESCRIBE SELECT * FROM '{auths}'").fetchall()]
    assert tuple(acols) == AUTH_COLUMNS
    n, ids = duckdb.execute(f"SELECT count(*), count(DISTINCT claim_id) FROM '{claims}'").fetchone()
    assert n == ids == 5000 and n_auths > 0
    result = review(claims, auths, engine)
    assert result.claims_rejected == 0
    assert 0 < result.claims_reviewed < 5000  # some claims are for drugs under no policy
    assert all(count > 0 for count, _ in result.by_finding.values())
    # Members refill: most members have several fills.
    per_member = duckdb.execute(
        f"SELECT avg(n) FROM (SELECT count(*) n FROM '{claims}' GROUP BY member_id)"
    ).fetchone()
    assert per_member is not None and per_member[0] > 3


def test_csv_and_parquet_give_the_same_findings(tmp_path: Path, engine: Engine) -> None:
    pq = synthesize(3000, tmp_path / "pq", seed=5, engine=engine)
    tx = synthesize(3000, tmp_path / "csv", seed=5, fmt="csv", engine=engine)
    got = []
    for claims, auths, _ in (pq, tx):
        r = review(claims, auths, engine)
        got.append(
            r.con.execute(
                "SELECT claim_id, finding, cents, detail FROM findings ORDER BY _row"
            ).fetchall()
        )
    assert got[0] == got[1] and len(got[0]) > 100
