"""Program-aided answers: code found, run in the sandbox, its value turned into an answer; math tasks' option."""

from __future__ import annotations

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.code.sandbox import Limits
from ponder.errors import ConfigError
from ponder.tasks.gsm_symbolic import GSMSymbolicTask
from ponder.tasks.math_answer import DEFAULT_SYSTEM_PROMPT, FEW_SHOT_EXAMPLES, MathAnswerTask
from ponder.tasks.program_answer import PROGRAM_EXAMPLES, PROGRAM_SYSTEM_PROMPT, ProgramAnswers, value_to_answer
from ponder.types import Problem


def fenced(body: str) -> str:
    return f"Here is the code:\n```python\n{body}\n```\nDone."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", "12"),
        ("-3", "-3"),
        ("12.0", "12"),
        ("0.30000000000000004", "0.3"),
        ("2.5", "2.5"),
        ("Fraction(3, 4)", "3/4"),
        ("Fraction(6, 1)", "6"),
        ("Decimal('2.50')", "2.5"),
        ("np.float64(2.5)", "2.5"),
        ("np.int64(7)", "7"),
        ("'$25 in total'", "25"),
        ("'10.0'", "10"),
        ("'1.5e16'", "15000000000000000"),
        ("'1e-05'", "1e-05"),
        ("Decimal('1E+1')", "10"),
        ("3/4", "3/4"),
        ("'3/4'", "3/4"),
        ("'True'", None),
        ("'None'", None),
        ("'[1, 2]'", None),
        ("'no solution'", None),
        ("'1,000'", "1000"),
        ("True", None),
        ("None", None),
        ("inf", None),
        ("nan", None),
        ("[1, 2]", None),
        ("<object at 0x7f>", None),
        ("''", None),
        (None, None),
    ],
)
def test_value_to_answer(value: str | None, expected: str | None) -> None:
    assert value_to_answer(value) == expected


@pytest.fixture(scope="module")
def programs() -> ProgramAnswers:
    return ProgramAnswers(Limits(timeout=2.0, cpu_seconds=2))


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (fenced("def solution():\n    apples = 3 * 12\n\n    return apples - 9"), "27"),
        (fenced("def solution():\n    return 48 / 2 / 4"), "6"),
        (fenced("total = 5 * 15 + 2 * 25\nprint(total)"), "125"),  # no solution(): the last printed line
        (fenced("def solution():\n    print('the answer is', 7.5)\n\nsolution()"), "7.5"),  # returns None
        (fenced("def solution():\n    return undefined_name + 1"), None),  # an error abstains
        (fenced("def solution():\n    return 1 / 0"), None),
        (fenced("def solution():\n    while True:\n        pass"), None),  # a timeout abstains
        (fenced("import os\ndef solution():\n    return os.system('true')"), None),  # the sandbox refuses
        (fenced("pencils = 3 * 12\nleft = pencils - 9"), "27"),  # nothing printed: the last assignment
        (fenced("left = 40\nleft -= 13"), "27"),
        (fenced("def solution():\n    total = 3 * 12\n    left = total - 9\n    # done"), "27"),  # no return
        (fenced("def solution():\n    if False:\n        return 1\n    left: int = 27 + 0"), "27"),
        (fenced("def solution():\n\ttotal = 3 * 12\n\tleft = total - 9"), "27"),  # tab indentation
        (fenced("def solution():\n    left = 36 - 9\n    print(left)\n    unit = 'pencils'"), "27"),  # printed first
        (fenced("eggs = 16 - 3 - 4\nincome = eggs * 2\nprint(income)\neggs = 0"), "18"),
        (fenced("total = 0\nfor i in range(4):\n    total += i\ni = 0"), None),  # a constant is not a result
        (fenced("def remaining(total, given):\n    return total - given\n\npencils = 3 * 12\ngiven = 9 * 1"), None),
        (fenced("def solution():\n    return " + "+".join(["1"] * 400)), "400"),  # deep: no AST round trip
        (fenced("def solution(): x = 6 * 7"), None),  # a one-line body gets no fallback line
        (fenced("x = 3\ndef solution():\n    print()"), None),  # solution() exists: no fallback to x
        (fenced("x = 3\nprint('no number')"), None),  # a printed line wins over the assignment
        (fenced("import math\nmath.sqrt(4)"), None),  # no value at all
        (fenced("def solution(:\n    x = 1"), None),  # a syntax error abstains
        (fenced("total = 3 * 12\nreturn total - 9"), "27"),  # a body without its def
        (fenced("x = 1\nreturn x +"), None),
        ("The answer is \\boxed{12}.", None),  # no code: a reasoning answer does not count
    ],
)
def test_program_answers_run_the_code(programs: ProgramAnswers, completion: str, expected: str | None) -> None:
    assert programs.answer(completion) == expected


