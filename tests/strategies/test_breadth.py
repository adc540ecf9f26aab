"""Behaviour of the breadth strategies: voting, abstentions, ties, scoring, filtering."""

from __future__ import annotations

import math

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend, FakeReply
from ponder.errors import ConfigError, ScorerError, StrategyError
from ponder.types import Problem
from tests.conftest import boxed

P = [Problem("What is 6 * 7?", id="p")]


def test_majority_vote_and_abstentions(make_ctx):
    ctx = make_ctx([boxed("41"), boxed("42"), "no idea", boxed("42.0"), boxed("1,000")])
    [r] = run_chunks(get_strategy("self_consistency", n=5), P, ctx, 8)
    assert r.answer == "42"
    vote = next(e for e in r.trace if e.kind == "vote")
    assert vote.data["votes"] == {"42": 2.0, "41": 1.0, "1000": 1.0}
    assert vote.data["abstained"] == 1
    assert r.selected == 1 and r.candidates[2].answer is None


def test_ties_go_to_the_earliest_answer(make_ctx):
    ctx = make_ctx([boxed("7"), boxed("9"), boxed("9"), boxed("7")])
    [r] = run_chunks(get_strategy("self_consistency", n=4), P, ctx, 8)
    assert r.answer == "7" and r.selected == 0


def test_all_abstain_gives_no_answer(make_ctx):
    ctx = make_ctx(["I cannot answer that."])
    [r] = run_chunks(get_strategy("self_consistency", n=3), P, ctx, 8)
    assert r.answer is None and r.selected is None and len(r.candidates) == 3


def test_one_batched_call_for_all_problems_and_samples(make_ctx):
    ctx = make_ctx([boxed("1")])
    problems = [Problem(f"Question {i}?", id=str(i)) for i in range(3)]
    run_chunks(get_strategy("self_consistency", n=4), problems, ctx, 8)
    [(prompts, params, n)] = ctx.backend.inner.calls
    assert len(prompts) == 3 and n == 4 and params.seed == 0


def test_filtered_candidates_are_kept_but_do_not_vote(make_ctx):
    ctx = make_ctx(
        [boxed("13") + " badword", boxed("13") + " badword", boxed("5")],
        filters=[("blocklist", {"words": ["badword"]})],
    )
    [r] = run_chunks(get_strategy("self_consistency", n=3), P, ctx, 8)
    assert r.answer == "5"
    assert [c.filtered is not None for c in r.candidates] == [True, True, False]
    assert sum(e.kind == "filter" for e in r.trace) == 2


def _judged(samples: list[str], prob_yes: dict[str, float]) -> FakeBackend:
    """A fake model that samples ``samples`` (boxed answers) and, asked to judge a solution, says Yes with
    the probability scripted for the answer boxed in that solution."""

    def script(prompt, index, seed):
        for answer, p in prob_yes.items():
            if f"\\boxed{{{answer}}}" in prompt:
                return FakeReply("Yes", top=[{"Yes": math.log(p), "No": math.log(1 - p)}])
        return boxed(samples[index % len(samples)])

    return FakeBackend(script)


def test_best_of_n_vanilla_picks_the_highest_judge_score(make_ctx):
    ctx = make_ctx(backend=_judged(["10", "20", "30"], {"10": 0.3, "20": 0.9, "30": 0.5}), scorer="judge")
    [r] = run_chunks(get_strategy("best_of_n", n=3), P, ctx, 8)
    assert r.answer == "20" and r.selected == 1
    assert [round(c.score, 6) for c in r.candidates] == [0.3, 0.9, 0.5]


