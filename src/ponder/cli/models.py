"""``ponder models list|pull|rm``: the embedded model catalogue from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from ponder import models
from ponder.cli import render

models_app = typer.Typer(
    help="The embedded GGUF model catalogue (models come from PyPI packages).", no_args_is_help=True
)


@models_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every catalogued model, its size and whether a verified copy is cached."""
    rows = models.list_models()
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "name": s.spec.name,
                        "size": s.spec.size,
                        "n_params": s.spec.n_params,
                        "cached": s.cached,
                        "path": str(s.path),
                        "default": s.spec.name == models.DEFAULT_MODEL,
                        "description": s.spec.description,
                    }
                    for s in rows
                ],
                indent=2,
            )
        )
        return
    table = [
        (
            s.spec.name + (" (default)" if s.spec.name == models.DEFAULT_MODEL else ""),
            f"{s.spec.size / 1e6:.0f} MB",
            "yes" if s.cached else "no",
            s.spec.description,
        )
        for s in rows
    ]
    render.show_table(
        f"models (cache: {models.models_dir()})", ("name", "size", "cached", "description"), table, render.stdout()
    )


@models_app.command()
def pull(name: Annotated[str, typer.Argument(help="Catalogue name, e.g. qwen2.5-coder-1.5b.")]) -> None:
    """Fetch a model's package(s) from PyPI, assemble, verify its SHA-256 and cache it."""
    with download_bar(name) as progress:
        path = models.pull(name, progress)
    print(path)


@contextmanager
def download_bar(label: str) -> Iterator[models.Progress]:
    """A rich download bar fed by ``models.pull``'s progress callback (on stderr)."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=render.stderr(), transient=True) as bar:
        task_id = bar.add_task(label, total=None)

        def update(done: int, total: int, what: str) -> None:
            bar.update(task_id, completed=done, total=total, description=f"{label}: {what}")

        yield update
