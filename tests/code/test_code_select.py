"""Public examples, the public_tests scorer and the code_select strategy, on HumanEval-style prompts."""

from __future__ import annotations

import pytest

from ponder.api import get_strategy, make_context, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.catalog import make_registries
from ponder.code import sandbox as sandbox_module
from ponder.code.examples import build_program, code_key, probe_inputs, public_examples
from ponder.scorers.code import PublicTestsScorer
from ponder.tasks.humaneval import HumanEvalTask
from ponder.types import Candidate, Problem, SamplingParams

PROMPT = '''def add_one(xs: list) -> list:
    """Add one to every element.
    >>> add_one([1, 2])
    [2, 3]
    add_one([]) == []
    add_one([5]) ➞ [6]  (a single element)
    """
'''
HIDDEN = "def check(candidate):\n    assert candidate([10]) == [11]\n\ncheck(add_one)\n"
RIGHT = "```python\ndef add_one(xs):\n    return [x + 1 for x in xs]\n```"
RIGHT_TOO = (
    "```python\ndef add_one(xs: list) -> list:\n    out = []\n    for x in xs:\n        out.append(x + 1)\n"
    "    return out\n```"
)
WRONG = "```python\ndef add_one(xs):\n    return [x + 2 for x in xs]\n```"
OVERFIT = "```python\ndef add_one(xs):\n    return {(1, 2): [2, 3], (): [], (5,): [6]}.get(tuple(xs), [0])\n```"


def test_public_examples_reads_doctests_and_example_lines() -> None:
    examples = public_examples(PROMPT, "add_one")
    assert [(e.call, e.expected) for e in examples] == [
        ("add_one([1, 2])", "[2, 3]"),
        ("add_one([])", "[]"),
        ("add_one([5])", "[6]"),
    ]
    assert examples[0].args == ([1, 2],)


def test_formulas_and_prose_are_not_examples() -> None:
    prompt = 'def f(s):\n    """\n    f("a b") -> 19 - 5 - 6 = 8\n    f(abc) => True\n    f(2) == 3 # three\n    """\n'
    assert [(e.call, e.expected) for e in public_examples(prompt, "f")] == [("f(2)", "3")]


def test_example_forms_of_humaneval_prompts() -> None:
    prompt = (
        'def f(x):\n    """\n    f(1) ==> True\n    f(2) = False\n    >>> f(3) == True\n'
        '    >>> f(4) == True\n    True\n    >>> f(5) == f(6)\n    """\n'
    )
    assert [(e.call, e.expected) for e in public_examples(prompt, "f")] == [
        ("f(1)", "True"),  # "==>" is not "==" followed by "> True"
        ("f(2)", "False"),
        ("f(3)", "True"),  # a comparison with no output line is the example itself
        ("f(4) == True", "True"),  # with an output line, the line is the expected value
    ]  # "f(5) == f(6)" compares two calls: no literal expected value


def test_probe_inputs_are_deterministic_and_start_with_the_examples() -> None:
    examples = public_examples(PROMPT, "add_one")
    first = probe_inputs(examples, 6, seed=1)
    assert first == probe_inputs(examples, 6, seed=1) and len(first) == 6
    assert first[:3] == [([1, 2],), ([],), ([5],)] and len(set(map(repr, first))) == 6


def test_build_program_and_code_key() -> None:
    program = build_program(PROMPT, "    return [x + 1 for x in xs]", "add_one")
    namespace: dict = {}
    exec(program, namespace)
    assert namespace["add_one"]([1]) == [2]
    assert code_key("def f(x):  # comment\n    return x") == code_key("def f(x):\n\n    return (x)")


def _problem() -> Problem:
    return Problem(PROMPT, id="p", reference=HIDDEN, metadata={"prompt": PROMPT, "entry_point": "add_one"})


def test_public_tests_scorer_scores_the_share_passed() -> None:
    task = HumanEvalTask.__new__(HumanEvalTask)  # only extract_answer is needed
    cands = [Candidate(r, task.extract_answer(r)) for r in (RIGHT, WRONG, "no code here")]
    assert PublicTestsScorer().score(_problem().blind(), cands) == [1.0, pytest.approx(1 / 3), 0.0]


def _ctx(replies: list[str]):
    task = HumanEvalTask()
    return make_context(FakeBackend(replies), task, make_registries(), params=SamplingParams(seed=0, max_tokens=256))


def test_code_select_filters_by_examples_and_picks_the_largest_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_run = sandbox_module.Sandbox.run

    def spy(self, code, tests):
        seen.extend([code, *tests])
        return real_run(self, code, tests)

    monkeypatch.setattr(sandbox_module.Sandbox, "run", spy)
    ctx = _ctx([WRONG, OVERFIT, RIGHT, RIGHT_TOO])
    [res] = run_chunks(get_strategy("code_select", n=4), [_problem()], ctx, 8)
    assert res.selected == 2 and res.answer == res.candidates[2].answer
    assert [c.score for c in res.candidates] == [pytest.approx(1 / 3), 1.0, 1.0, 1.0]
    kinds = {e.kind: e.data for e in res.trace}
    assert kinds["public_tests"]["survivors"] == [1, 2, 3]
    assert kinds["cluster"]["clusters"] == [[2, 3], [1]]
    assert seen and not any("check(" in s or "[10]" in s for s in seen), "selection never runs hidden tests"
    assert ctx.task.is_correct(_problem(), res.answer)


def test_code_select_without_examples_falls_back_to_voting() -> None:
    prompt = 'def add_one(xs):\n    """Add one to every element."""\n'
    problem = Problem(prompt, id="q", metadata={"prompt": prompt, "entry_point": "add_one"})
    [res] = run_chunks(get_strategy("code_select", n=3), [problem], _ctx([WRONG, RIGHT, RIGHT]), 8)
    assert res.selected == 1
    assert res.trace[-1].data["rule"] == "majority_vote"