def test_best_of_n_weighted_sums_scores_per_answer(make_ctx):
    ctx = make_ctx(backend=_judged(["10", "10", "20"], {"10": 0.45, "20": 0.8}), scorer="judge")
    [vanilla] = run_chunks(get_strategy("best_of_n", n=3), P, ctx, 8)
    [weighted] = run_chunks(get_strategy("best_of_n", n=3, weighted=True), P, ctx, 8)
    assert vanilla.answer == "20"
    assert weighted.answer == "10"  # 0.45 + 0.45 > 0.8
    select = next(e for e in weighted.trace if e.kind == "select")
    assert select.data["totals"] == pytest.approx({"10": 0.9, "20": 0.8})


def test_best_of_n_needs_a_scorer(make_ctx):
    with pytest.raises(ConfigError, match="scorer"):
        run_chunks(get_strategy("best_of_n", n=2), P, make_ctx([boxed("1")]), 8)


def test_cot_is_one_greedy_sample(make_ctx):
    ctx = make_ctx([boxed("42")])
    [r] = run_chunks(get_strategy("cot"), P, ctx, 8)
    [(_prompts, params, n)] = ctx.backend.inner.calls
    assert n == 1 and params.temperature == 0.0 and r.answer == "42"


def test_few_shot_cot_shows_worked_examples(make_ctx):
    ctx = make_ctx([boxed("42")])
    run_chunks(get_strategy("cot", few_shot=2), P, ctx, 8)
    run_chunks(get_strategy("cot", few_shot=0), P, ctx, 8)
    few, zero = (call[0][0] for call in ctx.backend.inner.calls)
    assert len(few) > len(zero) and few.count("\\boxed") >= 2


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_n_is_rejected_with_the_value(bad):
    with pytest.raises(ConfigError, match=str(bad)):
        get_strategy("self_consistency", n=bad)


def test_best_of_n_vanilla_prefers_an_answer_and_ranks_nan_last(make_ctx):
    class ByIndex:
        name, needs_logprobs = "by_index", False

        def score(self, problem, candidates):
            return [5.0, float("nan"), -2.0][: len(candidates)]  # an abstention, NaN, a negative log-score

    ctx = make_ctx(backend=FakeBackend(["no answer here", boxed("7"), boxed("8")]))
    ctx.scorer = ByIndex()
    [r] = run_chunks(get_strategy("best_of_n", n=3), P, ctx, 8)
    assert r.answer == "8" and r.selected == 2


class Listed:
    """Scores from a list, cut to the number of candidates unless ``short``."""

    name, needs_logprobs = "listed", False

    def __init__(self, scores, short=False):
        self.scores, self.short = scores, short

    def score(self, problem, candidates):
        return self.scores[: len(candidates) - (1 if self.short else 0)]


def test_weighted_votes_give_a_nan_score_no_weight(make_ctx):
    ctx = make_ctx(backend=FakeBackend([boxed("7"), boxed("42"), boxed("42")]))
    ctx.scorer = Listed([float("nan"), 0.4, 0.4])
    [r] = run_chunks(get_strategy("best_of_n", n=3, weighted=True), P, ctx, 8)
    assert r.answer == "42"
    ctx.scorer = Listed([float("inf"), 0.4, 0.4])
    with pytest.raises(StrategyError, match="finite, non-negative scores, got inf"):
        run_chunks(get_strategy("best_of_n", n=3, weighted=True), P, ctx, 8)


def test_a_scorer_giving_too_few_scores_is_a_scorer_error_that_keeps_finished_problems(make_ctx):
    class ShortOnB:
        name, needs_logprobs = "short_on_b", False

        def score(self, problem, candidates):
            return [0.5] * (len(candidates) - (problem.id == "b"))

    problems = [Problem("What is 1 + 2?", id="a"), Problem("What is 2 + 2?", id="b")]
    ctx = make_ctx(backend=FakeBackend([boxed("3")]))
    ctx.scorer = ShortOnB()
    with pytest.raises(StrategyError, match="scorer returned 1 scores for 2 candidates") as info:
        run_chunks(get_strategy("best_of_n", n=2), problems, ctx, 1)
    assert isinstance(info.value.__cause__, ScorerError)
    assert [r.problem_id for r in info.value.partial] == ["a"]
