"""The reports as the JSON API answers them and the command line prints them: one function each,
so `GET /metrics/...` and `priorauth metrics ...` cannot drift apart."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import TYPE_CHECKING, Any

from priorauth.service import realtime

if TYPE_CHECKING:
    from priorauth.service.auth import Principal
    from priorauth.service.workflow import Service


def _instants(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end] inclusive as [first instant, first instant after); the day after the last
    date there is ends a period that reaches it."""
    lo = dt.datetime.combine(start, dt.time(), dt.UTC)
    if end >= dt.date.max:
        return lo, dt.datetime.max.replace(tzinfo=dt.UTC)
    return lo, dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)


def real_time(service: Service, who: Principal, start: dt.date, end: dt.date) -> dict[str, Any]:
    """GET /metrics/real-time's document for requests received from start to end inclusive."""
    lo, hi = _instants(start, end)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        **realtime.report(service.db, service.engine, who, lo, hi),
    }


def prior_authorization(
    service: Service, who: Principal, start: dt.date, end: dt.date
) -> dict[str, Any]:
    """GET /metrics/prior-authorization's document: the CMS-0057-F figures per urgency (`start`
    after `end` is an empty period)."""
    figures = service.metrics(who, *_instants(start, end))
    figures["to"] = end.isoformat()
    figures["from"] = start.isoformat()
    return figures


def prior_authorization_csv(figures: dict[str, Any]) -> str:
    """The figures as CSV, a row per urgency (format=csv)."""
    buf = io.StringIO()
    keys = list(figures["standard"])
    writer = csv.writer(buf)
    writer.writerow(["urgency", *keys])
    for urgency in ("standard", "expedited"):
        writer.writerow([urgency, *(figures[urgency][k] for k in keys)])
    return buf.getvalue()