def test_program_answers_run_each_completion_once() -> None:
    programs = ProgramAnswers()
    runs = []
    real = programs.sandbox.run
    programs.sandbox.run = lambda code, tests: runs.append(code) or real(code, tests)  # type: ignore[method-assign]
    text = fenced("def solution():\n    return 6 * 7")
    assert [programs.answer(text) for _ in range(3)] == ["42", "42", "42"]
    assert programs.answer(fenced("def solution():\n    return 1")) == "1"
    assert len(runs) == 2


def test_math_task_program_mode_prompts_for_code_and_extracts_by_running_it() -> None:
    task = MathAnswerTask(solve_with="program", few_shot=2)
    messages = task.messages(Problem("Ann has 2 bags of 5 apples. How many apples?"))
    assert messages[0].content == PROGRAM_SYSTEM_PROMPT
    assert [m.content for m in messages[1:5]] == [
        FEW_SHOT_EXAMPLES[0][0], PROGRAM_EXAMPLES[0], FEW_SHOT_EXAMPLES[1][0], PROGRAM_EXAMPLES[1]
    ]  # fmt: skip
    assert task.extract_answer(fenced("def solution():\n    return 2 * 5")) == "10"
    assert task.extract_answer("2 bags of 5 is \\boxed{10}") is None
    assert "solve_with='program'" in repr(task)


def test_program_examples_compute_the_worked_examples_answers(programs: ProgramAnswers) -> None:
    task = MathAnswerTask()
    for (_, solution), program in zip(FEW_SHOT_EXAMPLES, PROGRAM_EXAMPLES, strict=True):
        assert programs.answer(program) == task.extract_answer(solution)


def test_reasoning_stays_the_default_and_bad_modes_are_refused() -> None:
    task = MathAnswerTask()
    assert task.solve_with == "reasoning" and task.messages(Problem("q"))[0].content == DEFAULT_SYSTEM_PROMPT
    assert task.extract_answer(fenced("def solution():\n    return 3")) == "3"  # last number, nothing run
    with pytest.raises(ConfigError, match="solve_with must be one of reasoning, program, got 'code'"):
        MathAnswerTask(solve_with="code")
    custom = MathAnswerTask(solve_with="program", system_prompt="Write solution().")
    assert custom.messages(Problem("q"))[0].content == "Write solution()."


def test_dataset_tasks_pass_the_mode_on() -> None:
    task = GSMSymbolicTask(size=4, solve_with="program")
    problem = next(task.problems("test", 1))
    assert task.messages(problem)[0].content == PROGRAM_SYSTEM_PROMPT


def test_self_consistency_votes_over_program_results() -> None:
    from ponder.api import make_context
    from ponder.catalog import make_registries
    from ponder.types import SamplingParams

    replies = [
        fenced("def solution():\n    return 4 * 2.5"),  # 10
        fenced("def solution():\n    return 3 + 3"),  # 6
        fenced("def solution():\n    return oops"),  # abstains
        fenced("print(20 / 2)"),  # 10.0 -> 10, the same vote as the first
    ]
    task = MathAnswerTask(solve_with="program")
    ctx = make_context(FakeBackend(replies), task, make_registries(), params=SamplingParams(seed=0, max_tokens=64))
    [r] = run_chunks(get_strategy("self_consistency", n=4), [Problem("q", id="p")], ctx, 1)
    assert r.answer == "10"
    assert [c.answer for c in r.candidates] == ["10", "6", None, "10"]
    vote = next(e for e in r.trace if e.kind == "vote")
    assert vote.data["abstained"] == 1
