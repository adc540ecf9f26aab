"""Scorer protocols and step-score aggregation.

An OutcomeScorer rates whole candidate solutions, a ProcessScorer rates each step of each candidate; both
work without ground truth (only Task grades against it). Scorers that run a model receive a Metered backend,
so their compute is charged with everything else. ``aggregate`` folds step scores into one number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from ponder.errors import ConfigError
from ponder.types import Candidate, Problem

Aggregation = Literal["min", "prod", "last", "mean"]
AGGREGATIONS: tuple[str, ...] = ("min", "prod", "last", "mean")


@runtime_checkable
class OutcomeScorer(Protocol):
    """Rates complete candidate solutions of one problem; higher is better.

    Candidates (not bare strings) are passed so a scorer can use the extracted answer and, where the
    backend gave them, the sampled tokens' logprobs (``needs_logprobs`` asks strategies to request them).
    """

    name: str
    needs_logprobs: bool

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        raise NotImplementedError  # protocol


@runtime_checkable
class ProcessScorer(Protocol):
    """Rates every step of every candidate; ``candidates[i]`` is the list of steps of candidate i."""

    def score_steps(self, problem: Problem, candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        raise NotImplementedError  # protocol


def aggregate(step_scores: Sequence[float], how: str = "min") -> float:
    """Fold step scores into one: min (weakest step), prod (all steps right), last, or mean."""
    if how not in AGGREGATIONS:
        raise ConfigError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    if not step_scores:
        raise ConfigError("cannot aggregate an empty list of step scores")
    if how == "min":
        return min(step_scores)
    if how == "prod":
        return math.prod(step_scores)
    if how == "last":
        return step_scores[-1]
    return sum(step_scores) / len(step_scores)
