"""Shared by the benchmarks: each owns one section of docs/BENCHMARKS.md between HTML comment markers."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from pathlib import Path

HEADER = "# Benchmarks\n\nFigures measured on this project's machine; each section names the command that made it.\n"


def replace_section(path: str | Path, key: str, title: str, body: str) -> None:
    """Replace the section ``key`` of the markdown file ``path`` with ``## title`` + ``body`` (or append it).

    The section lies between ``<!-- bench:KEY:start -->`` and ``<!-- bench:KEY:end -->``, so a benchmark
    re-run replaces its own figures and leaves every other section as it was.
    """
    path = Path(path)
    start, end = f"<!-- bench:{key}:start -->", f"<!-- bench:{key}:end -->"
    section = f"{start}\n## {title}\n\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else HEADER
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def command_line(module: str) -> str:
    """The command that ran benchmark ``module`` (``bench.NAME``), as a user would type it again."""
    return " ".join([".venv/bin/python", "-m", module, *(shlex.quote(a) for a in sys.argv[1:])])


def machine_line() -> str:
    """Architecture, CPU count and Python version of this machine, for a benchmark's caption."""
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def publish(path: str | Path, key: str, title: str, body: str) -> None:
    """Write ``body`` as section ``key`` of ``path`` (see ``replace_section``) and print it."""
    replace_section(path, key, title, body)
    print(body)
