"""Fitting a policy: per-bin best cells within the budget (probe counted), held-out validation."""

from __future__ import annotations

from ponder.adaptive.fit import ProblemOutcome, correlations, fit_policy, pick_estimator, split_ids

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


def test_validation_is_on_held_out_problems_and_beats_the_best_single_cell():
    policy = _fit(holdout=0.5, seed=3)
    fit_ids, held_ids = split_ids([f"p{i}" for i in range(40)], 0.5, 3)
    assert not set(fit_ids) & set(held_ids) and len(held_ids) == 20
    val = policy.validation
    assert val["held_out_problems"] == 20 and val["fit_problems"] == 20
    at12 = val["accuracy_by_budget"]["12"]
    assert at12["policy"] == 1.0 and at12["best_fixed"] < 1.0 and at12["oracle_bins_policy"] == 1.0


def test_correlations_pick_the_estimator_that_tracks_pass_rate():
    rhos = correlations(_problems())
    assert rhos["agreement"] == rhos["entropy"] == -1.0
    assert pick_estimator({"agreement": -0.2, "entropy": -0.6, "verifier": None}) == "entropy"
    assert pick_estimator({"agreement": None}) == "agreement"


def _cost(strategy: str, n: int) -> int:
    return max(n, 4) if strategy == "self_consistency" else n + 4  # the probe (4) counted as fit_policy does


def test_mean_budget_spends_less_on_easy_bins_and_more_on_hard_ones():
    fit_ids, held_ids = split_ids([f"p{i}" for i in range(40)], 0.5, 0)
    mean, top = _fit(budget_kind="mean"), _fit()
    assert mean.budget_kind == "mean" and top.budget_kind == "max"
    table = {(e.bin, e.budget): e for e in mean.entries}
    # budget 8 on average: easy questions keep the probe (4 samples), hard ones get beam search (8 + 4 = 12)
    assert (table[(0, 8)].strategy, table[(1, 8)].strategy) == ("self_consistency", "beam_search")
    assert table[(0, 8)].params == {"n": 1} and table[(1, 8)].accuracy == 1.0
    fit_bins = [int(i[1:]) % 2 for i in fit_ids]  # odd = hard = bin 1
    for budget in (8, 12):
        spent = sum(_cost(table[(b, budget)].strategy, table[(b, budget)].params["n"]) for b in fit_bins)
        assert spent <= budget * len(fit_ids)
    # budget 1: even the probe costs more, so every bin gets its cheapest cell (as with "max")
    assert {table[(b, 1)].strategy for b in (0, 1)} == {"self_consistency"}
    held_hard = sum(int(i[1:]) % 2 for i in held_ids)
    at8, top8 = mean.validation["accuracy_by_budget"]["8"], top.validation["accuracy_by_budget"]["8"]
    assert at8["policy"] == 1.0 and top8["policy"] == (len(held_ids) - held_hard) / len(held_ids)
    assert at8["policy_samples"] == (4 * (len(held_ids) - held_hard) + 12 * held_hard) / len(held_ids)
    assert top8["policy_samples"] == 4.0  # "max" keeps every question at 4 <= 8 (beam search would be 12)


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
        identity={"model": "m", "task": "t"}, bins=5, budget_kind="mean", holdout=0.1,
    )  # fmt: skip
    assert len(policy.edges) == 2
    assert {e.bin: e.strategy for e in policy.entries} == {
        0: "self_consistency",
        1: "beam_search",
        2: "self_consistency",
    }


def test_unknown_budget_kind_is_a_config_error():
    import pytest

    from ponder.errors import ConfigError

    with pytest.raises(ConfigError, match="'median'"):
        _fit(budget_kind="median")
