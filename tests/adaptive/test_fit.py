"""Fitting a policy: per-bin best cells within the budget (probe counted), cross-validation."""

from __future__ import annotations

import pytest

from ponder.adaptive.fit import ProblemOutcome, correlations, fit_policy, fold_ids, pick_estimator
from ponder.errors import ConfigError

CELLS = {("self_consistency", 1): {"n": 1}, ("self_consistency", 8): {"n": 8}, ("beam_search", 8): {"n": 8}}


def _problems(n: int = 40) -> list[ProblemOutcome]:
    """Even problems are easy (probe agrees; SC@1 right), odd ones hard (only beam search right)."""
    out = []
    for i in range(n):
        easy = i % 2 == 0
        correct = {
            ("self_consistency", 1): 1.0 if easy else 0.0,
            ("self_consistency", 8): 1.0 if easy else 0.0,
            ("beam_search", 8): 0.0 if easy else 1.0,
        }
        diff = {"agreement": 0.0 if easy else 0.5, "entropy": 0.0 if easy else 1.0}
        out.append(ProblemOutcome(f"p{i}", diff, 0.9 if easy else 0.1, correct))
    return out


def _fit(**kw):
    return fit_policy(
        _problems(),
        CELLS,
        estimator="agreement",
        probe=4,
        budgets=[1, 8, 12],
        reuses=lambda s: s == "self_consistency",
        identity={"model": "m", "task": "t", "scorer": None},
        **kw,
    )


def test_each_bin_gets_its_best_cell_within_the_budget_counting_the_probe():
    policy = _fit()
    assert policy.edges == [0.5] and policy.probe == 4
    table = {(e.bin, e.budget): (e.strategy, e.params, e.accuracy) for e in policy.entries}
    assert table[(0, 8)] == ("self_consistency", {"n": 1}, 1.0)  # easy: the cheapest perfect cell
    # hard at budget 8: beam_search n=8 costs 8 + 4 (probe not reusable) > 8, so it is not allowed
    assert table[(1, 8)][0] == "self_consistency"
    assert table[(1, 12)] == ("beam_search", {"n": 8}, 1.0)
    assert table[(0, 1)][0] == "self_consistency"  # below every cost: the cheapest cell (the probe's 4)


def test_cross_validation_scores_every_problem_once_and_beats_the_best_single_cell():
    policy = _fit(folds=2, seed=3)
    groups = fold_ids([f"p{i}" for i in range(40)], 2, 3)
    assert sorted(i for g in groups for i in g) == sorted(f"p{i}" for i in range(40)) and len(groups[0]) == 20
    assert not set(groups[0]) & set(groups[1])
    val = policy.validation
    assert (val["folds"], val["held_out_problems"], val["fit_problems"]) == (2, 40, 20)
    at12 = val["accuracy_by_budget"]["12"]
    assert at12["policy"] == 1.0 and at12["best_fixed"] < 1.0 and at12["oracle_bins_policy"] == 1.0
    assert "fitted on all 40 problems" in policy.notes


def test_no_problem_is_scored_by_a_fit_that_saw_it():
    """Two cells tie on all four problems (the written policy takes the first, A), but left out one at a time
    each problem is scored by the cell the other three prefer, the one that gets it wrong: 0%, where scoring
    on fitted problems would give 50%."""
    cells = {("a", 1): {"n": 1}, ("b", 1): {"n": 1}}
    rows = [
        ProblemOutcome(f"p{i}", {"agreement": 0.0}, 0.5, {("a", 1): float(i < 2), ("b", 1): float(i >= 2)})
        for i in range(4)
    ]
    policy = fit_policy(
        rows, cells, estimator="agreement", probe=1, budgets=[1], reuses=lambda s: True,
        identity={"model": "m", "task": "t"}, folds=4,
    )  # fmt: skip
    assert [e.strategy for e in policy.entries] == ["a"] and policy.entries[0].accuracy == 0.5
    assert policy.validation["accuracy_by_budget"]["1"]["policy"] == 0.0
    assert set(policy.validation["accuracy_by_budget"]["1"]["best_fixed_cell"].split(", ")) == {"a@1", "b@1"}


