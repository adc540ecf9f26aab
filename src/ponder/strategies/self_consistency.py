"""Self-consistency (Wang et al., 2022): sample N reasoning paths, majority-vote their final answers.

Candidates with no extractable answer abstain; filtered candidates do not vote. Ties go to the answer
whose first candidate came earliest (see ``majority_vote``). Budget: ``n`` samples per problem.
"""

from __future__ import annotations

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
)
from ponder.types import Problem, Result, TraceEvent


@dataclass
class SelfConsistency:
    """Majority vote over ``n`` sampled chains of thought."""

    name: ClassVar[str] = "self_consistency"
    n: int = 8
    """Samples per problem (the budget)."""
    temperature: float | None = None
    """Sampling temperature; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens per sample; None uses the run's default."""
    sampler: Any = None
    """A strategy that produces each candidate (e.g. budget_forcing); None = plain sampling."""

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"self_consistency n must be an integer >= 1, got {self.n!r}")

    def work_units(self, n_problems: int) -> int:
        return n_problems * self.n

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        params = sampling_params(ctx, self.temperature, self.max_tokens, logprobs=False)
        batches = draw(self.sampler, problems, ctx, params, self.n)
        results = []
        for problem, drawn in zip(problems, batches, strict=True):
            candidates = guard(problem, drawn, ctx)
            answer, votes = majority_vote(candidates, ctx.task)
            selected = first_with_answer(candidates, answer, ctx)
            trace = [
                TraceEvent("sample", {"n": self.n, "temperature": params.temperature, "seed": params.seed}),
                *filter_events(candidates),
                TraceEvent("vote", {"votes": votes, "abstained": sum(c.answer is None for c in candidates)}),
            ]
            results.append(result(self, problem, ctx, answer, candidates, trace, selected))
        return results
