"""Small server-side SVG charts: bars for rates, a histogram of decision times. Each chart has
a title and a description for screen readers; the page also shows the figures as a table."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

COLORS = {"approved": "#1b6e3a", "denied": "#a4262c", "after appeal": "#1f4e8c"}
BUCKETS = ((1, "under 1 h"), (24, "1-24 h"), (72, "1-3 d"), (168, "3-7 d"), (None, "over 7 d"))


@dataclass
class Bar:
    group: str
    label: str
    value: float | None
    color: str


def rate_bars(title: str, bars: list[Bar], width: int = 560, height: int = 240) -> str:
    """Vertical bars on a 0-100 % scale, grouped (e.g. standard, expedited)."""
    left, bottom, top = 44, 40, 16
    plot_h = height - bottom - top
    n = max(len(bars), 1)
    groups = list(dict.fromkeys(b.group for b in bars))
    slot = (width - left - 10) / (n + len(groups) - 1 or 1)
    parts = [_axis(left, top, plot_h, width)]
    x = left + slot * 0.2
    for gi, group in enumerate(groups):
        start = x
        for b in (b for b in bars if b.group == group):
            value = b.value or 0.0
            h = plot_h * value / 100
            y = top + plot_h - h
            shown = "no decisions" if b.value is None else f"{value:g} %"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
                f'fill="{b.color}"><title>{escape(group)}: {escape(b.label)} {shown}</title>'
                "</rect>"
            )
            parts.append(
                f'<text x="{x + slot * 0.4:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'font-size="11">{escape(shown)}</text>'
            )
            x += slot
        mid = (start + x - slot * 0.2) / 2
        parts.append(
            f'<text x="{mid:.1f}" y="{height - 12}" text-anchor="middle" font-size="12" '
            f'font-weight="bold">{escape(group)}</text>'
        )
        if gi < len(groups) - 1:
            x += slot
    legend = _legend(list(dict.fromkeys((b.label, b.color) for b in bars)), height)
    return _svg(title, width, height + 24, "".join(parts) + legend)


def histogram(title: str, hours: list[float], width: int = 560, height: int = 220) -> str:
    """How many decisions took under an hour, 1-24 h, 1-3 days, 3-7 days, over 7 days."""
    counts = [0] * len(BUCKETS)
    for h in hours:
        for i, (upper, _) in enumerate(BUCKETS):
            if upper is None or h < upper:
                counts[i] += 1
                break
    left, bottom, top = 44, 36, 16
    plot_h = height - bottom - top
    most = max(counts) or 1
    slot = (width - left - 10) / len(BUCKETS)
    parts = [_axis(left, top, plot_h, width, str(most))]
    for i, ((_, label), count) in enumerate(zip(BUCKETS, counts, strict=True)):
        x = left + i * slot + slot * 0.1
        h = plot_h * count / most
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}" '
            f'fill="#1f4e8c"><title>{label}: {count}</title></rect>'
            f'<text x="{x + slot * 0.4:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
            f'font-size="11">{count}</text>'
            f'<text x="{x + slot * 0.4:.1f}" y="{height - 14}" text-anchor="middle" '
            f'font-size="12">{label}</text>'
        )
    return _svg(title, width, height, "".join(parts))


def bucket_counts(hours: list[float]) -> list[tuple[str, int]]:
    counts = dict.fromkeys((label for _, label in BUCKETS), 0)
    for h in hours:
        for upper, label in BUCKETS:
            if upper is None or h < upper:
                counts[label] += 1
                break
    return list(counts.items())


def _axis(left: int, top: int, plot_h: int, width: int, top_label: str = "100 %") -> str:
    base = top + plot_h
    return (
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#333"/>'
        f'<line x1="{left}" y1="{base}" x2="{width - 6}" y2="{base}" stroke="#333"/>'
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11">'
        f"{escape(top_label)}</text>"
        f'<text x="{left - 6}" y="{base}" text-anchor="end" font-size="11">0</text>'
    )


def _legend(items: list[tuple[str, str]], top: int) -> str:
    out, x = [], 50
    for label, color in items:
        out.append(
            f'<rect x="{x}" y="{top + 4}" width="12" height="12" fill="{color}"/>'
            f'<text x="{x + 16}" y="{top + 14}" font-size="12">{escape(label)}</text>'
        )
        x += 24 + 8 * len(label)
    return "".join(out)


def _svg(title: str, width: int, height: int, body: str) -> str:
    t = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{t}" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" '
        f'font-family="sans-serif" fill="#222"><title>{t}</title>{body}</svg>'
    )
