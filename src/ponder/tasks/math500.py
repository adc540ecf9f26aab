"""MATH-500 from a user's JSON Lines file ("math500").

Each row has ``problem`` and ``answer`` (the final answer, LaTeX), and usually ``level`` (1-5), ``subject``
and ``unique_id``; the worked ``solution`` is never put on the problem (strategies see its metadata).
``level`` and ``subject`` go into ``Problem.metadata`` (``level`` is what evaluation groups accuracy by),
and ``levels`` keeps only some levels. Rows without a problem or answer, or with a level outside 1-5, are
skipped and reported by line number (see ``files.JsonlFileTask``). No data ships with ponder: pass the
path of e.g. ``math500/test.jsonl``. Grading: math-verify equivalence, as for the math task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ponder.errors import ConfigError, TaskError
from ponder.tasks.files import JsonlFileTask, MalformedRow, require_str
from ponder.tasks.jsonl import answer_text
from ponder.types import Problem

__all__ = ["LEVELS", "Math500Task"]

LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)
"""MATH difficulty levels, easiest first."""


def _level(row: Mapping[str, Any]) -> int | None:
    """The row's level as an integer 1-5 ("Level 3" and 3 both work), None when absent; MalformedRow if bad."""
    value = row.get("level")
    if value is None:
        return None
    text = str(value).strip().removeprefix("Level").strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) not in LEVELS:
        raise MalformedRow(f"field 'level' must be 1-5, got {value!r}")
    return int(text)


class Math500Task(JsonlFileTask):
    """MATH-500 competition problems from ``path``; ids are the rows' ``unique_id`` or ``math500-<line>``.

    Args:
        path: a ``.jsonl`` (or ``.jsonl.gz``) file with ``problem`` and ``answer`` fields.
        levels: keep only these levels (e.g. ``(4, 5)``); None keeps every row, with or without a level.
        few_shot, system_prompt, solve_with: as for ``MathAnswerTask``.
    """

    name = "math500"

    def __init__(
        self,
        path: str,
        *,
        levels: Sequence[int] | None = None,
        few_shot: int = 0,
        system_prompt: str | None = None,
        solve_with: str = "reasoning",
    ) -> None:
        if levels is not None and (isinstance(levels, str | int) or not set(levels) <= set(LEVELS) or not levels):
            raise ConfigError(f"levels must be a non-empty list of levels 1-5 or None, got {levels!r}")
        self.levels = None if levels is None else tuple(sorted(set(levels)))
        super().__init__(path, few_shot=few_shot, system_prompt=system_prompt, solve_with=solve_with)
        if self.levels is not None:
            self._problems = [p for p in self._problems if p.metadata.get("level") in self.levels]
            if not self._problems:
                raise TaskError(f"math500: no problem of level(s) {list(self.levels)} in {str(self.path)!r}")

    def _row_to_problem(self, line: int, row: Mapping[str, Any]) -> Problem:
        """A problem from one MATH-500 row; MalformedRow for a missing problem or answer or a bad level."""
        question = require_str(row, "problem").strip()
        if "answer" not in row:
            raise MalformedRow("missing field 'answer'")
        reference = answer_text(row["answer"], "answer")
        metadata: dict[str, Any] = {"path": str(self.path), "line": line, "level": _level(row)}
        if isinstance(row.get("subject"), str):
            metadata["subject"] = row["subject"]
        unique_id = row.get("unique_id")
        problem_id = unique_id if isinstance(unique_id, str) and unique_id else f"math500-{line}"
        return Problem(question=question, id=problem_id, reference=reference, metadata=metadata)
