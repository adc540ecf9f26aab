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
