"""Question difficulty without ground truth, from a cheap probe; oracle bins and rank correlation.

A probe is the first few samples of a question (their answer keys, and verifier scores when a scorer is
given). Each estimator turns a probe into a **difficulty**: larger = harder, so every estimator bins and
correlates the same way.

| estimator   | difficulty                                                                     | needs  |
|-------------|--------------------------------------------------------------------------------|--------|
| agreement   | 1 - (samples agreeing with the most common answer) / samples (abstain = alone) | -      |
| entropy     | Shannon entropy (nats) of the answer distribution (abstentions are one answer) | -      |
| verifier    | 1 - mean verifier score of the probe's samples                                 | scorer |

Oracle bins (Snell et al., 2024, for analysis only): 5 quantile bins of the model's pass rate on the
calibration split (the fraction of its sampled answers that are right); they need the reference answers,
so a policy can never use them at run time. Which estimator predicts best is measured, not assumed:
``spearman`` of each estimator's difficulty with the oracle pass rate (the most negative wins), reported
by ``ponder calibrate`` and stored in the policy file.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ponder.errors import ConfigError

__all__ = ["ESTIMATORS", "bin_of", "difficulty", "quantile_edges", "spearman"]

ABSTAIN = "\x00abstain"
"""The key an abstention (no answer) counts under for entropy."""


def _agreement(keys: Sequence[str | None], scores: Sequence[float] | None) -> float:
    counted = Counter(k for k in keys if k is not None)
    top = max(counted.values(), default=0)
    return 1.0 - top / len(keys)


def _entropy(keys: Sequence[str | None], scores: Sequence[float] | None) -> float:
    counted = Counter(ABSTAIN if k is None else k for k in keys)
    total = len(keys)
    return -sum(c / total * math.log(c / total) for c in counted.values()) + 0.0


def _verifier(keys: Sequence[str | None], scores: Sequence[float] | None) -> float:
    if not scores:
        raise ConfigError("the verifier difficulty estimator needs a scorer (e.g. --scorer judge)")
    return 1.0 - float(np.mean(scores))


ESTIMATORS: Mapping[str, Callable[[Sequence[str | None], Sequence[float] | None], float]] = {
    "agreement": _agreement,
    "entropy": _entropy,
    "verifier": _verifier,
}
"""Difficulty estimators by name: f(answer keys, verifier scores or None) -> difficulty (larger = harder)."""


def difficulty(estimator: str, keys: Sequence[str | None], scores: Sequence[float] | None = None) -> float:
    """The difficulty ``estimator`` gives a probe (its samples' answer keys, None = abstained)."""
    if estimator not in ESTIMATORS:
        raise ConfigError(f"unknown difficulty estimator {estimator!r}; known: {', '.join(ESTIMATORS)}")
    if not keys:
        raise ConfigError("a difficulty probe needs at least one sample")
    return float(ESTIMATORS[estimator](keys, scores))


def quantile_edges(values: Sequence[float], bins: int) -> list[float]:
    """Inner edges splitting ``values`` into ``bins`` quantile bins. Edges are observed values (a value equal
    to an edge goes to the upper bin), and repeated edges are merged, so tied values
    such as agreement over 4 samples may give fewer bins)."""
    if bins < 1:
        raise ConfigError(f"bins must be >= 1, got {bins!r}")
    if not values:
        raise ConfigError("cannot place bin edges without values")
    levels = [i / bins for i in range(1, bins)]
    inner = np.quantile(np.asarray(values, dtype=float), levels, method="higher") if levels else []
    lo, hi = min(values), max(values)
    return sorted({float(e) for e in inner if lo < float(e) <= hi})


def bin_of(value: float, edges: Sequence[float]) -> int:
    """The bin of ``value``: 0 below the first edge, i for edges[i-1] <= value < edges[i]."""
    return bisect.bisect_right(list(edges), value)


def _ranks(values: Sequence[float]) -> np.ndarray:
    """Average ranks (ties share the mean of their positions)."""
    arr = np.asarray(values, dtype=float)
    order = np.argsort(arr, kind="mergesort")
    ranks = np.empty(len(arr))
    ranks[order] = np.arange(len(arr), dtype=float)
    for value in np.unique(arr):
        tied = arr == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson on average ranks); None when either side is constant."""
    if len(x) != len(y):
        raise ConfigError(f"spearman needs equal lengths, got {len(x)} and {len(y)}")
    if len(x) < 2:
        return None
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])
