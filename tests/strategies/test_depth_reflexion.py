"""reflexion: verdicts, reflections stored in memory, what each retry sees, validation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.errors import ConfigError
from ponder.strategies.reflexion import Reflexion
from ponder.types import Problem
from tests.strategies.test_depth_common import FixedScorer, prompts_of, turns

P = [Problem("What is 6 * 7?", id="p")]


class Script:
    """Attempts give no answer until ``solve_after`` lessons are in the prompt; reflection k is
    ``reflection(k)`` (numbered from 1)."""

    def __init__(self, solve_after: int, reflection: Callable[[int], str] = lambda k: f"Lesson {k}: check sums."):
        self.solve_after, self.reflection, self.reflections = solve_after, reflection, 0

    def __call__(self, prompt: str, index: int, seed: int | None) -> str:
        last_user = [text for role, text in turns(prompt) if role == "user"][-1]
        if "was judged wrong" in last_user:
            self.reflections += 1
            return self.reflection(self.reflections)
        return "\\boxed{42}" if prompt.count("Lesson ") >= self.solve_after else "I am unsure."


def test_a_failed_attempt_is_reflected_on_and_the_retry_sees_the_lesson(make_ctx):
    ctx = make_ctx(backend=FakeBackend(Script(solve_after=1)))
    [r] = run_chunks(get_strategy("reflexion", attempts=3), P, ctx, 8)
    assert [c.answer for c in r.candidates] == [None, "42"]
    assert r.answer == "42" and r.selected == 1
    attempt_1, reflect, attempt_2 = prompts_of(ctx)
    assert "Lesson" not in attempt_1
    assert turns(reflect)[-3][1] == "I am unsure." and "final answer" in turns(reflect)[-2][1]
    question = [text for role, text in turns(attempt_2) if role == "user"][-1]
    assert question.startswith("What is 6 * 7?") and "1. Lesson 1: check sums." in question
    kinds = [e.kind for e in r.trace]
    assert kinds == ["attempt", "verdict", "reflection", "attempt", "verdict", "stop", "select"]
    assert r.trace[3].data["memory"] == ["Lesson 1: check sums."]


def test_memory_keeps_only_the_most_recent_reflections(make_ctx):
    ctx = make_ctx(backend=FakeBackend(Script(solve_after=99)))
    [r] = run_chunks(get_strategy("reflexion", attempts=4, memory=2), P, ctx, 8)
    assert len(r.candidates) == 4 and r.answer is None
    last_attempt = prompts_of(ctx)[-1]
    assert "Lesson 1" not in last_attempt and "1. Lesson 2" in last_attempt and "2. Lesson 3" in last_attempt
    assert r.trace[-2].data["reason"] == "out of attempts"


def test_empty_reflections_are_not_stored(make_ctx):
    ctx = make_ctx(backend=FakeBackend(Script(solve_after=1, reflection=lambda k: "  ")))
    [r] = run_chunks(get_strategy("reflexion", attempts=2), P, ctx, 8)
    assert "Lessons from your earlier" not in prompts_of(ctx)[-1]
    reflection = next(e for e in r.trace if e.kind == "reflection")
    assert reflection.data["stored"] is False


def test_a_scorer_is_the_verifier_when_the_run_has_one(make_ctx):
    replies = iter(["\\boxed{41}", "Lesson 1: recheck.", "\\boxed{42}"])
    ctx = make_ctx(backend=FakeBackend(lambda prompt, index, seed: next(replies)))
    ctx.scorer = FixedScorer({"41": 0.1, "42": 0.8})
    [r] = run_chunks(get_strategy("reflexion", attempts=3, threshold=0.5), P, ctx, 8)
    assert r.answer == "42" and [c.score for c in r.candidates] == [0.1, 0.8]
    verdict = next(e for e in r.trace if e.kind == "verdict")
    assert verdict.data["verifier"] == "scorer" and "0.10" in verdict.data["reason"]
    assert "0.10" in prompts_of(ctx)[1], "the reflection prompt says why the attempt failed"


def test_the_rule_verifier_ignores_the_scorer_when_asked(make_ctx):
    ctx = make_ctx(backend=FakeBackend(["\\boxed{41}"]))
    ctx.scorer = FixedScorer({"41": 0.0})
    [r] = run_chunks(get_strategy("reflexion", verifier="rule"), P, ctx, 8)
    assert len(r.candidates) == 1 and r.answer == "41" and ctx.scorer.calls == []


def test_attempts_are_batched_across_problems(make_ctx):
    ctx = make_ctx(backend=FakeBackend(Script(solve_after=1)))
    problems = [Problem(f"Question {i}?", id=str(i)) for i in range(3)]
    run_chunks(get_strategy("reflexion", attempts=2), problems, ctx, 8)
    assert [len(prompts) for prompts, _, _ in ctx.backend.inner.calls] == [3, 3, 3]


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"attempts": 0}, "0"),
        ({"memory": -2}, "-2"),
        ({"verifier": "oracle"}, "'oracle'"),
        ({"threshold": None}, "None"),
    ],
)
def test_bad_parameters_show_the_value(params, shown):
    with pytest.raises(ConfigError, match=shown):
        Reflexion(**params)


def test_scorer_verifier_needs_a_scorer(make_ctx):
    with pytest.raises(ConfigError, match="needs a scorer"):
        Reflexion(verifier="scorer").run(P, make_ctx())
