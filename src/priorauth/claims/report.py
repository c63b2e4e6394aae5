"""HTML reports in one self-contained file: inline CSS and SVG charts, nothing fetched from a CDN,
so a report opens the same on a machine with no network."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING

from priorauth.claims.impact import Impact
from priorauth.claims.review_sql import FINDINGS

if TYPE_CHECKING:  # the impact report is made without DuckDB, which a Review holds
    from priorauth.claims.outcome import Review

COLORS = {
    "no_authorization": "#c0392b",
    "expired_authorization": "#e67e22",
    "over_daily_dose": "#2c7fb8",
}
_PALETTE = ("#2c7fb8", "#c0392b", "#e67e22", "#27ae60", "#8e44ad", "#7f8c8d", "#16a085")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem;
color:#222;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .6rem;
text-align:left;vertical-align:top}td.n,th.n{text-align:right}blockquote{margin:.3rem 0 .3rem 1rem;
padding-left:.8rem;border-left:3px solid #aaa;color:#444}.legend span{margin-right:1rem}
.sw{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
svg text{font-size:11px;fill:#333}small{color:#666}
"""


def money(x: float) -> str:
    return f"${x:,.2f}"


def page(title: str, body: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p><small>Written by priorauth on {stamp}.</small></p>"
        f"{body}</body></html>\n"
    )


def table(head: Sequence[str], rows: Sequence[Sequence[object]], numeric: set[int]) -> str:
    th = "".join(
        f'<th class="{"n" if i in numeric else ""}">{escape(h)}</th>' for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"n" if i in numeric else ""}">{escape(str(v))}</td>'
            for i, v in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def legend(series: Sequence[str], colors: Mapping[str, str]) -> str:
    return (
        '<p class="legend">'
        + "".join(
            f'<span><i class="sw" style="background:{colors[s]}"></i>{escape(s)}</span>'
            for s in series
        )
        + "</p>"
    )


def stacked_columns(
    labels: Sequence[str], series: Mapping[str, Sequence[float]], colors: Mapping[str, str]
) -> str:
    """Vertical stacked columns, one per label (months), one colour per series."""
    if not labels:
        return "<p>Nothing to chart.</p>"
    width, height, left, bottom = 900, 260, 60, 40
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    top = max(totals) or 1
    step = (width - left) / len(labels)
    bar = max(step * 0.7, 1)
    parts = [f'<svg width="{width}" height="{height + bottom}" role="img">']
    for frac in (0, 0.5, 1):
        y = height - frac * (height - 10)
        parts.append(f'<line x1="{left}" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{top * frac:,.0f}</text>'
        )
    for i, label in enumerate(labels):
        x = left + i * step + (step - bar) / 2
        y = float(height)
        for name, values in series.items():
            h = values[i] / top * (height - 10)
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colors[name]}"><title>{escape(label)} {escape(name)}: '
                f"{values[i]:,.0f}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height + 14}" text-anchor="middle">'
            f"{escape(label[2:] if len(labels) > 14 else label)}</text>"
        )
    parts.append("</svg>")
    return legend(list(series), colors) + "".join(parts)


