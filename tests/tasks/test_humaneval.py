"""The humaneval task: packaged problems, code extraction, grading by hidden tests in the sandbox."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from ponder.api import get_task
from ponder.code.extract import extract_code
from ponder.errors import ConfigError, TaskError
from ponder.tasks.files import MalformedRowWarning
from ponder.tasks.humaneval import HumanEvalTask, packaged_path


@pytest.fixture(scope="module")
def task() -> HumanEvalTask:
    return get_task("humaneval")  # type: ignore[return-value]


def _canonical(task_id: str) -> str:
    with gzip.open(packaged_path(), "rt") as handle:
        rows = [json.loads(line) for line in handle]
    return next(r["canonical_solution"] for r in rows if r["task_id"] == task_id)


def test_problems_ship_with_the_package(task: HumanEvalTask) -> None:
    problems = list(task.problems())
    assert len(problems) == 164 and problems[0].id == "HumanEval/0"
    first = problems[0]
    assert first.metadata["entry_point"] == "has_close_elements"
    assert "def check(candidate)" in (first.reference or "")
    assert "def check" not in first.question and "check(" not in json.dumps(dict(first.metadata))
    assert first.blind().reference is None
    with pytest.raises(TaskError, match="split"):
        task.problems("train")


def test_messages_ask_for_a_python_block(task: HumanEvalTask) -> None:
    problem = next(task.problems())
    system, user = task.messages(problem)
    assert "```python" in system.content and "def has_close_elements" in user.content
    with pytest.raises(ConfigError, match="few_shot"):
        task.messages(problem, few_shot=2)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("Here:\n```python\ndef f(x):\n    return x\n```\nDone.", "def f(x):\n    return x"),
        ("```\nimport math\n```\n```python\ndef f(x):\n    return 1\n```", "def f(x):\n    return 1"),
        ("    return x + 1\n", "    return x + 1"),
        ("I cannot help with that.", None),
    ],
)
def test_extract_code(completion: str, expected: str | None) -> None:
    assert extract_code(completion) == expected


@pytest.mark.parametrize("task_id", ["HumanEval/0", "HumanEval/32", "HumanEval/162"])
def test_canonical_solutions_pass_and_wrong_ones_fail(task: HumanEvalTask, task_id: str) -> None:
    problem = next(p for p in task.problems() if p.id == task_id)
    body = _canonical(task_id)
    assert task.is_correct(problem, task.extract_answer(body))
    full = problem.question + body  # a complete function, as a chat model writes it
    assert task.is_correct(problem, task.extract_answer(f"```python\n{full}\n```"))
    assert not task.is_correct(problem, "    return None\n")
    assert not task.is_correct(problem, None)
    with pytest.raises(TaskError, match="hidden tests"):
        task.is_correct(problem.blind(), body)


def test_a_users_file_with_malformed_rows(tmp_path: Path) -> None:
    good = {
        "task_id": "T/0",
        "prompt": "def f(x):\n",
        "entry_point": "f",
        "test": "def check(c):\n    assert c(1) == 1",
    }
    path = tmp_path / "he.jsonl"
    bad = json.dumps({**good, "entry_point": "not a name"})
    path.write_text(json.dumps(good) + "\n" + bad + "\n{oops\n" + json.dumps(good) + "\n")
    with pytest.warns(MalformedRowWarning, match="line 2"):
        task = HumanEvalTask(str(path), timeout=5)
    assert len(task) == 1 and [line for line, _ in task.skipped] == [2, 3, 4]
    assert task.skipped[2][1] == "duplicate id 'T/0' (first on line 1)"
    assert "entry_point" in task.skipped[0][1]
    problem = next(task.problems())
    assert task.is_correct(problem, "    return x\n") and not task.is_correct(problem, "    return 0\n")
