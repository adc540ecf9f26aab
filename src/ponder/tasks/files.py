"""Reading problems from JSON Lines files, with malformed rows reported by line number.

``read_jsonl`` turns a file into (line number, object) rows and (line number, reason) skips;
``JsonlFileTask`` is the base of the file-backed tasks (``gsm8k``, ``jsonl``): it loads its file once, at
construction, through a per-task ``_row_to_problem`` hook, keeps every skipped row in ``skipped`` and warns
about them with ``MalformedRowWarning`` (never silently). A missing or unreadable file is a TaskError that
names the path. This module does not download anything: users point it at files on their disk.
"""

from __future__ import annotations

import gzip
import json
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, cast

from ponder.errors import ConfigError, TaskError
from ponder.tasks.math_answer import MathAnswerTask, check_limit
from ponder.types import Problem

__all__ = ["JsonlFileTask", "MalformedRow", "MalformedRowWarning", "describe_skipped", "read_jsonl", "require_str"]

_SHOWN_REASONS = 5
"""How many skipped rows a warning or error message spells out."""


class MalformedRowWarning(UserWarning):
    """Some rows of a data file were skipped; the message gives their line numbers and why."""


class MalformedRow(Exception):
    """Raised by a row converter: this row cannot become a problem. The message says why."""


def read_jsonl(path: str | Path) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """The JSON objects of a ``.jsonl`` (or ``.jsonl.gz``) file, by 1-based line number.

    Returns ``(rows, skipped)``: blank lines are ignored; lines that are not valid UTF-8, not valid JSON
    or not a JSON object land in ``skipped`` as (line number, reason). TaskError when the file is missing
    or unreadable.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        what = "is a directory, not a file" if file.is_dir() else "does not exist"
        raise TaskError(f"data file {str(file)!r} {what}")
    rows: list[tuple[int, dict[str, Any]]] = []
    skipped: list[tuple[int, str]] = []
    try:
        with _open_binary(file) as handle:
            for line_no, raw in enumerate(handle, start=1):
                row, reason = _parse_line(raw)
                if reason is not None:
                    skipped.append((line_no, reason))
                elif row is not None:
                    rows.append((line_no, row))
    except (OSError, EOFError) as exc:
        raise TaskError(f"cannot read data file {str(file)!r}: {exc}") from exc
    return rows, skipped


def _open_binary(file: Path) -> IO[bytes]:
    """``file`` opened for reading bytes, decompressing ``.gz``."""
    return cast(IO[bytes], gzip.open(file, "rb") if file.suffix == ".gz" else file.open("rb"))


def _parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(object, None) for a good line, (None, reason) for a bad one, (None, None) for a blank one."""
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (first line of some files) is not data
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
    if not text.strip():
        return None, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} (column {exc.colno})"
    if not isinstance(value, dict):
        return None, f"expected a JSON object, got {type(value).__name__}"
    return value, None


def describe_skipped(skipped: list[tuple[int, str]]) -> str:
    """A short human summary of skipped rows: the first few reasons by line, then a count of the rest."""
    shown = "; ".join(f"line {line}: {reason}" for line, reason in skipped[:_SHOWN_REASONS])
    rest = len(skipped) - _SHOWN_REASONS
    return shown + (f"; and {rest} more" if rest > 0 else "")


def require_str(row: Mapping[str, Any], field: str) -> str:
    """``row[field]`` as a non-blank string, or MalformedRow saying what is wrong."""
    if field not in row:
        raise MalformedRow(f"missing field {field!r}")
    value = row[field]
    if not isinstance(value, str):
        raise MalformedRow(f"field {field!r} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise MalformedRow(f"field {field!r} is empty")
    return value


def check_unique(problem_id: str, line: int, first_line: dict[str, int]) -> None:
    """MalformedRow when ``problem_id`` was already read on an earlier line (``first_line`` records them)."""
    first = first_line.setdefault(problem_id, line)
    if first != line:
        raise MalformedRow(f"duplicate id {problem_id!r} (first on line {first})")


class JsonlFileTask(MathAnswerTask, ABC):
    """Base of tasks whose problems come from one JSON Lines file (the "test" split).

    Subclasses implement ``_row_to_problem(line, row)`` and raise ``MalformedRow`` for rows they cannot
    use. Rows are read once, when the task is made; ``skipped`` lists (line, reason) of every row left out.
    The file is the task's only split: asking for another split is a TaskError (make a second task on
    another file, e.g. GSM8K's train.jsonl, for calibration).
    """

    def __init__(
        self, path: str, *, few_shot: int = 0, system_prompt: str | None = None, solve_with: str = "reasoning"
    ) -> None:
        super().__init__(few_shot=few_shot, system_prompt=system_prompt, solve_with=solve_with)
        if not isinstance(path, str | Path) or not str(path).strip():
            raise ConfigError(f"path must be the path of a .jsonl file, got {path!r}")
        self.path = Path(path).expanduser()
        self.skipped: list[tuple[int, str]] = []
        self._problems: list[Problem] = self._load()

    @abstractmethod
    def _row_to_problem(self, line: int, row: Mapping[str, Any]) -> Problem:
        """The problem in ``row`` (found on ``line``), or MalformedRow."""

    def _load(self) -> list[Problem]:
        """Read the file; record and warn about skipped rows; TaskError when no row is usable."""
        rows, skipped = read_jsonl(self.path)
        problems: list[Problem] = []
        first_line: dict[str, int] = {}
        for line, row in rows:
            try:
                problem = self._row_to_problem(line, row)
                check_unique(problem.id, line, first_line)
                problems.append(problem)
            except (MalformedRow, ConfigError) as exc:
                skipped.append((line, str(exc)))
        self.skipped = sorted(skipped)
        if not problems:
            detail = f": {describe_skipped(self.skipped)}" if self.skipped else " (the file is empty)"
            raise TaskError(f"{self.name}: no usable problems in {str(self.path)!r}{detail}")
        if self.skipped:
            message = (
                f"{self.name}: skipped {len(self.skipped)} malformed row(s) of {str(self.path)!r}: "
                f"{describe_skipped(self.skipped)}"
            )
            warnings.warn(MalformedRowWarning(message), stacklevel=4)
        return problems

    def problems(self, split: str = "test", limit: int | None = None) -> Iterator[Problem]:
        """The file's problems in file order, at most ``limit`` of them; only split "test" exists.

        Bad arguments raise at once, not on first iteration.
        """
        check_limit(limit)
        if split != "test":
            raise TaskError(
                f"{self.name} reads one file ({str(self.path)!r}) as its 'test' split; there is no split "
                f"{split!r}. Make another {self.name} task on a different file for it."
            )
        return iter(self._problems[:limit])

    def __len__(self) -> int:
        """Number of usable problems in the file."""
        return len(self._problems)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self.path)!r}, problems={len(self._problems)})"
