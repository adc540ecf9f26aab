"""Chain-of-thought: one greedy reasoning path (zero-shot, or few-shot with the task's worked examples).

Zero-shot CoT asks the model to think step by step; few-shot CoT (Wei et al., 2022) prepends ``few_shot``
worked examples from the task. The cheapest baseline every other strategy is measured against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ponder.errors import ConfigError
from ponder.strategies.base import Context, filter_events, guard, result, sampling_params, to_candidate
from ponder.types import Problem, Result, TraceEvent


@dataclass
class ChainOfThought:
    """A single greedy chain of thought."""

    name: ClassVar[str] = "cot"
    uses_scorer: ClassVar[bool] = False
    """It never calls the run's scorer (reports leave the scorer out of its label)."""
    few_shot: int = 0
    """Worked examples to show before the question (0 = zero-shot)."""
    temperature: float = 0.0
    """0 = greedy."""
    max_tokens: int | None = None
    """Max tokens; None uses the run's default."""

    def __post_init__(self) -> None:
        if not isinstance(self.few_shot, int) or self.few_shot < 0:
            raise ConfigError(f"cot few_shot must be an integer >= 0, got {self.few_shot!r}")

    def work_units(self, n_problems: int) -> int:
        return n_problems

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        params = sampling_params(ctx, self.temperature, self.max_tokens, logprobs=False)
        prompts = [ctx.backend.render(ctx.task.messages(p, few_shot=self.few_shot)) for p in problems]
        generations = ctx.backend.generate(prompts, params, 1, tags=[p.id for p in problems])
        ctx.advance(len(problems))
        results = []
        for problem, gen in zip(problems, generations, strict=True):
            candidates = guard(problem, [to_candidate(gen.completions[0], ctx.task)], ctx)
            kept = candidates[0].filtered is None
            trace = [TraceEvent("sample", {"n": 1, "few_shot": self.few_shot}), *filter_events(candidates)]
            answer = candidates[0].answer if kept else None
            results.append(result(self, problem, ctx, answer, candidates, trace, 0 if kept else None))
        return results