def horizontal_bars(rows: Sequence[tuple[str, float, str]], color: str = "#2c7fb8") -> str:
    """One bar per row: (label, value, text shown after the bar)."""
    if not rows:
        return "<p>Nothing to chart.</p>"
    # Room on the left for the longest label, on the right for the text after the bar.
    width, line = 1000, 20
    left = min(420, 12 + 7 * max(len(label) for label, _, _ in rows))
    top = max(v for _, v, _ in rows) or 1
    parts = [f'<svg width="{width}" height="{line * len(rows) + 10}" role="img">']
    for i, (label, value, shown) in enumerate(rows):
        y = 5 + i * line
        w = value / top * (width - left - 250)
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>')
        parts.append(
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{line - 6}" fill="{color}"/>'
        )
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 13}">{escape(shown)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _rules_section(review: Review) -> str:
    out = [
        "<p>Only claims for a drug a policy covers are reviewed, under the policy version in "
        "force on the fill date. For each such claim, the member's authorizations for that drug "
        "are looked up:</p><ul>"
        "<li><b>no_authorization</b>: none in force on the fill date (start &le; fill date "
        "&le; end, both inclusive) and none ended before it. Dollars at risk: the paid amount."
        "</li><li><b>expired_authorization</b>: none in force, but one ended before the fill "
        "date. Dollars at risk: the paid amount.</li>"
        "<li><b>over_daily_dose</b>: one in force, and strength &times; quantity / days supply "
        "is above its maximum daily dose (the largest of those in force; an authorization "
        "without one has the policy's quantity limit). Dollars at risk: the paid amount "
        "&times; the share of the dose above the limit.</li>"
        "<li>A fill with no authorization in force is not flagged when it is within the "
        "policy's pre-PA allowance.</li></ul>"
    ]
    for v in review.rules.versions:
        p = v.policy
        limits = p.limits.initial
        qty = (
            limits.quantity.text
            if limits.quantity
            else "; ".join(q.text for q in limits.quantity_by_strength) or "none"
        )
        out.append(
            f"<h3>{escape(v.label)}</h3>"
            f"<p>In force {v.start} to "
            f"{'the present' if v.until.year == 9999 else v.until - dt.timedelta(days=1)}; "
            f"{'applied' if v.post_service else 'not applied (not a post-service policy)'} "
            "to claims filled in that period.</p>"
            f"<blockquote>{escape(p.applicability_text)}</blockquote>"
            f"<p>Prior-approval limits, quantity:</p><blockquote>{escape(qty)}</blockquote>"
            f"<p>Duration:</p><blockquote>{escape(limits.duration.text)}</blockquote>"
            f"<p>Pre-PA allowance:</p><blockquote>{escape(p.pre_pa_allowance_text)}</blockquote>"
        )
    return "".join(out)


def review_report(review: Review, claims: str, authorizations: str) -> str:
    con = review.con
    body: list[str] = []
    body.append(
        f"<p>Claims: <code>{escape(claims)}</code>; authorizations: "
        f"<code>{escape(authorizations)}</code>; engine: {escape(review.engine)}.</p>"
    )
    rows = [
        ("claims read", f"{review.claims_read:,}"),
        ("rejected (see the rejects file)", f"{review.claims_rejected:,}"),
        ("reviewed (a policy covers the drug on the fill date)", f"{review.claims_reviewed:,}"),
        ("flagged", f"{review.flagged:,}"),
        ("dollars at risk", money(review.dollars_at_risk)),
    ]
    body.append("<h2>Summary</h2>" + table(("", "value"), rows, {1}))
    body.append(
        table(
            ("finding", "claims", "dollars at risk"),
            [(f, f"{n:,}", money(d)) for f, (n, d) in review.by_finding.items()],
            {1, 2},
        )
    )
    months = con.execute(
        "SELECT strftime(fill_date, '%Y-%m') AS m, finding, count(*) FROM findings "
        "GROUP BY ALL ORDER BY m"
    ).fetchall()
    labels = sorted({str(m) for m, _, _ in months})
    series = {f: [0.0] * len(labels) for f in FINDINGS}
    for m, f, n in months:
        series[str(f)][labels.index(str(m))] = float(n)
    body.append("<h2>Findings by month of fill</h2>" + stacked_columns(labels, series, COLORS))
    presc = con.execute(
        "SELECT prescriber_npi, count(*) AS n, sum(cents) / 100 FROM findings "
        "GROUP BY ALL ORDER BY n DESC, prescriber_npi LIMIT 15"
    ).fetchall()
    body.append(
        "<h2>Prescribers with the most flagged claims</h2>"
        + horizontal_bars(
            [(str(p), float(n), f"{n:,} claims, {money(float(d or 0))}") for p, n, d in presc],
            "#8e44ad",
        )
    )
    pharm = con.execute(
        "SELECT pharmacy_npi, sum(cents) / 100 AS d, count(*) FROM findings "
        "GROUP BY ALL ORDER BY d DESC, pharmacy_npi LIMIT 15"
    ).fetchall()
    body.append(
        "<h2>Top pharmacies by dollars at risk</h2>"
        + horizontal_bars(
            [
                (str(p), float(d or 0), f"{money(float(d or 0))} ({n:,} claims)")
                for p, d, n in pharm
            ],
            "#c0392b",
        )
    )
    largest = con.execute(
        "SELECT claim_id, finding, cents / 100, detail FROM findings "
        "ORDER BY cents DESC, _row LIMIT 20"
    ).fetchall()
    body.append(
        "<h2>Largest findings</h2>"
        + table(
            ("claim", "finding", "dollars at risk", "detail"),
            [(c, f, money(float(d)), t) for c, f, d, t in largest],
            {2},
        )
    )
    body.append("<h2>The rules applied</h2>" + _rules_section(review))
    if review.warnings:
        body.append(
            "<h2>Warnings</h2><ul>"
            + "".join(f"<li>{escape(w)}</li>" for w in review.warnings)
            + "</ul>"
        )
    return page("Post-service review of paid claims", "".join(body))


