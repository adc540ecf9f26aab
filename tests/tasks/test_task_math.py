"""The generic math task (ponder.tasks.math_answer) and the Task contract of every built-in task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ponder.catalog import TASKS
from ponder.errors import ConfigError, TaskError
from ponder.registry import Registry
from ponder.tasks.answers import extract_answer
from ponder.tasks.base import Task
from ponder.tasks.math_answer import DEFAULT_SYSTEM_PROMPT, FEW_SHOT_EXAMPLES, MathAnswerTask
from ponder.types import Problem

PROBLEM = Problem(question="What is 2 + 3?", id="p1", reference="5")


def test_messages_zero_shot() -> None:
    messages = MathAnswerTask().messages(PROBLEM)
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[0].content == DEFAULT_SYSTEM_PROMPT
    assert "\\boxed" in messages[0].content and "blank line" in messages[0].content
    assert messages[1].content == "What is 2 + 3?"


def test_messages_few_shot_turns_and_override() -> None:
    task = MathAnswerTask(few_shot=2)
    messages = task.messages(PROBLEM)
    assert [m.role for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m.role for m in task.messages(PROBLEM, few_shot=0)] == ["system", "user"]
    assert len(task.messages(PROBLEM, few_shot=len(FEW_SHOT_EXAMPLES))) == 2 + 2 * len(FEW_SHOT_EXAMPLES)


@pytest.mark.parametrize(("question", "solution"), FEW_SHOT_EXAMPLES)
def test_few_shot_examples_follow_the_format(question: str, solution: str) -> None:
    steps = solution.split(MathAnswerTask.step_delimiter)
    assert len(steps) >= 2
    assert all(step.strip() and "\n" not in step for step in steps)
    assert "\\boxed{" in steps[-1]
    assert extract_answer(solution) is not None


def test_custom_system_prompt() -> None:
    task = MathAnswerTask(system_prompt="Be brief. Answer in \\boxed{}.")
    assert task.messages(PROBLEM)[0].content == "Be brief. Answer in \\boxed{}."


@pytest.mark.parametrize("options", [{"few_shot": -1}, {"few_shot": 99}, {"few_shot": True}, {"few_shot": "2"}])
def test_bad_few_shot(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=repr(options["few_shot"]).replace("'", ".")):
        MathAnswerTask(**options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        MathAnswerTask().messages(PROBLEM, few_shot=options["few_shot"])  # type: ignore[arg-type]


@pytest.mark.parametrize("prompt", ["", "   ", 3])
def test_bad_system_prompt(prompt: object) -> None:
    with pytest.raises(ConfigError, match="system_prompt"):
        MathAnswerTask(system_prompt=prompt)  # type: ignore[arg-type]


def test_no_builtin_problems() -> None:
    with pytest.raises(TaskError, match="gsm_symbolic, gsm8k or jsonl"):
        MathAnswerTask().problems()


def test_grading() -> None:
    task = MathAnswerTask()
    answer = task.extract_answer("2 + 3 = 5.\n\nThe final answer is \\boxed{5}.")
    assert answer == "5"
    assert task.is_correct(PROBLEM, answer)
    assert not task.is_correct(PROBLEM, "6")
    assert not task.is_correct(PROBLEM, None)
    assert task.answer_key("5.0") == task.answer_key("5")
    with pytest.raises(TaskError, match="no reference"):
        task.is_correct(PROBLEM.blind(), "5")


@pytest.fixture
def tiny_jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text(json.dumps({"question": "What is 1 + 1?", "answer": "Add them.\n#### 2"}) + "\n")
    return path


MATH_TASKS = ["math", "gsm_symbolic", "gsm8k", "jsonl"]


@pytest.mark.parametrize("name", MATH_TASKS)
def test_math_tasks_meet_the_contract(name: str, tiny_jsonl: Path) -> None:
    """Contract over the catalog's math tasks: made from keyword options, honouring the Task protocol."""
    factory = Registry("task", dict(TASKS)).get(name)
    options = {"path": str(tiny_jsonl)} if name in {"gsm8k", "jsonl"} else {}
    task = factory(**options)
    assert isinstance(task, Task)
    assert task.name == name
    assert task.step_delimiter == "\n\n"
    if name == "math":
        return
    problems = list(task.problems(limit=1))
    assert len(problems) == 1
    problem = problems[0]
    assert problem.id and problem.reference is not None
    assert task.messages(problem)[-1].content == problem.question
    assert task.is_correct(problem, task.extract_answer(f"So it is \\boxed{{{problem.reference}}}."))
    assert not task.is_correct(problem, None)
    assert "reference" not in str(problem.blind().metadata)
