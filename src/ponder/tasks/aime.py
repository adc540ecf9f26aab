"""AIME problems from a user's JSON Lines file ("aime").

Each row has the problem text in ``problem`` (or ``question``) and an integer ``answer`` (0-999, as a
string or a number); an optional ``id`` and ``year`` are kept. The worked ``solution`` is never put on the
problem. Rows without a problem or with an answer that is not an integer are skipped and reported by
line number (see ``files.JsonlFileTask``). No data ships with ponder: pass the path of e.g.
``aime24/test.jsonl``. Grading: math-verify equivalence, as for the math task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ponder.tasks.files import JsonlFileTask, MalformedRow, require_str
from ponder.tasks.jsonl import answer_text
from ponder.types import Problem

__all__ = ["AIMETask"]


def _question(row: Mapping[str, Any]) -> str:
    """The problem text: ``problem`` when present, else ``question``."""
    return require_str(row, "problem" if "problem" in row else "question").strip()


def _answer(row: Mapping[str, Any]) -> str:
    """The integer answer as text (leading zeros dropped); MalformedRow otherwise."""
    if "answer" not in row:
        raise MalformedRow("missing field 'answer'")
    text = answer_text(row["answer"], "answer")
    if not text.lstrip("-").isdigit():
        raise MalformedRow(f"field 'answer' must be an integer, got {row['answer']!r}")
    return str(int(text))


class AIMETask(JsonlFileTask):
    """AIME problems from ``path``; ids are ``aime-<id>`` from the rows' ``id`` or ``aime-<line>``.

    Args:
        path: a ``.jsonl`` (or ``.jsonl.gz``) file with ``problem`` (or ``question``) and ``answer``.
        few_shot, system_prompt, solve_with: as for ``MathAnswerTask``.
    """

    name = "aime"

    def __init__(
        self, path: str, *, few_shot: int = 0, system_prompt: str | None = None, solve_with: str = "reasoning"
    ) -> None:
        super().__init__(path, few_shot=few_shot, system_prompt=system_prompt, solve_with=solve_with)

    def _row_to_problem(self, line: int, row: Mapping[str, Any]) -> Problem:
        """A problem from one AIME row; MalformedRow for a missing problem or a bad answer."""
        question, reference = _question(row), _answer(row)
        raw_id = row.get("id")
        key = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and str(raw_id) else None
        problem_id = f"aime-{key}" if key is not None else f"aime-{line}"
        metadata: dict[str, Any] = {"path": str(self.path), "line": line}
        if isinstance(row.get("year"), int | str):
            metadata["year"] = row["year"]
        return Problem(question=question, id=problem_id, reference=reference, metadata=metadata)