def impact_report(impact: Impact, source: str) -> str:
    p = impact.policy
    body: list[str] = [
        f"<p>New version: <b>{escape(p.number)} {escape(p.title)}</b>, effective "
        f"{p.effective_date}; cases: <code>{escape(source)}</code>. Each case is decided under "
        "the version in force on its date of service and under the new version.</p>"
    ]
    rows = [
        ("cases read", f"{impact.cases:,}"),
        (f"for {p.drug.brand} ({p.drug.generic}), decided twice", f"{impact.decided:,}"),
        ("unchanged", f"{impact.unchanged:,}"),
        ("changed", f"{len(impact.changes):,}"),
        ("other drugs (not under this policy)", f"{impact.other_drug:,}"),
        ("no version in force on the date of service", f"{impact.no_version_then:,}"),
        ("could not be decided", f"{len(impact.errors):,}"),
    ]
    body.append("<h2>Summary</h2>" + table(("", "cases"), rows, {1}))
    flips = impact.flips.most_common()
    body.append(
        "<h2>Decision changes</h2>"
        + horizontal_bars([(f"{a} -> {b}", float(n), f"{n:,}") for (a, b), n in flips])
    )
    outcomes = sorted(set(impact.outcomes_before) | set(impact.outcomes_after))
    colors = {o: _PALETTE[i % len(_PALETTE)] for i, o in enumerate(outcomes)}
    series = {
        o: [float(impact.outcomes_before[o]), float(impact.outcomes_after[o])] for o in outcomes
    }
    body.append(
        "<h2>Outcomes before and after</h2>"
        + stacked_columns(["in force then", "new version"], series, colors)
    )
    criteria = impact.criteria_by_flip()
    cases = impact.cases_by_flip()
    for (a, b), n in flips:
        shown = cases[(a, b)][:200]
        more = n - len(shown)
        body.append(
            f"<h3>{escape(a)} &rarr; {escape(b)}: {n:,} cases</h3>"
            + table(
                ("criterion", "cases"),
                [(c, f"{k:,}") for c, k in criteria[(a, b)].most_common()],
                {1},
            )
            + "<p>Cases: "
            + escape(", ".join(shown))
            + (f" and {more:,} more (see the NDJSON)" if more > 0 else "")
            + "</p>"
        )
    if impact.errors:
        body.append(
            "<h2>Cases that could not be decided</h2>"
            + table(("case", "problem"), impact.errors[:100], set())
        )
    return page(f"Policy impact: {p.number} {p.title}", "".join(body))
