"""GSM8K from a user's JSON Lines file ("gsm8k").

Each row has ``question`` and ``answer``, where ``answer`` is a worked solution ending in ``#### N``; the
reference is N with thousands commas removed. The worked solution itself is never put on the problem (it
would leak the answer to strategies). Rows without these are skipped and reported by line number (see
``files.JsonlFileTask``). No data ships with ponder: pass the path of e.g. GSM8K's ``test.jsonl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ponder.tasks.files import JsonlFileTask, MalformedRow, require_str
from ponder.types import Problem

__all__ = ["GSM8KTask", "gsm8k_reference"]


def gsm8k_reference(solution: str) -> str:
    """The final answer after the last ``####`` of a GSM8K solution, commas removed; MalformedRow if none.

    >>> gsm8k_reference("3 + 4 = <<3+4=7>>7 apples\\n#### 1,007")
    '1007'
    """
    _, hashes, tail = solution.rpartition("####")
    if not hashes:
        raise MalformedRow("answer has no '#### <number>' final line")
    reference = tail.strip().replace(",", "").removeprefix("$").strip()
    if not reference:
        raise MalformedRow("nothing after '####' in answer")
    return reference


class GSM8KTask(JsonlFileTask):
    """GSM8K-format grade-school math problems from ``path``; ids are ``gsm8k-<file stem>-<line>``.

    Args:
        path: a ``.jsonl`` (or ``.jsonl.gz``) file with ``question`` and ``answer`` fields.
        few_shot, system_prompt, solve_with: as for ``MathAnswerTask``.
    """

    name = "gsm8k"

    def __init__(
        self, path: str, *, few_shot: int = 0, system_prompt: str | None = None, solve_with: str = "reasoning"
    ) -> None:
        super().__init__(path, few_shot=few_shot, system_prompt=system_prompt, solve_with=solve_with)

    def _row_to_problem(self, line: int, row: Mapping[str, Any]) -> Problem:
        """A problem from one GSM8K row; MalformedRow when a field is missing or has no ``####``."""
        question = require_str(row, "question")
        reference = gsm8k_reference(require_str(row, "answer"))
        stem = self.path.name.split(".")[0]
        return Problem(
            question=question.strip(),
            id=f"gsm8k-{stem}-{line}",
            reference=reference,
            metadata={"path": str(self.path), "line": line},
        )
