"""The math500 and aime readers, on small files made here and on the real files in shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ponder.api import get_task
from ponder.errors import ConfigError
from ponder.tasks.aime import AIMETask
from ponder.tasks.files import MalformedRowWarning
from ponder.tasks.math500 import Math500Task

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _write(path: Path, rows: list[object]) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


def _real(name: str) -> str:
    path = DATA / name / "test.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared benchmark data is not on this machine)")
    return str(path)


def test_math500_reads_levels_and_reports_malformed_rows(tmp_path: Path) -> None:
    rows = [
        {"problem": "1+1?", "answer": "2", "level": 1, "subject": "Algebra", "solution": "SECRET", "unique_id": "a/1"},
        {"problem": "2+2?", "answer": 4, "level": "Level 5"},
        {"problem": "no answer", "level": 2},
        {"problem": "bad level", "answer": "1", "level": 9},
        "not json",
        {"problem": "3+3?", "answer": "6", "level": 1, "unique_id": "a/1"},
    ]
    with pytest.warns(MalformedRowWarning, match="line 3: missing field 'answer'"):
        task = Math500Task(_write(tmp_path / "m.jsonl", rows))
    problems = list(task.problems())
    assert [(p.id, p.reference, p.metadata["level"]) for p in problems] == [("a/1", "2", 1), ("math500-2", "4", 5)]
    assert problems[0].metadata["subject"] == "Algebra" and "SECRET" not in repr(problems[0])
    assert [line for line, _ in task.skipped] == [3, 4, 5, 6] and "got 9" in task.skipped[1][1]
    assert task.skipped[3][1] == "duplicate id 'a/1' (first on line 1)"
    with pytest.warns(MalformedRowWarning):
        hard = Math500Task(str(tmp_path / "m.jsonl"), levels=[5])
    assert [p.id for p in hard.problems()] == ["math500-2"]
    with pytest.raises(ConfigError, match="levels"):
        Math500Task(str(tmp_path / "m.jsonl"), levels=[6])


def test_aime_reads_problem_or_question_and_integer_answers(tmp_path: Path) -> None:
    rows = [
        {"id": 60, "problem": "P1", "answer": "204", "solution": "SECRET"},
        {"question": "P2", "answer": 7},
        {"problem": "P3", "answer": "x + 1"},
        {"id": 60, "problem": "P4", "answer": "1"},
    ]
    with pytest.warns(MalformedRowWarning, match="line 3"):
        task = AIMETask(_write(tmp_path / "a.jsonl", rows))
    assert [(p.id, p.question, p.reference) for p in task.problems()] == [
        ("aime-60", "P1", "204"),
        ("aime-2", "P2", "7"),
    ]
    assert "duplicate id" in task.skipped[1][1] and task.skipped[1][0] == 4
    assert task.is_correct(next(task.problems()), "204")


def test_real_math500_file() -> None:
    task = get_task("math500", path=_real("math500"))
    levels = [p.metadata["level"] for p in task.problems()]
    assert len(levels) == 500 and [levels.count(k) for k in range(1, 6)] == [43, 90, 105, 128, 134]
    assert not task.skipped  # type: ignore[attr-defined]


def test_real_aime_file() -> None:
    task = get_task("aime", path=_real("aime24"))
    problems = list(task.problems())
    assert len(problems) == 30 and all(p.reference is not None and p.reference.isdigit() for p in problems)
