"""File-backed tasks (gsm8k, jsonl) and the shared JSON Lines reader (ponder.tasks.files)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from ponder.errors import ConfigError, TaskError
from ponder.tasks.files import MalformedRowWarning, read_jsonl
from ponder.tasks.gsm8k import GSM8KTask
from ponder.tasks.jsonl import JsonlTask

DATA = Path(os.environ.get("PONDER_TEST_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))


def shared(relative: str) -> Path:
    """A file of the shared benchmark data; the test is skipped when it is not on this machine."""
    path = DATA / relative
    if not path.is_file():
        pytest.skip(f"shared benchmark file {path} is absent (set PONDER_TEST_DATA to its folder)")
    return path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def row(**fields: object) -> str:
    return json.dumps(fields)


# --- the shared reader --------------------------------------------------------------------------


def test_read_jsonl_reports_bad_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "x.jsonl", [row(a=1), "", "{not json", "[1, 2]", row(a=2)])
    path.write_bytes(path.read_bytes() + b'{"a": "\xff"}\n')
    rows, skipped = read_jsonl(path)
    assert [line for line, _ in rows] == [1, 5]
    assert [line for line, _ in skipped] == [3, 4, 6]
    assert "invalid JSON" in skipped[0][1]
    assert "JSON object" in skipped[1][1]
    assert "UTF-8" in skipped[2][1]


def test_read_jsonl_byte_order_mark_is_not_data(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (row(a=1) + "\n" + row(a=2) + "\n").encode())
    rows, skipped = read_jsonl(path)
    assert [r for _, r in rows] == [{"a": 1}, {"a": 2}] and not skipped


def test_read_jsonl_gzip(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress((row(a=1) + "\n" + row(a=2) + "\n").encode()))
    rows, skipped = read_jsonl(path)
    assert [r for _, r in rows] == [{"a": 1}, {"a": 2}] and not skipped


@pytest.mark.parametrize("factory", [GSM8KTask, JsonlTask])
def test_missing_file_names_the_path(tmp_path: Path, factory: type) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(TaskError, match=r"nope\.jsonl"):
        factory(str(missing))
    with pytest.raises(TaskError, match="directory"):
        factory(str(tmp_path))


@pytest.mark.parametrize("path", ["", None, 3])
def test_bad_path_option(path: object) -> None:
    with pytest.raises(ConfigError, match="path"):
        GSM8KTask(path)  # type: ignore[arg-type]


# --- gsm8k --------------------------------------------------------------------------------------


def test_gsm8k_malformed_rows_are_reported_and_skipped(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "gsm.jsonl",
        [
            row(question="Q1?", answer="1 + 1 = 2\n#### 2"),
            "{oops",
            row(question="Q3?"),
            row(question="Q4?", answer="no final line"),
            row(question="", answer="#### 5"),
            row(question="Q6?", answer="so\n#### 1,000"),
            row(question="Q7?", answer="#### "),
        ],
    )
    with pytest.warns(MalformedRowWarning, match=r"skipped 5 malformed row\(s\).*line 2: invalid JSON"):
        task = GSM8KTask(str(path))
    assert [line for line, _ in task.skipped] == [2, 3, 4, 5, 7]
    reasons = dict(task.skipped)
    assert "missing field 'answer'" in reasons[3]
    assert "####" in reasons[4]
    assert "empty" in reasons[5]
    problems = list(task.problems())
    assert [(p.id, p.reference) for p in problems] == [("gsm8k-gsm-1", "2"), ("gsm8k-gsm-6", "1000")]
    assert problems[1].metadata == {"path": str(path), "line": 6}


def test_gsm8k_all_rows_bad_is_an_error(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [row(problem="Q?", solution="#### 1")])
    with pytest.raises(TaskError, match=r"no usable problems.*line 1: missing field 'question'"):
        GSM8KTask(str(path))
    empty = write_lines(tmp_path / "empty.jsonl", [""])
    with pytest.raises(TaskError, match="empty"):
        GSM8KTask(str(empty))


def test_gsm8k_only_has_a_test_split(tmp_path: Path) -> None:
    task = GSM8KTask(str(write_lines(tmp_path / "g.jsonl", [row(question="Q?", answer="#### 1")])))
    with pytest.raises(TaskError, match="calibration"):
        task.problems("calibration")
    with pytest.raises(ConfigError, match="limit"):
        task.problems(limit=-2)


def test_gsm8k_real_file() -> None:
    task = GSM8KTask(str(shared("gsm8k/test.jsonl")))
    assert len(task) == 1319 and task.skipped == []
    problems = list(task.problems(limit=25))
    assert len(problems) == 25
    assert problems[0].reference == "18" and problems[0].id == "gsm8k-test-1"
    for problem in problems:
        assert problem.reference is not None and "####" not in problem.question
        assert task.is_correct(problem, problem.reference)
        assert task.is_correct(problem, task.extract_answer(f"The answer is ${problem.reference}."))
        assert not task.is_correct(problem, str(int(problem.reference) + 1))


# --- jsonl --------------------------------------------------------------------------------------


def test_jsonl_numbers_strings_ids_and_malformed_rows(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "mine.jsonl",
        [
            row(id="a", q="Half of 1?", ans=0.5),
            row(id="b", q="Two?", ans=2.0),
            row(id="a", q="Duplicate id?", ans=1),
            row(id="d", q="List answer?", ans=[1]),
            row(id="e", q="Bool answer?", ans=True),
            row(q="No id?", ans="3"),
            row(id=7, q="Int id, latex answer?", ans="\\frac{1}{3}"),
        ],
    )
    with pytest.warns(MalformedRowWarning):
        task = JsonlTask(str(path), question_field="q", answer_field="ans", id_field="id")
    assert [(p.id, p.reference) for p in task.problems()] == [("a", "0.5"), ("b", "2"), ("7", "\\frac{1}{3}")]
    assert [line for line, _ in task.skipped] == [3, 4, 5, 6]
    assert "duplicate id 'a' (first on line 1)" in dict(task.skipped)[3]
    first, _, third = task.problems()
    assert task.is_correct(first, "1/2") and not task.is_correct(first, "2")
    assert task.is_correct(third, "1/3") and not task.is_correct(third, "0.33")
    assert [p.id for p in task.problems(limit=2)] == ["a", "b"]


def test_jsonl_default_ids_template_and_metadata(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "sv.jsonl",
        [
            row(Body="Tom has 3 apples.", Question="How many?", Answer=3.0, Type="x"),
            row(Body="B", Answer=1),
            row(Body=None, Question="How many apples?", Answer=3),
        ],
    )
    with pytest.warns(MalformedRowWarning, match="'Question' used by question_template") as caught:
        task = JsonlTask(
            str(path), answer_field="Answer", question_template="{Body} {Question}", metadata_fields=["Type"]
        )
    (problem,) = task.problems()
    assert "line 3: question_template fields must be text or numbers, got {'Body': None}" in str(caught[0].message)
    assert problem.question == "Tom has 3 apples. How many?"
    assert problem.id == "sv-1" and problem.reference == "3"
    assert problem.metadata["Type"] == "x"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"question_field": ""}, "question_field"),
        ({"answer_field": 3}, "answer_field"),
        ({"id_field": ""}, "id_field"),
        ({"question_template": "{0} {}"}, "named fields"),
        ({"question_template": "{Body"}, "question_template"),
        ({"metadata_fields": "level"}, "metadata_fields"),
        ({"metadata_fields": ["answer"]}, "answer field"),
        ({"id_prefix": ""}, "id_prefix"),
    ],
)
def test_jsonl_bad_options(tmp_path: Path, options: dict[str, object], match: str) -> None:
    path = write_lines(tmp_path / "ok.jsonl", [row(question="Q?", answer="1")])
    with pytest.raises(ConfigError, match=match):
        JsonlTask(str(path), **options)  # type: ignore[arg-type]


def test_jsonl_math500() -> None:
    task = JsonlTask(str(shared("math500/test.jsonl")), question_field="problem", metadata_fields=["level", "subject"])
    assert len(task) == 500 and task.skipped == []
    problems = list(task.problems(limit=40))
    assert len(problems) == 40 and problems[0].id == "test-1"
    assert "solution" not in problems[0].metadata and "level" in problems[0].metadata
    for problem in problems:
        assert problem.reference is not None
        assert task.is_correct(problem, problem.reference), problem.reference
        assert task.is_correct(problem, task.extract_answer(f"so \\boxed{{{problem.reference}}}")), problem.reference


def test_jsonl_svamp() -> None:
    path = shared("svamp/test.jsonl")
    task = JsonlTask(str(path), answer_field="Answer", id_field="ID", question_template="{Body} {Question}")
    problems = list(task.problems(limit=30))
    assert len(problems) == 30 and problems[0].id == "chal-777"
    for problem in problems:
        assert problem.reference is not None
        assert task.is_correct(problem, problem.reference)
        assert not task.is_correct(problem, str(float(problem.reference) + 1))
