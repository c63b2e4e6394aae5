"""Claim and authorization files in (CSV or Parquet, by extension), findings and rejects out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from priorauth.claims.review_sql import FINDING_COLUMNS, Kind
from priorauth.errors import PriorAuthError

if TYPE_CHECKING:  # imported where used: `policy impact` reads no files and needs no DuckDB
    import duckdb

Format = Literal["csv", "parquet"]
# Names the review itself uses: an extra column so named keeps its data under claim_<name>.
_RESERVED = {*FINDING_COLUMNS, "cents", "_row", "_problem", "file", "row_number", "problem"}


class ClaimsInputError(PriorAuthError):
    """A claims or authorizations file that cannot be reviewed: names the file and the problem."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


def file_format(path: Path, what: str) -> Format:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise ClaimsInputError(str(path), f"{what}: expected a .csv or .parquet file")


def check_input(path: Path, what: str) -> Format:
    fmt = file_format(path, what)
    if not path.is_file():
        raise ClaimsInputError(str(path), "no such file")
    return fmt


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_source(path: Path) -> str:
    """A DuckDB table expression for the file, every row numbered from 1 in file order."""
    p = sql_string(str(path))
    if file_format(path, "input") == "parquet":
        return (
            f"(SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS _row "
            f"FROM read_parquet({p}, file_row_number = true))"
        )
    # A streaming ROW_NUMBER() keeps the reader's order, which is the file's order.
    return (
        f"(SELECT *, row_number() OVER () AS _row FROM read_csv({p}, header = true, "
        f"all_varchar = true, auto_detect = true))"
    )


def kind_of(type_name: str) -> Kind:
    t = type_name.upper()
    if t.startswith(("DATE", "TIMESTAMP")):
        return "date"
    numeric = ("INT", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "DOUBLE", "FLOAT", "DECIMAL")
    if t.startswith(numeric) or t in ("REAL", "UBIGINT", "UINTEGER"):
        return "number"
    return "text"


@dataclass
class Columns:
    """The columns of an input file: their kinds, and the extras carried through."""

    kinds: dict[str, Kind]
    extras: list[tuple[str, str]] = field(default_factory=list)


def columns_of(
    types: list[tuple[str, str]],
    required: tuple[str, ...],
    source: str,
    what: str,
    kind: Callable[[str], Kind] = kind_of,
) -> Columns:
    names = [n for n, _ in types if n != "_row"]
    missing = [c for c in required if c not in names]
    if missing:
        raise ClaimsInputError(
            source,
            f"{what}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (has: {', '.join(names) or 'none'})",
        )
    kinds = {n: kind(t) for n, t in types}
    extras = [
        (n, f"claim_{n}" if n in _RESERVED or n.startswith("_raw_") else n)
        for n in names
        if n not in required
    ]
    return Columns(kinds, extras)


def duckdb_columns(
    con: duckdb.DuckDBPyConnection, source_sql: str, source: str
) -> list[tuple[str, str]]:
    import duckdb

    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {source_sql}").fetchall()
    except duckdb.Error as exc:
        raise ClaimsInputError(source, f"cannot read: {_first_line(exc)}") from None
    return [(str(r[0]), str(r[1])) for r in rows]


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def write_table(con: duckdb.DuckDBPyConnection, query: str, path: Path, what: str) -> None:
    """Write a query's rows as CSV or Parquet (by the path's extension), atomically: a half-written
    file never stands under the final name."""
    import duckdb

    fmt = file_format(path, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER"
    try:
        con.execute(f"COPY ({query}) TO {sql_string(str(tmp))} ({options})")
        tmp.replace(path)
    except (duckdb.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise ClaimsInputError(str(path), f"cannot write {what}: {_first_line(exc)}") from None


def findings_query(extras: list[str]) -> str:
    """The findings as written: the five finding columns, then the claim's own columns."""
    rest = "".join(f', "{e}"' for e in extras)
    return (
        "SELECT claim_id, finding, CAST(cents / 100 AS DECIMAL(18, 2)) AS dollars_at_risk, "
        "policy, detail, member_id, fill_date, drug_name, strength_mg, quantity, days_supply, "
        f"prescriber_npi, pharmacy_npi, paid_amount{rest} FROM findings ORDER BY _row"
    )


def rejects_query() -> str:
    return "SELECT * FROM rejects ORDER BY file DESC, row_number"
