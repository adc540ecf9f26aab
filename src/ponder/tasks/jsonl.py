"""Any JSON Lines file of question/answer rows ("jsonl"), with configurable field names.

Covers MATH-500 (``question_field="problem"``), AMC/AIME files, SVAMP (``question_template="{Body}
{Question}"``, ``answer_field="Answer"``) and users' own files. Answers may be strings or numbers (an
integral float such as 27.0 becomes "27"). Malformed rows are skipped and reported by line number (see
``files.JsonlFileTask``). Grading is the math task's: math-verify equivalence.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from typing import Any

from ponder.errors import ConfigError
from ponder.tasks.files import JsonlFileTask, MalformedRow, require_str
from ponder.types import Problem

__all__ = ["JsonlTask", "answer_text"]


def answer_text(value: Any, field: str) -> str:
    """A reference answer as text: strings stripped, integral numbers without ".0"; MalformedRow otherwise."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    shown = repr(value) if isinstance(value, str) else type(value).__name__
    raise MalformedRow(f"field {field!r} must be a non-empty string or a finite number, got {shown}")


def _check_field(value: object, option: str) -> str:
    """A non-empty field name, or ConfigError showing the bad value."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{option} must be a non-empty field name, got {value!r}")
    return value


def _template_fields(template: str) -> list[str]:
    """The field names used by a ``str.format`` template; ConfigError for positional or broken ones."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"question_template {template!r} is not a valid format string: {exc}") from exc
    if not names or any(not name or name.isdigit() or "." in name or "[" in name for name in names):
        raise ConfigError(f"question_template must use named fields such as '{{Body}} {{Question}}', got {template!r}")
    return names


class JsonlTask(JsonlFileTask):
    """Question/answer rows from a JSON Lines file, graded with math-verify.

    Args:
        path: a ``.jsonl`` (or ``.jsonl.gz``) file, one JSON object per line.
        question_field: the field holding the question text.
        answer_field: the field holding the reference answer (string or number).
        id_field: a field holding a unique id (string or integer); None numbers rows
            ``<id_prefix>-<line>``. Rows with a missing or repeated id are skipped and reported.
        question_template: builds the question from several fields instead (``"{Body} {Question}"``);
            overrides ``question_field``.
        metadata_fields: row fields copied into ``Problem.metadata`` (e.g. ``("level", "subject")``);
            never the answer or a worked solution, since strategies see the metadata.
        id_prefix: prefix of line-numbered ids; defaults to the file name without extensions.
        few_shot, system_prompt, solve_with: as for ``MathAnswerTask``.
    """

    name = "jsonl"

    def __init__(
        self,
        path: str,
        question_field: str = "question",
        answer_field: str = "answer",
        id_field: str | None = None,
        *,
        question_template: str | None = None,
        metadata_fields: Sequence[str] = (),
        id_prefix: str | None = None,
        few_shot: int = 0,
        system_prompt: str | None = None,
        solve_with: str = "reasoning",
    ) -> None:
        self.question_field = _check_field(question_field, "question_field")
        self.answer_field = _check_field(answer_field, "answer_field")
        self.id_field = None if id_field is None else _check_field(id_field, "id_field")
        if question_template is not None and not isinstance(question_template, str):
            raise ConfigError(f"question_template must be a string or None, got {question_template!r}")
        self.question_template = question_template
        self._template_fields = _template_fields(question_template) if question_template is not None else []
        if isinstance(metadata_fields, str) or not all(isinstance(f, str) and f for f in metadata_fields):
            raise ConfigError(f"metadata_fields must be a sequence of field names, got {metadata_fields!r}")
        if self.answer_field in metadata_fields:
            raise ConfigError(f"metadata_fields must not include the answer field {self.answer_field!r}")
        self.metadata_fields = tuple(metadata_fields)
        if id_prefix is not None and (not isinstance(id_prefix, str) or not id_prefix):
            raise ConfigError(f"id_prefix must be a non-empty string or None, got {id_prefix!r}")
        self.id_prefix = id_prefix
        super().__init__(path, few_shot=few_shot, system_prompt=system_prompt, solve_with=solve_with)

    def _row_to_problem(self, line: int, row: Mapping[str, Any]) -> Problem:
        """A problem from one row; MalformedRow for a missing or bad question, answer or id."""
        if self.answer_field not in row:
            raise MalformedRow(f"missing field {self.answer_field!r}")
        reference = answer_text(row[self.answer_field], self.answer_field)
        metadata: dict[str, Any] = {"path": str(self.path), "line": line}
        metadata.update({f: row[f] for f in self.metadata_fields if f in row})
        return Problem(
            question=self._question(row),
            id=self._problem_id(line, row),
            reference=reference,
            metadata=metadata,
        )

    def _question(self, row: Mapping[str, Any]) -> str:
        """The question text of ``row``, from the template or the question field."""
        if self.question_template is None:
            return require_str(row, self.question_field).strip()
        missing = [name for name in self._template_fields if name not in row]
        if missing:
            raise MalformedRow(f"missing field(s) {', '.join(map(repr, missing))} used by question_template")
        odd = {
            n: row[n]
            for n in self._template_fields
            if isinstance(row[n], bool) or not isinstance(row[n], str | int | float)
        }
        if odd:
            raise MalformedRow(f"question_template fields must be text or numbers, got {odd!r}")
        question = self.question_template.format_map(row).strip()
        if not question:
            raise MalformedRow("question_template gives an empty question")
        return question

    def _problem_id(self, line: int, row: Mapping[str, Any]) -> str:
        """The id field's value (unique in the file), or ``<id_prefix>-<line>``."""
        if self.id_field is None:
            prefix = self.id_prefix or self.path.name.split(".")[0]
            return f"{prefix}-{line}"
        value = row.get(self.id_field)
        if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
            raise MalformedRow(f"field {self.id_field!r} must be a non-empty string or integer, got {value!r}")
        return str(value)  # unique: JsonlFileTask skips a repeated id
