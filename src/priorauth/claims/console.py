"""What the claims commands print: the summary table, and a progress bar on a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from priorauth.claims.outcome import Progress as ProgressFn
from priorauth.claims.outcome import Review, no_progress


def summary_table(review: Review) -> Table:
    rate = review.claims_read / review.seconds * 60 if review.seconds > 0 else 0.0
    table = Table(
        title=f"Claims review ({review.engine}, {review.seconds:.1f} s, {rate:,.0f} claims/min)",
        title_justify="left",
    )
    table.add_column("")
    table.add_column("claims", justify="right")
    table.add_column("dollars at risk", justify="right")
    table.add_row("read", f"{review.claims_read:,}", "")
    table.add_row("rejected", f"{review.claims_rejected:,}", "")
    table.add_row("reviewed", f"{review.claims_reviewed:,}", "")
    for finding, (n, dollars) in review.by_finding.items():
        table.add_row(f"  {finding}", f"{n:,}", f"${dollars:,.2f}")
    table.add_row("flagged", f"{review.flagged:,}", f"${review.dollars_at_risk:,.2f}")
    if review.auths_read:
        table.add_row("authorizations read", f"{review.auths_read:,}", "")
    if review.auths_rejected:
        table.add_row("authorizations rejected", f"{review.auths_rejected:,}", "")
    return table


@contextmanager
def progress_bar(console: Console) -> Iterator[ProgressFn]:
    """A bar per step while a run lasts, on a terminal only (nothing in logs or pipes)."""
    if not console.is_terminal:
        yield no_progress
        return
    with Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(label: str, done: float) -> None:
            if label not in tasks:
                tasks[label] = int(bar.add_task(label, total=1.0))
            bar.update(tasks[label], completed=done)  # type: ignore[arg-type]

        yield update
