"""The read audit: every read of a case by a key holder is an event in the case's history.

One hook, `record_reads`, called by every workflow method that returns case data (one case, a
list, a trace, a history, authorizations); an adapter (JSON API, FHIR, web UI) that reads cases
through the workflow is audited without doing anything, and one that reads another way calls
`Service.audit_reads(who, what, case_ids)`. The events are written after the data was read and
before it is returned: if they cannot be written, the read fails (never data out unaudited)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import insert
from sqlalchemy.orm import Session

from priorauth.service.models import Event

if TYPE_CHECKING:
    from priorauth.service.auth import Principal


def record_reads(
    s: Session,
    who: Principal,
    what: str,
    case_ids: Iterable[str],
    at: dt.datetime,
    status: dict[str, str] | None = None,
) -> int:
    """One `read` event per case (each case once), `detail.what` saying what was read."""
    rows = [
        {
            "case_id": case_id,
            "at": at,
            "actor": who.name,
            "role": who.role,
            "action": "read",
            "from_status": (status or {}).get(case_id),
            "to_status": (status or {}).get(case_id),
            "detail": {"what": what},
        }
        for case_id in dict.fromkeys(case_ids)
    ]
    if rows:
        s.execute(insert(Event), rows)
    return len(rows)
