"""What the pages show, worked out from cases, traces and policies (no HTML here)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from priorauth.engine.engine import Engine
from priorauth.policy.asked import observations_compared
from priorauth.policy.model import Policy
from priorauth.policy.observations import load_observations
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


_OBSERVATION_SOURCE = re.compile(r"observations\[(\d+)\]")


def observation_label(obs: dict[str, Any]) -> str:
    """An observation as a reader knows it: the name given, else the knowledge table's name of
    its LOINC code, else the code."""
    if obs.get("name"):
        return str(obs["name"])
    kind = load_observations().find(obs.get("code"), None)
    return kind.name if kind is not None else f"LOINC {obs.get('code')}"


def observations_asked(
    engine: Engine, det: dict[str, Any], question_ids: list[str]
) -> dict[str, list[dict[str, str]]]:
    """Question id -> the observations (key, name, unit) its criterion compares: the answer
    form asks for their values, units and dates beside the yes or no."""
    policy = policy_version(engine, det["policy"]["number"], det["policy"]["effective_date"])
    if policy is None:
        return {}
    wanted = set(question_ids)
    table = load_observations()
    out: dict[str, list[dict[str, str]]] = {}
    for root in (policy.requirements.initial, policy.requirements.renewal):
        for node in root.walk():
            keys = observations_compared(node.condition) if node.id in wanted else []
            if keys:
                out[node.id] = [
                    {"key": k, "name": table.kind(k).name, "unit": table.kind(k).unit} for k in keys
                ]
    return out


def relied_observations(node: dict[str, Any]) -> dict[int, str]:
    """Request observation index -> the criteria (ids) that a met or unmet status rests on it,
    read from the trace's facts (`source`: `observations[1]`)."""
    out: dict[int, list[str]] = {}

    def walk(n: dict[str, Any]) -> None:
        if n.get("status") in ("met", "not_met"):
            for fact in n.get("facts") or []:
                for m in _OBSERVATION_SOURCE.finditer(str(fact.get("source", ""))):
                    ids = out.setdefault(int(m.group(1)), [])
                    if n["id"] not in ids:
                        ids.append(n["id"])
        for child in n.get("children") or []:
            walk(child)

    walk(node)
    return {i: ", ".join(ids) for i, ids in out.items()}


def denial_reasons(case: dict[str, Any], policy: Policy | None) -> list[dict[str, str]]:
    """Each specific reason for a denial in the policy's words, and what would meet it."""
    return unmet(case["determination"], policy, case.get("decision_reason"), case.get("decided_by"))
