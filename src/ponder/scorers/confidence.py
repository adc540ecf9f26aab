"""Token-logprob confidence ("confidence"): how sure the model was while writing a candidate.

Reads ``Candidate.token_logprobs`` (the sampled tokens' logprobs, which strategies request because
``needs_logprobs`` is True); it runs no model and costs nothing. Methods:

- ``mean``: the mean logprob over all tokens;
- ``lowest_group``: the lowest mean over sliding windows of ``group_size`` consecutive tokens, i.e. the least
  confident stretch (DeepConf's "lowest group confidence"; the whole text when it is shorter than a window);
- ``tail``: the mean over the last ``group_size`` tokens (how sure the model was while concluding).

The score is ``exp`` of that mean: a geometric-mean token probability in [0, 1], ordered exactly as the mean
logprob is, and non-negative so it can weight votes (weighted best-of-N). Scores are comparable only within
one method and one ``group_size``. A candidate with no tokens scores 0.0 (exp of -inf), so it ranks last.
Candidates without logprobs raise ScorerError: the backend gave none.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from ponder.errors import ConfigError, ScorerError
from ponder.types import Candidate, Problem

__all__ = ["METHODS", "ConfidenceScorer", "lowest_group_mean", "mean_logprob", "tail_mean"]

Method = Literal["mean", "lowest_group", "tail"]
METHODS: tuple[str, ...] = ("mean", "lowest_group", "tail")
_FLOOR = -1e4
"""Logprobs below this (e.g. -inf) are clamped to it, so window sums stay finite; exp(_FLOOR) is 0.0."""


def mean_logprob(logprobs: Sequence[float]) -> float:
    """The mean of ``logprobs``; -inf when empty."""
    return sum(logprobs) / len(logprobs) if logprobs else -math.inf


def lowest_group_mean(logprobs: Sequence[float], group_size: int) -> float:
    """The lowest mean over windows of ``group_size`` consecutive logprobs (one running sum, O(n))."""
    if len(logprobs) <= group_size:
        return mean_logprob(logprobs)
    window = sum(logprobs[:group_size])
    lowest = window
    for i in range(group_size, len(logprobs)):
        window += logprobs[i] - logprobs[i - group_size]
        lowest = min(lowest, window)
    return lowest / group_size


def tail_mean(logprobs: Sequence[float], group_size: int) -> float:
    """The mean of the last ``group_size`` logprobs."""
    return mean_logprob(logprobs[-group_size:])


class ConfidenceScorer:
    """Scores candidates by the model's own token probabilities (higher = more confident).

    Args:
        backend: unused beyond a capability check (the logprobs come with the candidates).
        task: unused.
        method: "mean", "lowest_group" or "tail" (see the module docstring).
        group_size: window length in tokens for "lowest_group" and "tail" (>= 1).
    """

    name: str = "confidence"
    needs_logprobs: bool = True

    def __init__(self, backend: Any = None, task: Any = None, *, method: Method = "mean", group_size: int = 16) -> None:
        if method not in METHODS:
            raise ConfigError(f"confidence method must be one of {', '.join(METHODS)}, got {method!r}")
        if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
            raise ConfigError(f"confidence group_size must be an integer >= 1, got {group_size!r}")
        caps = getattr(backend, "capabilities", None)
        if caps is not None and not caps.logprobs:
            raise ConfigError(
                f"the confidence scorer needs token logprobs, but backend {getattr(backend, 'name', backend)!r} "
                "does not report them; use another scorer (judge, rule) or a backend with logprobs"
            )
        self.method = method
        self.group_size = group_size

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        """exp(mean logprob by ``method``) of each candidate, in [0, 1]."""
        return [self._score_one(i, c) for i, c in enumerate(candidates)]

    def _score_one(self, index: int, candidate: Candidate) -> float:
        logprobs = candidate.token_logprobs
        if logprobs is None:
            raise ScorerError(
                f"confidence scorer: candidate {index} has no token logprobs; the backend gave none "
                "(does it support logprobs, and did the strategy ask for them?)"
            )
        for x in logprobs:
            if isinstance(x, bool) or not isinstance(x, int | float) or math.isnan(x) or x > 1e-6:
                raise ScorerError(f"confidence scorer: candidate {index} has an invalid token logprob {x!r}")
        logprobs = tuple(max(float(x), _FLOOR) for x in logprobs)
        if self.method == "mean":
            value = mean_logprob(logprobs)
        elif self.method == "lowest_group":
            value = lowest_group_mean(logprobs, self.group_size)
        else:
            value = tail_mean(logprobs, self.group_size)
        return math.exp(min(value, 0.0))

    def __repr__(self) -> str:
        return f"ConfidenceScorer(method={self.method!r}, group_size={self.group_size})"
