"""Metrics against closed forms, brute force and hand-made tables."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from ponder.errors import ConfigError
from ponder.eval.metrics import (
    bootstrap_ci,
    coverage,
    estimate,
    exchange_rate,
    flops_matched_multiplier,
    inference_flops,
    maj_at_k,
    mcnemar_exact,
    normal_ci,
    paired,
    pass_at_k,
    pretraining_flops,
)


@pytest.mark.parametrize(("k", "expected"), [(1, 2 / 5), (2, 7 / 10), (3, 9 / 10), (4, 1.0), (5, 1.0)])
def test_pass_at_k_by_hand_n5_c2(k: int, expected: float):
    # 1 - C(3, k) / C(5, k): k=1 -> 1 - 3/5; k=2 -> 1 - 3/10; k=3 -> 1 - 1/10; k>=4 -> C(3, k) = 0
    assert pass_at_k(5, 2, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("n", "c"), [(5, 2), (6, 1), (7, 3), (4, 0), (4, 4)])
def test_pass_at_k_matches_brute_force_enumeration(n: int, c: int):
    items = [True] * c + [False] * (n - c)
    for k in range(1, n + 1):
        subsets = list(itertools.combinations(range(n), k))
        brute = sum(any(items[i] for i in s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12)


def test_pass_at_k_is_stable_for_large_n():
    exact = 1 - Fraction(math.comb(1000 - 7, 300), math.comb(1000, 300))
    assert pass_at_k(1000, 7, 300) == pytest.approx(float(exact), rel=1e-9)
    assert pass_at_k(1000, 1, 500) == pytest.approx(0.5)


def test_pass_at_k_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="k=6"):
        pass_at_k(5, 2, 6)
    with pytest.raises(ConfigError, match="c=7"):
        pass_at_k(5, 7, 1)


def test_maj_at_k_and_coverage():
    keys = ["7", "42", "42", None, "7", "7"]
    right = [False, True, True, False, False, False]
    assert maj_at_k(keys, right, 1) is False  # "7"
    assert maj_at_k(keys, right, 2) is False  # tie 7/42 -> the earliest, "7"
    assert maj_at_k(keys, right, 3) is True  # 42 twice
    assert maj_at_k(keys, right, 4) is True  # the abstention does not vote
    assert maj_at_k(keys, right, 6) is False  # 7 three times
    assert maj_at_k([None, None], [False, False], 2) is False
    assert coverage(right) and not coverage([False, False])
    with pytest.raises(ConfigError):
        maj_at_k(keys, right, 7)


def test_bootstrap_ci_of_a_known_vector_agrees_with_the_normal_approximation():
    values = np.array([1] * 30 + [0] * 70, dtype=float)
    low, high = bootstrap_ci(values, seed=0, n_boot=4000)
    n_low, n_high = normal_ci(values)
    assert low < 0.3 < high
    assert 0.14 < high - low < 0.22  # 2 x 1.96 x sqrt(0.3 x 0.7 / 100) = 0.18
    assert low == pytest.approx(n_low, abs=0.03) and high == pytest.approx(n_high, abs=0.03)
    assert bootstrap_ci(values, seed=0, n_boot=4000) == (low, high)  # seeded


def test_bootstrap_ci_edge_cases():
    assert bootstrap_ci(np.ones(20)) == (1.0, 1.0)
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    with pytest.raises(ConfigError, match=r"1\.5"):
        bootstrap_ci([1.0], level=1.5)


def test_estimate_averages_seeds_within_a_problem():
    est = estimate({"a": [1.0, 0.0], "b": [1.0, 1.0], "c": [0.0]})
    assert est.mean == pytest.approx(0.5) and est.n == 3
    assert est.low <= est.mean <= est.high
    assert math.isnan(estimate({}).mean)


def test_mcnemar_on_a_hand_made_table():
    # 2x2 table over 40 pairs: both right 20, A only 1, B only 9, both wrong 10.
    # Two-sided exact p = 2 * P(X <= 1), X ~ Binomial(10, 1/2) = 2 * (1 + 10) / 1024.
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024)
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)


def test_paired_comparison():
    a = {(f"p{i}", 0): i < 8 for i in range(10)}
    b = {(f"p{i}", 0): i < 2 for i in range(10)}
    b[("extra", 0)] = True  # only in b: ignored
    cmp = paired(a, b)
    assert cmp.diff.mean == pytest.approx(0.6) and cmp.diff.n == 10
    assert cmp.a_only == 6 and cmp.b_only == 0
    assert cmp.p_value == pytest.approx(2 / 64)
    assert cmp.diff.low > 0


def test_paired_comparison_counts_problems_not_seeds():
    # One problem of four differs, on all ten seeds: one problem's worth of evidence, not ten.
    a = {(f"p{i}", s): i == 0 or i == 1 for i in range(4) for s in range(10)}
    b = {(f"p{i}", s): i == 1 for i in range(4) for s in range(10)}
    cmp = paired(a, b)
    assert (cmp.a_only, cmp.b_only) == (1, 0) and cmp.p_value == 1.0
    assert cmp.diff.mean == pytest.approx(0.25) and cmp.diff.n == 4
    # Seeds that disagree within a problem: the problem counts for the side with the higher mean.
    mixed_a = {("q", 0): True, ("q", 1): True, ("q", 2): False}
    mixed_b = {("q", 0): False, ("q", 1): False, ("q", 2): True}
    assert (paired(mixed_a, mixed_b).a_only, paired(mixed_a, mixed_b).b_only) == (1, 0)


def test_flops_and_exchange_rate():
    assert inference_flops(1e9, 1000) == 2e12
    assert pretraining_flops(1e9, 1e12) == 6e21
    r = exchange_rate(1e12, 1e13)
    assert r == pytest.approx(0.1)
    # M = 2: the larger model costs 2x (6 N Dp + 2 N Di); the small one may spend K x its 2 N Di at test time.
    k = flops_matched_multiplier(2, r)
    n, dp, di = 1e9, 1e13, 1e12
    assert 6 * n * dp + k * 2 * n * di == pytest.approx(2 * (6 * n * dp + 2 * n * di))
    assert k == pytest.approx(32)
    with pytest.raises(ConfigError, match=r"M=0\.5"):
        flops_matched_multiplier(0.5, 1)
