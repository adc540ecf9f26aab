"""Batch budgets: the calibrated allocator buys the most measured accuracy per token; the cap holds."""

from __future__ import annotations

import pytest

from ponder.adaptive.allocate import allocate_by_value
from ponder.adaptive.policy import Entry, Policy, save_policy
from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.budget import Budget
from ponder.errors import ConfigError
from ponder.types import Problem
from tests.adaptive.scripts import sequence_script

EASY_CURVE = {2: 0.76, 3: 0.84, 8: 0.84}  # a third sample pays; more do not
HARD_CURVE = {2: 0.33, 4: 0.48, 8: 0.55}


def test_each_raise_is_the_most_accuracy_per_token_that_fits():
    curves = [EASY_CURVE, HARD_CURVE]
    # 10 tokens a sample. 10 tokens: the easy third sample (0.08 per sample) beats 2 -> 4 (0.075 per sample).
    assert allocate_by_value(curves, [10, 10], probe=2, most=8, tokens=10) == [3, 2]
    assert allocate_by_value(curves, [10, 10], probe=2, most=8, tokens=30) == [3, 4]
    # Plenty: every raise that gains is bought, none that does not (the easy one stops at 3, not 8).
    assert allocate_by_value(curves, [10, 10], probe=2, most=8, tokens=10_000) == [3, 8]
    assert allocate_by_value(curves, [10, 10], probe=2, most=4, tokens=10_000) == [3, 4]  # capped at most
    # A problem whose samples run longer pays more per raise: the same gain goes to the cheaper one first.
    assert allocate_by_value([EASY_CURVE, EASY_CURVE], [30, 10], probe=2, most=8, tokens=10) == [2, 3]
    assert allocate_by_value(curves, [10, 10], probe=2, most=8, tokens=0) == [2, 2]


def test_bad_allocation_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="one token estimate per problem, got 1"):
        allocate_by_value([EASY_CURVE, HARD_CURVE], [10], probe=2, most=8, tokens=10)
    with pytest.raises(ConfigError, match="probe=4, most=2"):
        allocate_by_value([EASY_CURVE], [10], probe=4, most=2, tokens=10)


def _calibrated(tmp_path, budget_kind="max") -> str:
    entries = [
        Entry(bin=b, budget=budget, strategy="self_consistency", params={"n": budget}, accuracy=acc, problems=10)
        for b, curve in enumerate([EASY_CURVE, HARD_CURVE])
        for budget, acc in curve.items()
    ]
    policy = Policy(
        model="fake", task="math", estimator="agreement", probe=2, edges=[0.25], entries=entries,
        budget_kind=budget_kind,
    )  # fmt: skip
    return str(save_policy(policy, tmp_path / "policy.json"))


@pytest.mark.parametrize(("extra_samples", "easy", "hard"), [(3, 3, 2), (9, 3, 4), (100, 3, 8)])
def test_a_calibrated_batch_budget_goes_where_calibration_says_samples_pay(
    make_ctx, tmp_path, extra_samples, easy, hard
):
    problems = [Problem(f"Easy question {i}?", id=f"e{i}") for i in range(3)]
    problems += [Problem(f"Hard question {i}?", id=f"h{i}") for i in range(3)]
    script = sequence_script({"Easy": ["42"], "Hard": ["1", "2", "3"]})
    per_sample = FakeBackend(script).generate(["Easy question 0?"], make_ctx().params)[0].completions[0].n_tokens
    cap = (12 + extra_samples) * per_sample  # the probes' 12 samples, then room for ``extra_samples``
    ctx = make_ctx(backend=FakeBackend(script), budget=Budget(max_completion_tokens=cap))
    results = run_chunks(get_strategy("adaptive", policy=_calibrated(tmp_path), budget=8), problems, ctx, 6)
    counts = {r.problem_id: len(r.candidates) for r in results}
    assert counts == {**{f"e{i}": easy for i in range(3)}, **{f"h{i}": hard for i in range(3)}}
    assert ctx.backend.usage.completion_tokens <= cap
    [event] = [e.data for e in results[0].trace if e.kind == "allocate"]
    assert event["rule"].startswith("calibrated accuracy")


def test_a_mean_budget_policy_splits_a_batch_budget_by_difficulty(make_ctx, tmp_path):
    """A "mean" policy's entry at budget B may cost more than B, which the calibrated split does not charge."""
    problems = [Problem("Easy question?", id="e"), Problem("Hard question?", id="h")]
    script = sequence_script({"Easy": ["42"], "Hard": ["1", "2", "3"]})
    ctx = make_ctx(backend=FakeBackend(script), budget=Budget(max_completion_tokens=10_000))
    policy = _calibrated(tmp_path, budget_kind="mean")
    results = run_chunks(get_strategy("adaptive", policy=policy, budget=8), problems, ctx, 2)
    [event] = [e.data for e in results[0].trace if e.kind == "allocate"]
    assert event["rule"].startswith("difficulty") and event["samples"] == {"e": 2, "h": 8}
