"""self_refine: what each feedback and revision sees, stop criteria, scorer feedback, validation."""

from __future__ import annotations

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.errors import ConfigError
from ponder.strategies.self_refine import FEEDBACK_PROMPT, SelfRefine
from ponder.types import Problem
from tests.strategies.test_depth_common import FixedScorer, by_last_user, prompts_of, turns

P = [Problem("What is 6 * 7?", id="p")]
ASK = FEEDBACK_PROMPT.split(" For each")[0]


def _version(prompt: str) -> int:
    """How many revisions the prompt's conversation already holds (0 = it shows the draft only)."""
    shown = [text for role, text in turns(prompt) if role == "assistant" and text.startswith("Version")]
    return int(shown[-1].split()[1].rstrip(".")) if shown else -1


def _script(answers=("10", "11", "12", "13"), feedback="Step two is wrong: recompute it."):
    return by_last_user(
        [
            (ASK, lambda p: feedback if not callable(feedback) else feedback(p)),
            (
                "Feedback on your solution",
                lambda p: f"Version {_version(p) + 1}. \\boxed{{{answers[_version(p) + 1]}}}",
            ),
        ],
        default=f"Version 0. \\boxed{{{answers[0]}}}",
    )


def test_each_feedback_and_revision_sees_exactly_the_newest_round(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_script()))
    [r] = run_chunks(get_strategy("self_refine", rounds=2), P, ctx, 8)
    assert [c.answer for c in r.candidates] == ["10", "11", "12"]
    assert r.answer == "12" and r.selected == 2
    prompts = prompts_of(ctx)
    assert len(prompts) == 5  # draft, (feedback, revision) x 2
    feedback_2 = turns(prompts[3])
    assert [role for role, _ in feedback_2] == ["system", "user", "assistant", "user", "assistant"]
    assert feedback_2[2][1] == "Version 1. \\boxed{11}"
    revision_2 = turns(prompts[4])
    assert revision_2[2][1] == "Version 1. \\boxed{11}", "history=1 shows only the newest version"
    assert "Version 0" not in prompts[4]
    assert revision_2[3][1].startswith("Feedback on your solution:\nStep two is wrong")
    kinds = [e.kind for e in r.trace]
    assert kinds == ["draft", "feedback", "revision", "feedback", "revision", "select"]


def test_history_shows_earlier_rounds(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_script()))
    run_chunks(get_strategy("self_refine", rounds=2, history=2), P, ctx, 8)
    last = turns(prompts_of(ctx)[-1])
    shown = [text for role, text in last if role == "assistant" and text]
    assert shown == ["Version 0. \\boxed{10}", "Version 1. \\boxed{11}"]
    assert sum(text.startswith("Feedback on your solution") for _, text in last) == 2


def test_empty_feedback_ends_the_round_without_a_crash(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_script(feedback="   ")))
    [r] = run_chunks(get_strategy("self_refine", rounds=3), P, ctx, 8)
    assert len(r.candidates) == 1 and r.answer == "10"
    assert len(ctx.backend.inner.calls) == 2, "no revision after empty feedback"
    stop = next(e for e in r.trace if e.kind == "stop")
    assert stop.data["reason"] == "empty feedback"


def test_no_issues_and_unchanged_answers_stop_the_chain(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_script(feedback="Looks right. NO ISSUES")))
    [r] = run_chunks(get_strategy("self_refine", rounds=3), P, ctx, 8)
    assert len(r.candidates) == 1 and [e.data["reason"] for e in r.trace if e.kind == "stop"] == [
        "feedback found no issues"
    ]
    ctx = make_ctx(backend=FakeBackend(_script(answers=("10", "10", "10", "10"))))
    [r] = run_chunks(get_strategy("self_refine", rounds=3), P, ctx, 8)
    assert len(r.candidates) == 2 and r.trace[-2].data["reason"] == "answer unchanged"
    ctx = make_ctx(backend=FakeBackend(_script(answers=("10", "10", "10", "10"))))
    [r] = run_chunks(get_strategy("self_refine", rounds=3, stop_when_unchanged=False), P, ctx, 8)
    assert len(r.candidates) == 4


def test_empty_revision_is_discarded(make_ctx):
    script = by_last_user([(ASK, lambda p: "Fix step 2."), ("Feedback on your solution", lambda p: "")], "\\boxed{5}")
    ctx = make_ctx(backend=FakeBackend(script))
    [r] = run_chunks(get_strategy("self_refine", rounds=2), P, ctx, 8)
    assert [c.answer for c in r.candidates] == ["5"] and r.answer == "5"
    assert r.trace[-2].data["reason"] == "empty revision"


def test_scorer_picks_the_best_version_and_threshold_stops(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_script()))
    ctx.scorer = FixedScorer({"10": 0.2, "11": 0.7, "12": 0.4})
    [r] = run_chunks(get_strategy("self_refine", rounds=2), P, ctx, 8)
    assert r.answer == "11" and r.selected == 1, "a revision that made things worse is not chosen"
    assert [c.score for c in r.candidates] == [0.2, 0.7, 0.4]
    ctx = make_ctx(backend=FakeBackend(_script()))
    ctx.scorer = FixedScorer({"10": 0.2, "11": 0.7, "12": 0.4})
    [r] = run_chunks(get_strategy("self_refine", rounds=3, threshold=0.6), P, ctx, 8)
    assert len(r.candidates) == 2 and r.trace[-2].data["reason"] == "score >= threshold"


def test_scorer_feedback_is_turned_into_text(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_script()))
    ctx.scorer = FixedScorer({"10": 0.25})
    [r] = run_chunks(get_strategy("self_refine", rounds=1, feedback="scorer", threshold=0.9), P, ctx, 8)
    assert len(ctx.backend.inner.calls) == 2, "no model call for feedback"
    feedback = next(e for e in r.trace if e.kind == "feedback")
    assert feedback.data["source"] == "scorer" and "0.25" in feedback.data["text"]
    assert "0.25" in prompts_of(ctx)[1]


def test_rounds_are_batched_across_problems(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_script()))
    problems = [Problem(f"Question {i}?", id=str(i)) for i in range(3)]
    results = run_chunks(get_strategy("self_refine", rounds=1), problems, ctx, 8)
    assert [len(prompts) for prompts, _, _ in ctx.backend.inner.calls] == [3, 3, 3]
    assert sum(r.usage.completion_tokens for r in results) == ctx.backend.usage.completion_tokens


def test_refine_the_winner_of_another_strategy(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_script()))
    strategy = get_strategy("self_refine", rounds=1, initial={"strategy": "self_consistency", "n": 3})
    [r] = run_chunks(strategy, P, ctx, 8)
    assert r.trace[0].data["source"] == "self_consistency"
    assert r.config["initial"] == {
        "strategy": "self_consistency",
        "n": 3,
        "temperature": None,
        "max_tokens": None,
        "sampler": None,
        "early_stop": False,
        "confidence": 0.95,
        "batch": 2,
    }
    assert [c.answer for c in r.candidates] == ["10", "11"]


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"rounds": -1}, "-1"),
        ({"feedback": "teacher"}, "'teacher'"),
        ({"history": 0}, "0"),
        ({"threshold": float("nan")}, "nan"),
        ({"initial": "cot"}, "'cot'"),
    ],
)
def test_bad_parameters_show_the_value(params, shown):
    with pytest.raises(ConfigError, match=shown):
        SelfRefine(**params)


def test_scorer_feedback_needs_a_scorer(make_ctx):
    with pytest.raises(ConfigError, match="needs a scorer"):
        SelfRefine(feedback="scorer").run(P, make_ctx())
