"""Best-of-N: sample N candidates, score each with an OutcomeScorer, pick one.

- vanilla: the candidate with the highest score among those with an answer (an abstention only when no
  candidate answered; a missing or NaN score ranks last; ties: the earliest).
- weighted (Li et al. 2023; Snell et al. 2024): sum the scores of the candidates that share an answer and
  pick the answer with the largest total; needs non-negative scores (probabilities such as judge P(Yes)
  or confidence).
Filtered candidates are scored (for the trace) but never chosen. Budget: ``n`` samples per problem plus
the scorer's own cost, which the meter charges to the same problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ponder.errors import ConfigError
from ponder.strategies.base import (
    Context,
    draw,
    filter_events,
    first_with_answer,
    guard,
    majority_vote,
    result,
    sampling_params,
    score_candidates,
    vote_weights,
)
from ponder.types import Candidate, Problem, Result, TraceEvent


@dataclass
class BestOfN:
    """Pick the best of ``n`` samples by a scorer (vanilla) or by summed scores per answer (weighted)."""

    name: ClassVar[str] = "best_of_n"
    n: int = 8
    """Samples per problem (the budget)."""
    weighted: bool = False
    """Sum scores per answer (weighted best-of-N) instead of taking the single best candidate."""
    temperature: float | None = None
    """Sampling temperature; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens per sample; None uses the run's default."""
    sampler: Any = None
    """A strategy that produces each candidate (e.g. budget_forcing); None = plain sampling."""

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"best_of_n n must be an integer >= 1, got {self.n!r}")

    def work_units(self, n_problems: int) -> int:
        return n_problems * self.n

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        if ctx.scorer is None:
            raise ConfigError("best_of_n needs a scorer: pass --scorer judge|confidence|rule")
        params = sampling_params(ctx, self.temperature, self.max_tokens, logprobs=ctx.scorer.needs_logprobs)
        batches = draw(self.sampler, problems, ctx, params, self.n)
        results = []
        for problem, drawn in zip(problems, batches, strict=True):
            candidates = score_candidates(problem, guard(problem, drawn, ctx), ctx)
            answer, selected, pick = self._select(candidates, ctx)
            trace = [
                TraceEvent("sample", {"n": self.n, "temperature": params.temperature, "seed": params.seed}),
                *filter_events(candidates),
                TraceEvent("score", {"scorer": ctx.scorer.name, "scores": [c.score for c in candidates]}),
                pick,
            ]
            results.append(result(self, problem, ctx, answer, candidates, trace, selected))
        return results

    def _select(self, candidates: Sequence[Candidate], ctx: Context) -> tuple[str | None, int | None, TraceEvent]:
        kept = [i for i, c in enumerate(candidates) if c.filtered is None]
        if not self.weighted:
            if not kept:
                return None, None, TraceEvent("select", {"rule": "max_score", "selected": None})
            best = max(kept, key=lambda i: (candidates[i].answer is not None, _finite(candidates[i].score), -i))
            return candidates[best].answer, best, TraceEvent("select", {"rule": "max_score", "selected": best})
        weights = vote_weights(candidates, "weighted best_of_n")
        answer, totals = majority_vote(candidates, ctx.task, weights)
        selected = first_with_answer(candidates, answer, ctx)
        return answer, selected, TraceEvent("select", {"rule": "weighted_vote", "totals": totals})


def _finite(score: float | None) -> float:
    """A score to rank by: a missing or NaN score ranks below every real one (scores may be negative)."""
    return -math.inf if score is None or math.isnan(score) else score
