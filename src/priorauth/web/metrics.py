"""The CMS-0057-F figures for a period, with charts drawn on the server, and the CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from priorauth.service import realtime
from priorauth.service.errors import Invalid
from priorauth.service.models import Case
from priorauth.service.workflow import APPROVED, Service
from priorauth.web.charts import COLORS, Bar, bucket_counts, histogram, rate_bars
from priorauth.web.common import Visitor, page, service_of, visitor
from priorauth.web.views import utc

router = APIRouter()
Signed = Annotated[Visitor, Depends(visitor)]
URGENCIES = ("standard", "expedited")


def _period(service: Service, from_: str, to: str) -> tuple[dt.date, dt.date]:
    today = service.clock().date()
    try:
        end = dt.date.fromisoformat(to) if to else today
    except ValueError:
        raise Invalid(f"to: {to!r} is not a date (expected YYYY-MM-DD)", "to") from None
    try:
        start = dt.date.fromisoformat(from_) if from_ else end - dt.timedelta(days=29)
    except ValueError:
        raise Invalid(f"from: {from_!r} is not a date (expected YYYY-MM-DD)", "from") from None
    if start > end:
        raise Invalid("from: after to", "from")
    if end >= dt.date.max:
        raise Invalid("to: out of range", "to")
    return start, end


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (
        dt.datetime.combine(start, dt.time(), dt.UTC),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC),
    )


def _decision_hours(service: Service, lo: dt.datetime, hi: dt.datetime) -> dict[str, list[float]]:
    """Hours from receipt to decision of each decided case received in [lo, hi), by urgency
    (the same cases the figures count)."""
    out: dict[str, list[float]] = {u: [] for u in URGENCIES}
    with service.db.reading() as s:
        rows = s.execute(
            select(Case.urgency, Case.received_at, Case.decided_at).where(
                Case.received_at >= lo,
                Case.received_at < hi,
                Case.decided_at.is_not(None),
                Case.status.in_((*APPROVED, "denied")),
            )
        ).all()
    for urgency, received, decided in rows:
        if decided is not None:
            hours = (utc(decided) - utc(received)).total_seconds() / 3600
            out.setdefault(urgency, []).append(hours)
    return out


From = Annotated[str, Query(alias="from")]


@router.get("/metrics")
def metrics_page(request: Request, v: Signed, from_: From = "", to: str = "") -> Response:
    service = service_of(request)
    start, end = _period(service, from_, to)
    lo, hi = _bounds(start, end)
    figures: dict[str, Any] = service.metrics(v.who, lo, hi)
    hours = _decision_hours(service, lo, hi)
    bars = [
        Bar(u, label, figures[u][key], COLORS[label])
        for u in URGENCIES
        for label, key in (
            ("approved", "percent_approved"),
            ("denied", "percent_denied"),
            ("after appeal", "percent_approved_after_appeal"),
        )
    ]
    return page(
        request,
        "metrics.html",
        {
            "title": "Prior-authorization metrics",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "figures": figures,
            "urgencies": URGENCIES,
            "rates_svg": rate_bars("Percent approved, denied and approved after appeal", bars),
            "hist_svg": {
                u: histogram(f"Time to decision, {u} requests", hours[u]) for u in URGENCIES
            },
            "buckets": {u: bucket_counts(hours[u]) for u in URGENCIES},
            "real_time": realtime.report(service.db, service.engine, v.who, lo, hi),
            "nav": "metrics",
        },
        v=v,
    )


@router.get("/metrics.csv")
def metrics_csv(request: Request, v: Signed, from_: From = "", to: str = "") -> Response:
    service = service_of(request)
    start, end = _period(service, from_, to)
    figures = service.metrics(v.who, *_bounds(start, end))
    buf = io.StringIO()
    keys = list(figures["standard"])
    writer = csv.writer(buf)
    writer.writerow(["from", "to", "urgency", *keys])
    for urgency in URGENCIES:
        writer.writerow([start, end, urgency, *(figures[urgency][k] for k in keys)])
    name = f"prior-authorization-metrics-{start}-to-{end}.csv"
    return Response(
        buf.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
