"""The import report: every criterion with its source and what it became, the unplaced text,
the warnings; as Markdown for review and as a Rich summary for the terminal."""

from __future__ import annotations

import datetime as dt

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from priorauth.importer.result import NOT_STATED, PLACEHOLDER_DATE, ImportResult


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(result: ImportResult) -> str:
    p = result.policy
    typed, total = result.typed_share
    groups = result.ambiguous
    lines = [
        f"# Import report: {p.number} {p.title}",
        "",
        f"Source: `{result.source}`",
        "",
        *happened(result),
        "",
        f"- Drug: {p.drug.brand} ({p.drug.generic}), strengths: "
        + (", ".join(f"{s:g} mg" for s in p.drug.strengths_mg) or "not stated"),
        f"- Effective {_day(result, p.effective_date)}; original policy date "
        f"{_day(result, p.original_policy_date)}; last review {_day(result, p.last_review_date)}",
        f"- Criteria: {total}, of which {typed} typed conditions and {total - typed} questions",
        f"- Unplaced lines: {len(result.unplaced)}; warnings: {len(result.warnings)}",
        "",
        "## Criteria",
        "",
        "| id | source wording | where | became | why |",
        "|---|---|---|---|---|",
    ]
    for c in result.criteria:
        became = c.condition_type if c.mapping == "typed" else "question"
        lines.append(
            f"| `{c.id}` | {_md(c.text)} | page {c.page}, line {c.line} | {became} | {_md(c.why)} |"
        )
    lines += ["", "## Ambiguous groups", ""]
    if not groups:
        lines.append("None: every group says, or its layout says, whether all or one must hold.")
    for g in groups:
        where = g.where or "no source"
        lines.append(f"- `{g.id}` ({where}): pends unless every item or none is met")
        lines += [f"  - {where or 'no source'}: {_md(text)}" for where, text in g.items]
    lines += ["", "## Limits", ""]
    for kind in ("initial", "renewal"):
        lim = getattr(p.limits, kind)
        qty = [q.text for q in lim.quantity_by_strength] or (
            [lim.quantity.text] if lim.quantity else ["no quantity limit"]
        )
        same = f" ({lim.text})" if lim.text else ""
        lines.append(f"- {kind}: quantity {'; '.join(qty)}; duration {lim.duration.text}{same}")
    lines.append(f"- pre-PA allowance: {p.pre_pa_allowance_text}")
    lines += ["", "## Unplaced text", ""]
    if result.unplaced:
        lines += [
            f"- page {u.page}, line {u.line} ({u.section}): {u.text}" for u in result.unplaced
        ]
    else:
        lines.append("None: every line of the requirement and limit sections was placed.")
    lines += ["", "## Warnings", ""]
    lines += [f"- {w}" for w in result.warnings] or ["None."]
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def happened(result: ImportResult) -> list[str]:
    """The report's first lines: what the import found and read, and what it left."""
    typed, total = result.typed_share
    groups = result.ambiguous
    out = [
        "- Sections found: " + (", ".join(result.sections) or "none recognised"),
        f"- Criteria read: {total} ({typed} typed, {total - typed} questions),"
        f" {len(groups)} ambiguous group{'s' if len(groups) != 1 else ''}",
        f"- Unplaced lines of the criteria and limits sections: {len(result.unplaced)}"
        + "".join(f"; line {u.line}" for u in result.unplaced[:20])
        + ("; ..." if len(result.unplaced) > 20 else ""),
    ]
    if result.unread:
        out.insert(0, f"- NOT READ: {result.unread}")
    if result.undated:
        # Before all else: until it is set the policy file does not load.
        out.insert(0, f"- WARNING: {NOT_STATED}")
    return out


def _day(result: ImportResult, day: dt.date) -> str:
    """A date of the policy as the report shows it: an undated import's placeholder is not."""
    return "not stated" if result.undated and day == PLACEHOLDER_DATE else str(day)


def summary_view(result: ImportResult, out_path: str | None = None) -> RenderableType:
    p = result.policy
    typed, total = result.typed_share
    head = Text.assemble(
        (f"{p.number} {p.title}", "bold"),
        f" ({p.drug.generic}), effective {_day(result, p.effective_date)}: ",
        (f"{typed} of {total}", "green" if typed == total else "yellow"),
        " criteria typed",
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("id", style="cyan", overflow="fold")
    table.add_column("became")
    table.add_column("source wording", overflow="fold")
    for c in result.criteria:
        became = (
            Text(c.condition_type, style="green")
            if c.mapping == "typed"
            else Text("question", style="yellow")
        )
        table.add_row(c.id, became, c.text)
    parts: list[RenderableType] = [Text("\n".join(happened(result))), head, table]
    for g in result.ambiguous:
        items = "; ".join(f"{where}: {text}" for where, text in g.items)
        parts.append(Text(f"ambiguous: {g.id} ({g.where}): {items}", style="yellow"))
    for u in result.unplaced:
        parts.append(Text(f"unplaced: page {u.page}, line {u.line}: {u.text}", style="red"))
    for w in result.warnings:
        parts.append(Text(f"warning: {w}", style="yellow"))
    if out_path:
        parts.append(Text(f"wrote {out_path}", style="dim"))
    return Group(*parts)
