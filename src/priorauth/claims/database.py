"""The service's database as a source, read only: its authorizations for the claims review, its
cases' requests for the impact analysis. Read through the service's SQLAlchemy models."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from priorauth.claims.files import ClaimsInputError
from priorauth.service.config import get_settings
from priorauth.service.models import Authorization, Case

if TYPE_CHECKING:  # imported where used: `policy impact --cases db` needs no Arrow
    import pyarrow as pa


def database_url(url: str | None = None) -> str:
    return url or get_settings().database_url


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _read(url: str, what: str, statement: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(statement).all())
    except SQLAlchemyError as exc:
        first = str(exc.args[0]).splitlines()[0] if exc.args else exc.__class__.__name__
        raise ClaimsInputError(
            f"database {_shown(url)}",
            f"cannot read {what} ({first}); is it the service's database, migrated with "
            "`priorauth db upgrade`?",
        ) from None
    finally:
        engine.dispose()


def read_authorizations(url: str | None = None) -> pa.Table:
    """Every authorization the service recorded, in the review's authorization columns."""
    url = database_url(url)
    rows = _read(
        url,
        "authorizations",
        select(
            Authorization.member_id,
            Authorization.drug,
            Authorization.start,
            Authorization.end,
            Authorization.max_daily_dose_mg,
        ).order_by(Authorization.id),
    )
    import pyarrow as pa

    schema = pa.schema(
        [
            ("member_id", pa.string()),
            ("drug_name", pa.string()),
            ("start", pa.date32()),
            ("end", pa.date32()),
            ("max_daily_dose_mg", pa.float64()),
        ]
    )
    cols: list[list[Any]] = [[], [], [], [], []]
    for row in rows:
        for i, value in enumerate(row):
            cols[i].append(value)
    return pa.table(cols, schema=schema)


def read_cases(url: str | None = None) -> list[tuple[str, dict[str, Any], dt.datetime]]:
    """Every stored case: its id, the request as submitted, and when it was received."""
    url = database_url(url)
    rows = _read(
        url,
        "cases",
        select(Case.id, Case.request, Case.received_at).order_by(Case.received_at, Case.id),
    )
    return [(str(r[0]), dict(r[1]), r[2]) for r in rows]
