"""Terminal output of ``ponder eval`` and ``ponder report``: the progress bar with ETA, summaries, tables.

Nothing here computes; it shows what ``ponder.eval`` returned. Output goes to stderr except tables and JSON.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ponder.eval.aggregate import Point
from ponder.eval.report import Summary
from ponder.eval.runner import EvalSummary, Hooks


def note(message: str) -> None:
    """A message for the user on stderr."""
    print(f"note: {message}", file=sys.stderr)


@contextmanager
def eval_progress(enabled: bool) -> Iterator[Hooks]:
    """Hooks driving a progress bar (work units, ETA, records and errors written) on stderr."""
    if not enabled:
        yield Hooks(notify=note)
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=False) as bar:
        task_id = bar.add_task("eval", total=None)

        def written(records: int, errors: int) -> None:
            bar.update(task_id, description=f"eval: {records} records, {errors} errors")

        yield Hooks(
            total=lambda units: bar.update(task_id, total=max(1, units)),
            advance=lambda units: bar.advance(task_id, units),
            written=written,
            notify=lambda message: console.print(f"[yellow]note:[/yellow] {message}"),
        )


def show_eval_summary(summary: EvalSummary) -> None:
    """What the run did, and how to see the results."""
    s = summary
    cache = s.cache.hits + s.cache.misses
    hit_rate = f"{s.cache.hits / cache:.0%} of {cache} samples from the cache" if cache else "no cached samples"
    print(
        f"{s.written} records written ({s.done_before} already done of {s.expected} = {s.cells} configurations x "
        f"{s.problems} problems), {s.errors} failed (see errors.jsonl; retried on the next run); {hit_rate}; "
        f"{s.wall_seconds:.1f} s",
        file=sys.stderr,
    )
    print(f"next: ponder report {s.out}", file=sys.stderr)


COMPACT = ("series", "budget", "runs", "accuracy [95% CI]", "coverage", "tokens", "FLOPs", "wall s", "cache")
"""Columns of the terminal table (report.md has them all)."""


def _compact(p: Point) -> tuple[str, ...]:
    acc = "-" if math.isnan(p.accuracy.mean) else f"{p.accuracy.mean:.3f} [{p.accuracy.low:.2f}, {p.accuracy.high:.2f}]"
    cov = "-" if math.isnan(p.coverage.mean) else f"{p.coverage.mean:.3f}"
    return (p.label, str(p.budget), f"{p.problems}x{p.seeds}", acc, cov, f"{p.completion_tokens:.4g}",
            f"{p.flops:.3g}", f"{p.wall_seconds:.3g}", f"{p.cache_hit_rate:.0%}")  # fmt: skip


def show_report(summary: Summary, paths: dict[str, Path]) -> None:
    """The accuracy table(s) on stdout, then where the files went."""
    console = Console()
    for task in dict.fromkeys(p.task for p in summary.points):
        table = Table(title=f"{task}: accuracy against compute (per problem; 95% bootstrap CI)")
        for header in COMPACT:
            table.add_column(header, justify="left" if header == "series" else "right", no_wrap=header != "series")
        previous = None
        for p in summary.points:
            if p.task == task:
                row = _compact(p)
                table.add_row(*(("" if p.label == previous else row[0]), *row[1:]))
                previous = p.label
        console.print(table)
    for message in summary.messages:
        note(message)
    if summary.errors:
        note(f"{summary.errors} problem run(s) failed and have no record; rerun `ponder eval` to retry them")
    console.print(f"report: {paths['markdown']}  html: {paths['html']}  plots: {paths['markdown'].parent}")
