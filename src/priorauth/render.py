"""Human views for the terminal: a determination as a checklist, a policy as a readable tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from priorauth.determination import Determination, TraceNode
from priorauth.policy.model import Criterion, Limits, Policy

MARKS = {"met": ("✔", "green"), "not_met": ("✘", "red"), "unknown": ("?", "yellow")}
DECISION_STYLE = {
    "approved": "bold green",
    "partially_approved": "bold yellow",
    "denied": "bold red",
    "pended": "bold cyan",
}


def _label(node: TraceNode) -> Text:
    mark, style = MARKS[node.status]
    text = Text.assemble((f"{mark} ", style), node.text)
    if node.kind in ("all", "any", "ambiguous"):
        text.stylize("bold")
    text.append(f"  [{node.id}]", style="dim")
    return text


def _add_trace(tree: Tree, node: TraceNode) -> None:
    branch = tree.add(_label(node))
    for f in node.facts:
        branch.add(Text(f"{f['fact']}: {f['value']}  ({f['source']})", style="dim"))
    for child in node.children:
        _add_trace(branch, child)


def _appeal_view(appeal: dict[str, Any]) -> list[RenderableType]:
    steps = Table.grid(padding=(0, 1))
    steps.add_column()
    steps.add_column()
    for n, step in enumerate(appeal["steps"], 1):
        steps.add_row(f"{n}.", step)
    return [Text(f"Appeal by {appeal['deadline']}", style="bold"), steps]


def determination_view(
    det: Determination, source: str = "", explained: dict[str, Any] | None = None
) -> RenderableType:
    """The checklist; for a denial, `explained` (priorauth.explain) adds what would meet each
    unmet criterion and the appeal steps."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    decision = det.decision.replace("_", " ")
    basis = det.denial_basis or det.approval_basis
    if basis:
        decision += f" ({basis.replace('_', ' ')})"
    head.add_row("Decision", Text(decision, style=DECISION_STYLE[det.decision]))
    p = det.policy
    head.add_row(
        "Policy", f"{p.number} {p.title}, version effective {p.effective_date} ({p.requirements})"
    )
    head.add_row("Requested", f"{det.requested_daily_dose_mg} mg per day")
    if det.authorization:
        a = det.authorization
        head.add_row(
            "Authorized", f"{a.start} to {a.end}, at most {a.max_daily_dose_mg} mg per day"
        )
    why = Table.grid(padding=(0, 1))
    why.add_column()
    why.add_column()
    # A denial explained: each unmet criterion in the policy's words with what would meet it
    # (for an investigational use, the policy's sentence and the indications it covers), then
    # the engine's other reasons, each said once.
    told = explained["unmet"] if explained else []
    for u in told:
        why.add_row(Text("✘", style="red"), Text.assemble(u["text"], (f"  [{u['id']}]", "dim")))
        why.add_row("", Text.assemble(("To meet it: ", "bold"), u["needed"]))
    for r in det.reasons:
        if r.id in {u["id"] for u in told}:
            continue
        mark, style = MARKS[r.status]
        why.add_row(Text(mark, style=style), Text.assemble(r.text, (f"  [{r.id}]", "dim")))
    tree = Tree(Text("Criteria", style="bold"))
    _add_trace(tree, det.trace)
    parts: list[RenderableType] = [head, Text("Why", style="bold"), why]
    if explained and explained["appeal"]:
        parts += _appeal_view(explained["appeal"])
    parts.append(tree)
    if det.missing:
        asks = Table(title="Questions still needed", show_lines=False, title_justify="left")
        asks.add_column("id", style="cyan", no_wrap=True)
        asks.add_column("question")
        for q in det.missing:
            asks.add_row(q.id, q.text)
        parts.append(asks)
    return Panel(Group(*parts), title=source or "Determination", title_align="left")


def summary_table(rows: list[tuple[str, Determination]]) -> Table:
    table = Table(title="Determinations", title_justify="left")
    for col in ("request", "decision", "basis", "authorization", "questions"):
        table.add_column(col, overflow="fold")
    for name, det in rows:
        a = det.authorization
        table.add_row(
            Path(name).name,
            Text(det.decision, style=DECISION_STYLE[det.decision]),
            det.denial_basis or det.approval_basis or "",
            f"{a.start} to {a.end}, {a.max_daily_dose_mg} mg/day" if a else "",
            ", ".join(q.id for q in det.missing),
        )
    return table


def _criterion_label(node: Criterion) -> Text:
    if node.condition is None:
        word = {"all": "ALL of", "any": "ONE of"}.get(node.shape, "AMBIGUOUS: ALL or ONE of")
        text = Text.assemble((node.text, "bold"), (f"  ({word})", "magenta"))
    else:
        text = Text.assemble(node.text, (f"  <{node.condition.type}>", "magenta"))
    if node.indication:
        text.append("  indication", style="cyan")
    text.append(f"  [{node.id}]", style="dim")
    return text


def _add_criteria(tree: Tree, node: Criterion) -> None:
    branch = tree.add(_criterion_label(node))
    for child in node.children:
        _add_criteria(branch, child)


def _limits_line(limits: Limits) -> str:
    q = limits.quantity.text if limits.quantity else "no quantity limit"
    same = f" ({limits.text})" if limits.text else ""
    return f"Quantity {q}; duration {limits.duration.text}{same}"


def policy_view(policy: Policy) -> RenderableType:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    d = policy.drug
    strengths = ", ".join(f"{s:g} mg" for s in d.strengths_mg)
    head.add_row(
        "Policy", f"{policy.number} {policy.title} ({policy.section}, {policy.subsection})"
    )
    head.add_row("Drug", f"{d.brand} ({d.generic}) {d.form}, {strengths}")
    head.add_row("Effective", str(policy.effective_date))
    head.add_row("Last review", str(policy.last_review_date))
    head.add_row("Applies to", ", ".join(a.replace("_", "-") for a in policy.applies_to))
    head.add_row("Otherwise", policy.investigational_text)
    head.add_row("Initial limits", _limits_line(policy.limits.initial))
    head.add_row("Renewal limits", _limits_line(policy.limits.renewal))
    head.add_row("Pre-PA allowance", policy.pre_pa_allowance_text)
    if policy.related_policies:
        head.add_row("Related", ", ".join(policy.related_policies))
    initial = Tree(Text("Initial requirements", style="bold"))
    _add_criteria(initial, policy.requirements.initial)
    renewal = Tree(Text("Renewal requirements", style="bold"))
    _add_criteria(renewal, policy.requirements.renewal)
    return Panel(Group(head, initial, renewal), title=policy.title, title_align="left")
