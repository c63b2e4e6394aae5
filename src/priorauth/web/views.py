"""What the pages show, worked out from cases, traces and policies (no HTML here)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from priorauth.policy.model import Policy
from priorauth.service.explain import CITED, unmet
from priorauth.service.explain import policy_version as policy_version  # for the pages

STATUS_LABEL = {
    "pended": "pended: questions open",
    "in_review": "recommended denial: in review",
    "in_appeal": "in appeal",
    "approved": "approved",
    "partially_approved": "partially approved",
    "denied": "denied",
    "withdrawn": "withdrawn",
}
MARK = {"met": ("✔", "met"), "not_met": ("✘", "not met"), "unknown": ("?", "unknown")}
DECIDED = ("approved", "partially_approved", "denied")


def utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def time_left(due: dt.datetime, now: dt.datetime) -> str:
    """'2 d 5 h left' or 'overdue by 3 h'."""
    seconds = (utc(due) - now).total_seconds()
    words = _span(abs(seconds))
    return f"{words} left" if seconds >= 0 else f"overdue by {words}"


def _span(seconds: float) -> str:
    hours = int(seconds // 3600)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {int(seconds % 3600 // 60)} min"
    return f"{int(seconds // 60)} min"


def when(value: str | dt.datetime | None) -> str:
    """A timestamp as people read it: 2026-06-01 09:00 UTC."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return utc(value).strftime("%Y-%m-%d %H:%M UTC")


def split_reason(reason: str | None) -> tuple[str, list[str]]:
    """A reviewer's reason: (the note, the criterion ids cited in the denial)."""
    if not reason:
        return "", []
    note, cited = [], []
    for line in reason.splitlines():
        if line.startswith(CITED):
            cited += [c.strip() for c in line.removeprefix(CITED).split(",") if c.strip()]
        else:
            note.append(line)
    return "\n".join(note).strip(), cited


def join_reason(note: str, cited: list[str]) -> str:
    note = note.strip()
    return f"{note}\n{CITED}{', '.join(cited)}" if cited else note


def checklist(node: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """The trace as rows in document order, each with its depth, mark and facts."""
    mark, label = MARK[node["status"]]
    row = {
        "id": node["id"],
        "text": node["text"],
        "kind": node["kind"],
        "group": node["kind"] in ("all", "any", "ambiguous"),
        "status": node["status"],
        "mark": mark,
        "label": label,
        "answered": node["answered"],
        "facts": node["facts"],
        "depth": depth,
    }
    rows = [row]
    for child in node["children"]:
        rows += checklist(child, depth + 1)
    return rows


def denial_reasons(case: dict[str, Any], policy: Policy | None) -> list[dict[str, str]]:
    """Each specific reason for a denial in the policy's words, and what would meet it."""
    return unmet(case["determination"], policy, case.get("decision_reason"), case.get("decided_by"))
