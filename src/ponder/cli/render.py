"""All terminal output of the CLI: rich tables, progress bars, JSON and one-line errors.

Nothing here computes; it only shows what the library returned.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ponder.search.show import tree_lines
from ponder.strategies.base import Progress as ProgressFn
from ponder.types import Result, to_jsonable


def stdout() -> Console:
    return Console()


def stderr() -> Console:
    return Console(stderr=True)


def error(message: str) -> None:
    """A one-line user error on stderr (no traceback)."""
    first = str(message).strip().splitlines()[0] if str(message).strip() else "error"
    print(f"error: {first}", file=sys.stderr)


@contextmanager
def progress_bar(label: str, total: int, enabled: bool) -> Iterator[ProgressFn | None]:
    """A progress bar on stderr with elapsed time; yields the callback that advances it."""
    if not enabled:
        yield None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr(), transient=True) as bar:
        task_id = bar.add_task(label, total=total)
        yield lambda units: bar.advance(task_id, units)


def print_json(value: Any) -> None:
    print(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))


def show_result(result: Result, question: str, console: Console) -> None:
    """The answer, the vote / score distribution, tokens and wall time of one Result."""
    console.print(f"[bold]Question:[/bold] {question}")
    console.print(f"[bold green]Answer:[/bold green] {result.answer if result.answer is not None else '(none)'}")
    table = Table(title=f"{result.strategy}: {len(result.candidates)} candidate(s)", show_lines=False)
    table.add_column("answer")
    table.add_column("count", justify="right")
    table.add_column("best score", justify="right")
    table.add_column("filtered", justify="right")
    for answer, (count, best, filtered) in _distribution(result).items():
        table.add_row(answer, str(count), "" if best is None else f"{best:.3f}", str(filtered) if filtered else "")
    console.print(table)
    u = result.usage
    console.print(
        f"tokens: {u.completion_tokens} generated, {u.prompt_tokens} prompt ({u.cached_prompt_tokens} reused "
        f"from cache), {u.calls} backend calls, {u.flops:.3g} FLOPs; wall {u.wall_seconds:.1f} s"
    )


def show_trace(result: Result, console: Console, width: int = 100) -> None:
    """Every trace event: drafts, feedback, revisions, votes; search trees drawn as indented lines."""
    console.rule("trace")
    for i, event in enumerate(result.trace):
        if event.kind == "tree":
            console.print(f"[bold]{i:>3} tree[/bold] ({len(event.data['nodes'])} nodes)")
            for line in tree_lines(event.data["nodes"], width=width - 10):
                console.print("      " + line, markup=False, highlight=False)
            continue
        data = json.dumps(to_jsonable(event.data), ensure_ascii=False)
        short = data if len(data) <= width * 3 else data[: width * 3 - 1] + "…"
        console.print(f"[bold]{i:>3} {event.kind}[/bold] ", end="")
        console.print(short, markup=False, highlight=False)


def _distribution(result: Result) -> dict[str, tuple[int, float | None, int]]:
    rows: dict[str, tuple[int, float | None, int]] = {}
    for c in result.candidates:
        key = c.answer if c.answer is not None else "(no answer)"
        count, best, filtered = rows.get(key, (0, None, 0))
        if c.score is not None:
            best = c.score if best is None else max(best, c.score)
        rows[key] = (count + 1, best, filtered + (c.filtered is not None))
    return dict(sorted(rows.items(), key=lambda kv: -kv[1][0]))


def show_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], console: Console) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)
