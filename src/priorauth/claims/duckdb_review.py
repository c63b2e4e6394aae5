"""The review on DuckDB: the files scanned in place, the review's SQL run over them, nothing
looped over in Python."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from priorauth.claims import review_sql as q
from priorauth.claims.files import (
    ClaimsInputError,
    check_input,
    columns_of,
    duckdb_columns,
    duckdb_source,
)
from priorauth.claims.outcome import Progress, Review, no_progress
from priorauth.claims.rules import Rules, build_rules
from priorauth.engine.engine import Engine

VERSION_SCHEMA = pa.schema(
    [
        ("drug_key", pa.string()),
        ("v_start", pa.date32()),
        ("v_until", pa.date32()),
        ("post_service", pa.bool_()),
        ("policy_label", pa.string()),
        ("drug_label", pa.string()),
        ("limit_amount", pa.float64()),
        ("limit_per_days", pa.float64()),
        ("limit_in_mg", pa.bool_()),
        ("limit_text", pa.string()),
        ("allow_amount", pa.float64()),
        ("allow_per_days", pa.float64()),
        ("allow_in_mg", pa.bool_()),
        ("allow_text", pa.string()),
    ]
)
STRENGTH_SCHEMA = pa.schema(
    [
        ("drug_key", pa.string()),
        ("v_start", pa.date32()),
        ("s_strength", pa.float64()),
        ("s_limit_mg", pa.float64()),
        ("s_text", pa.string()),
    ]
)
DRUG_SCHEMA = pa.schema([("drug_name", pa.string()), ("drug_key", pa.string())])


def rule_tables(rules: Rules) -> dict[str, pa.Table]:
    names, keys = zip(*rules.drug_rows(), strict=True) if rules.names else ((), ())
    return {
        "drug_map": pa.table({"drug_name": list(names), "drug_key": list(keys)}, DRUG_SCHEMA),
        "versions": pa.Table.from_pylist(rules.version_rows(), VERSION_SCHEMA),
        "strength_limits": pa.Table.from_pylist(rules.strength_rows(), STRENGTH_SCHEMA),
    }


def connect(memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = true")
    return con


def run_query(con: duckdb.DuckDBPyConnection, sql: str, label: str, progress: Progress) -> None:
    """Run one statement; while it runs, report DuckDB's own estimate of how far it is."""
    failure: list[BaseException] = []

    def work() -> None:
        try:
            con.execute(sql)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
        try:
            done = con.query_progress()
        except duckdb.Error:
            done = -1
        if done >= 0:
            progress(label, min(done / 100, 1.0))
    progress(label, 1.0)
    if failure:
        raise failure[0]


def review(
    claims: Path,
    authorizations: Path | pa.Table,
    engine: Engine | None = None,
    progress: Progress = no_progress,
    memory_limit: str | None = None,
) -> Review:
    started = time.perf_counter()
    engine = engine or Engine()
    check_input(claims, "claims")
    con = connect(memory_limit)
    claims_sql = duckdb_source(claims)
    claim_cols = columns_of(
        duckdb_columns(con, claims_sql, str(claims)), q.CLAIM_COLUMNS, str(claims), "claims"
    )
    if isinstance(authorizations, pa.Table):
        con.register("auths_table", authorizations)
        auth_sql = "(SELECT *, row_number() OVER () AS _row FROM auths_table)"
        auth_name = "authorizations (database)"
    else:
        check_input(authorizations, "authorizations")
        auth_sql = duckdb_source(authorizations)
        auth_name = str(authorizations)
    auth_cols = columns_of(
        duckdb_columns(con, auth_sql, auth_name), q.AUTH_COLUMNS, auth_name, "authorizations"
    )
    try:
        con.execute(f"CREATE VIEW claims_src AS SELECT * FROM {claims_sql}")
        con.execute(f"CREATE VIEW auths_src AS SELECT * FROM {auth_sql}")
        names = con.execute(
            "SELECT DISTINCT CAST(drug_name AS STRING) FROM claims_src "
            "UNION SELECT DISTINCT CAST(drug_name AS STRING) FROM auths_src"
        ).fetchall()
    except duckdb.Error as exc:
        raise ClaimsInputError(str(claims), f"cannot read: {_line(exc)}") from None
    rules = build_rules(engine, sorted(str(n[0]) for n in names if n[0] is not None))
    for name, table in rule_tables(rules).items():
        con.register(name, table)
    extras = [alias for _, alias in claim_cols.extras]
    d = q.DUCKDB
    con.execute(
        "CREATE VIEW claims_checked AS " + q.claims_checked(claim_cols.kinds, claim_cols.extras, d)
    )
    con.execute("CREATE VIEW auths_checked AS " + q.auths_checked(auth_cols.kinds, d))
    con.execute("CREATE VIEW reviewed AS " + q.reviewed(extras, d))
    con.execute("CREATE VIEW matched AS " + q.matched())
    out = Review("duckdb", con, rules, extras, warnings=list(rules.warnings))
    try:
        # The authorizations are small next to the claims: keep the checked ones in memory.
        run_query(
            con,
            "CREATE TEMP TABLE auths_ok AS SELECT * FROM auths_checked",
            "reading authorizations",
            progress,
        )
        con.execute("CREATE OR REPLACE VIEW auths_checked AS SELECT * FROM auths_ok")
        run_query(
            con,
            "CREATE TEMP TABLE findings AS " + q.findings(extras, d),
            "reviewing claims",
            progress,
        )
        run_query(con, "CREATE TEMP TABLE rejects AS " + q.rejects(), "checking rows", progress)
        run_query(
            con,
            "CREATE TEMP TABLE counts AS " + q.counts(),
            "counting",
            progress,
        )
    except duckdb.Error as exc:
        raise ClaimsInputError(str(claims), f"cannot review: {_line(exc)}") from None
    row = con.execute("SELECT * FROM counts").fetchone()
    assert row is not None
    out.claims_read, out.claims_reviewed, out.auths_read = (int(x or 0) for x in row)
    out.count_rejects()
    out.tally()
    out.seconds = time.perf_counter() - started
    return out


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