@pytest.mark.parametrize("folds", [1, 0, True, 2.5])
def test_bad_folds_are_config_errors(folds):
    with pytest.raises(ConfigError, match="folds must be an integer >= 2"):
        _fit(folds=folds)
    with pytest.raises(ConfigError, match="needs at least 41 problems, got 40"):
        _fit(folds=41)


def test_correlations_pick_the_estimator_that_tracks_pass_rate():
    rhos = correlations(_problems())
    assert rhos["agreement"] == rhos["entropy"] == -1.0
    assert pick_estimator({"agreement": -0.2, "entropy": -0.6, "verifier": None}) == "entropy"
    assert pick_estimator({"agreement": None}) == "agreement"


def _cost(strategy: str, n: int) -> int:
    return max(n, 4) if strategy == "self_consistency" else n + 4  # the probe (4) counted as fit_policy does


def test_mean_budget_spends_less_on_easy_bins_and_more_on_hard_ones():
    mean, top = _fit(budget_kind="mean"), _fit()
    assert mean.budget_kind == "mean" and top.budget_kind == "max"
    table = {(e.bin, e.budget): e for e in mean.entries}
    # budget 8 on average: easy questions keep the probe (4 samples), hard ones get beam search (8 + 4 = 12)
    assert (table[(0, 8)].strategy, table[(1, 8)].strategy) == ("self_consistency", "beam_search")
    assert table[(0, 8)].params == {"n": 1} and table[(1, 8)].accuracy == 1.0
    bins = [i % 2 for i in range(40)]  # odd = hard = bin 1; the policy is fitted on all 40
    for budget in (8, 12):
        spent = sum(_cost(table[(b, budget)].strategy, table[(b, budget)].params["n"]) for b in bins)
        assert spent <= budget * len(bins)
    # budget 1: even the probe costs more, so every bin gets its cheapest cell (as with "max")
    assert {table[(b, 1)].strategy for b in (0, 1)} == {"self_consistency"}
    at8, top8 = mean.validation["accuracy_by_budget"]["8"], top.validation["accuracy_by_budget"]["8"]
    assert top8["policy"] == 0.5 and top8["policy_samples"] == 4.0  # "max" keeps every question at 4 <= 8
    # "mean" buys beam search for the hard questions wherever the fold's fit problems can pay for it
    assert at8["policy"] > top8["policy"] and at8["policy_samples"] > top8["policy_samples"]


def test_mean_budget_knapsack_takes_the_most_right_answers_that_fit():
    """Three equal bins; at mean budget 7 one bin can afford beam search (12 samples, others 4): the bin where
    it answers the most (bin 1: all, bin 2: half, bin 0: none; self-consistency answers none)."""
    cells = {("self_consistency", 4): {"n": 4}, ("beam_search", 8): {"n": 8}}
    problems = []
    for i in range(60):
        b = i % 3
        beam = 1.0 if b == 1 else float(b == 2 and (i // 3) % 2 == 0)
        difficulty = {"agreement": b / 4, "entropy": 0.0}
        problems.append(
            ProblemOutcome(f"p{i}", difficulty, 0.5, {("self_consistency", 4): 0.0, ("beam_search", 8): beam})
        )
    policy = fit_policy(
        problems, cells, estimator="agreement", probe=4, budgets=[7], reuses=lambda s: s == "self_consistency",
        identity={"model": "m", "task": "t"}, bins=5, budget_kind="mean",
    )  # fmt: skip
    assert len(policy.edges) == 2
    assert {e.bin: e.strategy for e in policy.entries} == {
        0: "self_consistency",
        1: "beam_search",
        2: "self_consistency",
    }


def test_unknown_budget_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="'median'"):
        _fit(budget_kind="median")
