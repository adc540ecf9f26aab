"""Metrics of evaluation records: accuracy, maj@k, pass@k, coverage, bootstrap CIs, paired tests, FLOPs.

- ``pass_at_k(n, c, k)``: the unbiased estimator of Chen et al. (2021), 1 - C(n-c, k) / C(n, k), computed as
  the stable product 1 - prod_{i=n-c+1..n} (1 - k/i).
- ``maj_at_k``: whether the majority answer of the first k candidates is right (ties: earliest answer, as
  ``strategies.base.majority_vote``); abstentions and filtered candidates do not vote.
- ``coverage``: whether any candidate is right (pass@n).
- ``bootstrap_ci``: percentile bootstrap over problems (seeded numpy), the unit of resampling being the
  problem: with several seeds, a problem's value is its mean over seeds and all its seeds move together.
- ``paired``: two configurations on the problems both have: difference of means with a paired bootstrap
  CI over problems, and an exact sign test over problems (binomial tail with ``math.comb``) on those where
  one configuration did better, seeds averaged within a problem first; with one seed it is McNemar's exact
  test on the discordant problems. Seeds of one problem are not independent, so they are never counted as
  separate pairs.

FLOPs (Snell et al., 2024, §7): inference costs 2·N·D_inference FLOPs (N parameters, D tokens processed:
prompt tokens computed plus generated tokens) and pretraining 6·N·D_pretrain. ``Usage.flops`` is already the
former, verifier calls included, since scorers charge the same meter. With R = D_inference / D_pretrain, a
model M times larger costs 6·M·N·D_pretrain + 2·M·N·D_inference in total; the smaller model matches those
FLOPs when it spends K = M + 3(M - 1)/R times its plain inference compute at test time
(``flops_matched_multiplier``). So test-time compute "pays" against a larger model when it reaches the
larger model's accuracy using at most K times the base inference FLOPs. D_inference here is the total
tokens the model will serve over its life, a deployment assumption the user supplies, not a property
of the benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ponder.errors import ConfigError

__all__ = [
    "Comparison",
    "Estimate",
    "bootstrap_ci",
    "coverage",
    "estimate",
    "exchange_rate",
    "flops_matched_multiplier",
    "inference_flops",
    "maj_at_k",
    "mcnemar_exact",
    "normal_ci",
    "paired",
    "pass_at_k",
    "pretraining_flops",
]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k candidates drawn without replacement from n (c correct) is correct."""
    if not (0 <= c <= n) or not 1 <= k <= n:
        raise ConfigError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n!r}, c={c!r}, k={k!r}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def maj_at_k(keys: Sequence[str | None], correct: Sequence[bool], k: int) -> bool:
    """Whether the majority answer among the first ``k`` candidates is correct (False when all abstain)."""
    if not 1 <= k <= len(keys) or len(keys) != len(correct):
        raise ConfigError(f"maj@k needs 1 <= k <= {len(keys)} and one grade per key, got k={k!r}")
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, key in enumerate(keys[:k]):
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, i)
    if not counts:
        return False
    best = min(counts, key=lambda a: (-counts[a], first[a]))
    return bool(correct[first[best]])


def coverage(correct: Sequence[bool]) -> bool:
    """Whether any candidate is correct."""
    return any(correct)


@dataclass(frozen=True)
class Estimate:
    """A mean over problems with its bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    """Problems it averages over."""


def _per_problem(values: Mapping[Any, Sequence[float]]) -> np.ndarray:
    return np.array([float(np.mean(v)) for v in values.values() if len(v)], dtype=float)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray, *, level: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (one value per problem)."""
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_boot, data.size))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def normal_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The normal-approximation CI of the mean (a cross-check of the bootstrap)."""
    data = np.asarray(values, dtype=float)
    z = {0.9: 1.6448536269514722, 0.95: 1.959963984540054, 0.99: 2.5758293035489004}.get(level)
    if z is None:
        raise ConfigError(f"normal_ci supports level 0.9, 0.95 or 0.99, got {level!r}")
    half = z * float(data.std(ddof=1)) / math.sqrt(data.size) if data.size > 1 else 0.0
    return float(data.mean()) - half, float(data.mean()) + half


def estimate(values: Mapping[Any, Sequence[float]], *, seed: int = 0, n_boot: int = 2000) -> Estimate:
    """Mean and 95% CI over problems; ``values`` maps each problem to its values (one per seed)."""
    data = _per_problem(values)
    if data.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    low, high = bootstrap_ci(data, seed=seed, n_boot=n_boot)
    return Estimate(float(data.mean()), low, high, int(data.size))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs (binomial(b + c, 1/2) tail)."""
    if min(b, c) < 0:
        raise ConfigError(f"discordant counts must be >= 0, got b={b!r}, c={c!r}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


@dataclass(frozen=True)
class Comparison:
    """A minus B on the problems both have."""

    diff: Estimate
    """Mean of A - B with its paired bootstrap 95% CI."""
    a_only: int
    """Problems where A did better than B (mean over seeds; with one seed: A right, B wrong)."""
    b_only: int
    """Problems where B did better than A."""
    p_value: float
    """Exact two-sided sign test on ``a_only`` vs ``b_only`` (McNemar's exact test with one seed)."""


def paired(
    a: Mapping[tuple[Hashable, Hashable], bool],
    b: Mapping[tuple[Hashable, Hashable], bool],
    *,
    seed: int = 0,
) -> Comparison:
    """Compare two configurations graded per (problem, seed); only pairs present in both count."""
    common = sorted(set(a) & set(b), key=repr)
    diffs: dict[Hashable, list[float]] = {}
    for key in common:
        diffs.setdefault(key[0], []).append(float(a[key]) - float(b[key]))
    means = [sum(d) / len(d) for d in diffs.values()]
    a_only, b_only = sum(1 for m in means if m > 0), sum(1 for m in means if m < 0)
    return Comparison(estimate(diffs, seed=seed), a_only, b_only, mcnemar_exact(a_only, b_only))


def inference_flops(n_params: float, tokens: float) -> float:
    """2·N·D: forward-pass FLOPs of ``tokens`` tokens through an ``n_params``-parameter model."""
    return 2.0 * n_params * tokens


def pretraining_flops(n_params: float, tokens: float) -> float:
    """6·N·D: training FLOPs (forward and backward) of ``tokens`` pretraining tokens."""
    return 6.0 * n_params * tokens


def exchange_rate(d_inference: float, d_pretrain: float) -> float:
    """R = D_inference / D_pretrain (Snell et al., 2024, §7)."""
    if not (d_inference > 0 and d_pretrain > 0):
        raise ConfigError(f"token counts must be > 0, got d_inference={d_inference!r}, d_pretrain={d_pretrain!r}")
    return d_inference / d_pretrain


def flops_matched_multiplier(m: float, r: float) -> float:
    """K = M + 3(M - 1)/R: test-time compute multiplier of a model that matches the total FLOPs of one M times
    larger, at exchange rate R (see the module docstring)."""
    if not (m >= 1 and r > 0):
        raise ConfigError(f"need M >= 1 and R > 0, got M={m!r}, R={r!r}")
    return m + 3.0 * (m - 1.0) / r
