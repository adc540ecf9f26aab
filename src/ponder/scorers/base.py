"""Scorer protocols and step-score aggregation.

An OutcomeScorer rates whole candidate solutions, a ProcessScorer rates each step of each candidate; both
work without ground truth (only Task grades against it). Scorers that run a model receive a Metered backend,
so their compute is charged with everything else. ``aggregate`` folds step scores into one number.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Literal, Protocol, runtime_checkable

from ponder.errors import ConfigError, ScorerError
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
    """Rates every step of every candidate; ``candidates[i]`` is the list of steps of candidate i.

    A scorer may also accept a keyword ``prompt``: the rendered generation prompt the steps continue, which
    search strategies pass (through ``score_steps`` below) so a model-based scorer can continue the policy's
    own sequence and reuse its cached prefix. Scorers without that keyword are called without it.
    """

    def score_steps(self, problem: Problem, candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        raise NotImplementedError  # protocol


def score_steps(
    scorer: ProcessScorer, problem: Problem, candidates: Sequence[Sequence[str]], prompt: str | None = None
) -> list[list[float]]:
    """``scorer.score_steps``, given ``prompt`` when the scorer's signature takes it."""
    if prompt is not None and _takes_prompt(scorer.score_steps):
        return scorer.score_steps(problem, candidates, prompt=prompt)  # type: ignore[call-arg]
    return scorer.score_steps(problem, candidates)


def _takes_prompt(method: Callable[..., object]) -> bool:
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "prompt" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def aggregate(step_scores: Sequence[float], how: str = "min") -> float:
    """Fold step scores into one: min (weakest step), prod (all steps right), last, or mean. No step scores,
    or a NaN among them, is a scorer's failure (ScorerError), not a score."""
    if how not in AGGREGATIONS:
        raise ConfigError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    if not step_scores:
        raise ScorerError("cannot aggregate an empty list of step scores")
    if any(math.isnan(s) for s in step_scores):
        raise ScorerError(f"step scores must be numbers, got {list(step_scores)!r}")
    if how == "min":
        return min(step_scores)
    if how == "prod":
        return math.prod(step_scores)
    if how == "last":
        return step_scores[-1]
    return sum(step_scores) / len(step_scores)
