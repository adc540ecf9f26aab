"""Game of 24 (ponder.tasks.game24): generated puzzles, the rule-based verifier and the step checker."""

from __future__ import annotations

import pytest

from ponder.errors import ConfigError, TaskError
from ponder.tasks.base import Task
from ponder.tasks.game24 import (
    FEW_SHOT_EXAMPLES,
    Game24Task,
    evaluate,
    numbers_of,
    solves_24,
    valid_step,
    valid_steps,
)
from ponder.types import Problem

PUZZLE = Problem(question="Make 24 using 4, 4, 6, 8.", id="x", metadata={"numbers": [4, 4, 6, 8]})


@pytest.fixture(scope="module")
def task() -> Game24Task:
    return Game24Task(seed=0, size=4)


@pytest.fixture(scope="module")
def problems(task: Game24Task) -> list[Problem]:
    return list(task.problems())


def test_problems_are_seeded_distinct_and_graded_by_rules(task: Game24Task, problems: list[Problem]) -> None:
    assert isinstance(task, Task)
    assert [p.id for p in problems[:2]] == ["game24-0-0", "game24-0-1"]
    assert len({tuple(sorted(numbers_of(p))) for p in problems}) == 4
    assert [p.question for p in Game24Task(seed=0, size=4).problems(limit=2)] == [p.question for p in problems[:2]]
    assert next(iter(Game24Task(seed=1).problems())).question != problems[0].question
    for problem in problems:
        assert problem.reference is not None and "24" in problem.question
        assert task.is_correct(problem, problem.reference), problem
        assert task.gym_score(problem, problem.reference) == 1.0


def test_train_split_is_disjoint_from_test(task: Game24Task, problems: list[Problem]) -> None:
    train = list(task.problems("train", limit=2))
    assert len(train) == 2 and train[0].id.startswith("game24-train-0-")
    test_sets = {tuple(sorted(numbers_of(p))) for p in problems}
    assert not test_sets & {tuple(sorted(numbers_of(p))) for p in train}


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ("(6 - 4) * (4 + 8)", True),
        ("(6-4)*(4+8) = 24", True),
        ("$(6 − 4) × (4 + 8)$", True),
        (r"$(6 - 4) \times (4 + 8)$", True),
        (r"\((6-4) \cdot (4+8)\)", True),
        ("4 * (8 + 4 - 6)", True),
        ("(6 - 4) * (4 + 8) + 0", False),  # a number not given
        ("(6 - 4) * 8 + 8", False),  # 8 twice, one 4 missing
        ("(6 + 4) * (4 + 8)", False),  # 120
        ("-(4 - 6) * (4 + 8)", False),  # unary minus is not an operation of the game
        ("(6 - 4) ** 1 * (4 + 8)", False),
        ("__import__('os').system('true')", False),
        ("8 / (4 - 4) + 6", False),  # division by zero
        ("6 * 4 * (8 / 8)", False),
        (None, False),
        ("", False),
    ],
)
def test_verifier(answer: str | None, ok: bool) -> None:
    assert solves_24(answer, [4, 4, 6, 8]) is ok


def test_latex_operators_are_read() -> None:
    value, leaves = evaluate(r"\left(8 \div 4\right) \times 6 \cdot 4") or (None, None)
    assert value == 48 and sorted(leaves or []) == [4, 4, 6, 8]


def test_exact_fractions() -> None:
    assert evaluate("8 / (3 - 8 / 3)") == (24, [8, 3, 8, 3])
    assert solves_24("8 / (3 - 8 / 3)", [3, 3, 8, 8])
    assert not solves_24("8 / 3 * 9", [3, 3, 8, 9])  # 24 exactly, but uses the wrong numbers


def test_cross_check_with_reasoning_gym(task: Game24Task, problems: list[Problem]) -> None:
    problem = problems[0]
    numbers = numbers_of(problem)
    wrong_value = " + ".join(map(str, numbers))
    for answer in (problem.reference, wrong_value, "not an expression", None):
        assert task.is_correct(problem, answer) == (task.gym_score(problem, answer) == 1.0), answer
    # The documented disagreement: reasoning-gym checks how many numbers are used, not which.
    other = "1 * 2 * 3 * 4" if sorted(numbers) != [1, 2, 3, 4] else "(1 + 2 + 3) * 4 * 1 / 1"
    assert task.gym_score(problem, other) == 1.0
    assert not task.is_correct(problem, other)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("4 + 8 = 12 (left: 4 6 12)\nAnswer: (6 - 4) * (4 + 8) = 24", "(6 - 4) * (4 + 8)"),
        ("...\nThe answer is: **(6 - 4) * (4 + 8)**.", "(6 - 4) * (4 + 8)"),
        ("so \\boxed{(6-4)*(4+8)}", "(6-4)*(4+8)"),
        ("4 + 8 = 12 (left: 4 6 12)\n(6 - 4) * (4 + 8) = 24\n", "(6 - 4) * (4 + 8)"),
        ("4 + 8 = 12 (left: 4 6 12)\n6 - 4 = 2 (left: 2 12)", None),
        ("", None),
        ("...\nAnswer: \\boxed{(6-4)*(4+8)}", "(6-4)*(4+8)"),
        ("...\nAnswer: $\\boxed{(6-4) \\times (4+8)}$", "(6-4) * (4+8)"),
        ("...\nThe answer is (6 - 4) * (4 + 8) = 24.", "(6 - 4) * (4 + 8)"),
        ("Answer: 24 = (6 - 4) * (4 + 8)", "(6 - 4) * (4 + 8)"),
        ("The answer is that we add.\n(6-4)*(4+8) = 24", "(6-4)*(4+8)"),
    ],
)
def test_extract_answer(task: Game24Task, completion: str, expected: str | None) -> None:
    assert task.extract_answer(completion) == expected


def test_answer_key_normalises_spelling(task: Game24Task) -> None:
    keys = {task.answer_key(a) for a in ("(6 - 4) * (4 + 8)", "((6-4))*(4+8)", "(6-4)*(4+8) = 24", "(6−4)×(4+8)")}
    assert keys == {"(6-4)*(4+8)"}
    assert task.answer_key("(4 + 8) * (6 - 4)") != task.answer_key("(6 - 4) * (4 + 8)")
    assert task.answer_key("no idea ") == "noidea"


def test_valid_steps_follow_the_numbers_left() -> None:
    good = [
        "4 + 8 = 12 (left: 4 6 12)",
        "6 - 4 = 2 (left: 2 12)",
        "2 * 12 = 24 (left: 24)",
        "Answer: (6 - 4) * (4 + 8)",
    ]
    assert valid_steps(PUZZLE, good) == [1.0, 1.0, 1.0, 1.0]
    assert valid_steps(PUZZLE, ["4 + 8 = 13 (left: 4 6 13)", *good[1:3]]) == [0.0, 0.0, 0.0]  # bad arithmetic
    assert valid_step(PUZZLE, ["9 - 5 = 4"]) == 0.0  # numbers not available
    assert valid_step(PUZZLE, ["4 + 8 = 12", "12 + 12 = 24"]) == 0.0  # 12 used twice
    assert valid_step(PUZZLE, ["4 + 8 = 12 (left: 4 8 12)"]) == 0.0  # wrong numbers left
    assert valid_step(PUZZLE, ["Step 1: 4 * 6 = 24", "24 + 8 - 8 = 24"]) == 0.0  # 8 is there only once
    assert valid_step(PUZZLE, ["8 / 6 = 4/3 (left: 4 4 4/3)"]) == 1.0  # fractions stay exact
    assert valid_step(PUZZLE, ["Answer: (6 + 4) * (4 + 8)"]) == 0.0
    assert valid_step(PUZZLE, ["Let me think about it."]) == 0.0
    assert valid_steps(PUZZLE, ["4 + 8 = 12", "  ", "6 - 4 = 2"]) == [1.0, 1.0, 1.0]
    assert valid_step(PUZZLE, []) == 0.0


def test_few_shot_examples_are_valid_and_in_the_prompt(task: Game24Task, problems: list[Problem]) -> None:
    for numbers, solution in FEW_SHOT_EXAMPLES:
        example = Problem(question=f"Make 24 using {numbers}", metadata={"numbers": list(numbers)})
        assert valid_steps(example, solution.split(task.step_delimiter)) == [1.0] * 4
        assert task.is_correct(example, task.extract_answer(solution))
    messages = task.messages(problems[0])
    assert [m.role for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert len(task.messages(problems[0], few_shot=0)) == 2
    assert task.step_delimiter == "\n" and "Answer:" in messages[0].content


def test_numbers_read_from_a_plain_question() -> None:
    assert numbers_of(Problem(question="Use 4 9 10 13 to make 24")) == [4, 9, 10, 13]
    assert numbers_of(Problem(question="Make 24 using 1, 3, 5 and 9.")) == [1, 3, 5, 9]
    with pytest.raises(TaskError):
        numbers_of(Problem(question="Make 24 with 1 and 2"))


@pytest.mark.parametrize(
    ("options", "match"),
    [({"seed": -1}, "seed"), ({"size": 0}, "size"), ({"max_value": 11}, "max_value"), ({"few_shot": 4}, "few_shot")],
)
def test_bad_options(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Game24Task(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("split", "limit"), [("dev", None), ("test", -1)])
def test_bad_problem_arguments_raise_at_call(split: str, limit: int | None) -> None:
    with pytest.raises(ConfigError):
        Game24Task().problems(split, limit)
