"""Mixed formats: samples solved two ways (program-aided, then reasoning) vote together.

A sampler (``strategies.base.draw``) whose first ``first`` samples of each problem are solved with
``first_with`` (default "program": the model writes Python, ``tasks.program_answer``) and the rest with
``then_with`` (default "reasoning"). The two kinds err differently, so their votes can add up; whether a mix
beats more samples of the better kind depends on the model and task (docs/BENCHMARKS.md, "Mixed votes" and
the adaptive sections, measures both on gsm_symbolic).

Each format numbers its own samples from 0: sample ``first + j`` of a problem is the j-th ``then_with``
sample, drawn with the same prompt, seed and cache entry as sample j of a plain run in that format; so a mixed
run replays plain runs of both formats, and a later batch (early stopping) continues where it left off.

Compose it: ``self_consistency --sampler mixed --early-stop`` is a cascade, cheap program-aided samples first
and reasoning samples only while the vote has not settled. On its own (``--strategy mixed``) it is a majority
vote over ``n`` mixed samples. The task must offer both formats (``solving_with``: the math tasks do). In an
adaptive policy entry its first samples must be the task's own (``first_with`` = the task's solve_with, at
least the probe's number of them, no sampling overrides): the probe's samples stand in for them (see
``plain_prefix``); other entries are refused before the probe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ponder.errors import ConfigError
from ponder.strategies.base import (
    Context,
    filter_events,
    first_with_answer,
    guard,
    majority_vote,
    result,
    sample,
    sampling_params,
)
from ponder.strategies.depth_common import overrides
from ponder.tasks.base import Task
from ponder.tasks.math_answer import SOLVE_WITH
from ponder.types import Candidate, Problem, Result, SamplingParams, TraceEvent


@dataclass
class Mixed:
    """Samples in two formats (the first ``first`` with ``first_with``, the rest with ``then_with``)."""

    name: ClassVar[str] = "mixed"
    uses_scorer: ClassVar[bool] = False
    n: int = 8
    """Samples per problem when run on its own (a composing strategy asks for its own number)."""
    first: int = 4
    """How many of each problem's samples are solved with ``first_with`` before switching."""
    first_with: str = "program"
    then_with: str = "reasoning"
    temperature: float | None = None
    """Sampling temperature; None uses the composing strategy's (or the run's)."""
    max_tokens: int | None = None
    """Max tokens per sample; None uses the composing strategy's (or the run's)."""

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"mixed n must be an integer >= 1, got {self.n!r}")
        if isinstance(self.first, bool) or not isinstance(self.first, int) or self.first < 0:
            raise ConfigError(f"mixed first must be an integer >= 0, got {self.first!r}")
        for field in ("first_with", "then_with"):
            if getattr(self, field) not in SOLVE_WITH:
                raise ConfigError(f"mixed {field} must be one of {', '.join(SOLVE_WITH)}, got {getattr(self, field)!r}")
        if self.first_with == self.then_with:
            raise ConfigError(f"mixed first_with and then_with must differ, got {self.first_with!r} for both")

    def plain_prefix(self, task: object) -> int:
        """How many leading samples are plain samples of ``task`` (its own format, the run's sampling
        settings): the same as a plain run's first samples, so a probe's samples can stand in for them."""
        if self.temperature is not None or self.max_tokens is not None:
            return 0
        return self.first if getattr(task, "solve_with", None) == self.first_with else 0

    def work_units(self, n_problems: int) -> int:
        return n_problems * self.n

    def draw(self, problems: Sequence[Problem], ctx: Context, params: SamplingParams, n: int) -> list[list[Candidate]]:
        """Samples ``params.first_sample`` to ``params.first_sample + n - 1`` of each problem, in order."""
        params = overrides(params, self.temperature, self.max_tokens)
        start = params.first_sample
        head = max(0, min(self.first - start, n))
        out: list[list[Candidate]] = [[] for _ in problems]
        parts = ((self.first_with, start, head), (self.then_with, max(0, start - self.first), n - head))
        for solve_with, position, size in parts:
            if size == 0:
                continue
            sub = dataclasses.replace(ctx, task=_solving_with(ctx, solve_with))
            for slot, new in zip(out, sample(problems, sub, params.replace(first_sample=position), size), strict=True):
                slot.extend(new)
        return out

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        params = sampling_params(ctx, None, None, logprobs=False)
        drawn = self.draw(problems, ctx, params, self.n)
        head = max(0, min(self.first - params.first_sample, self.n))  # as in draw
        results = []
        for problem, batch in zip(problems, drawn, strict=True):
            candidates = list(guard(problem, batch, ctx))
            answer, votes = majority_vote(candidates, ctx.task)
            formats = {self.first_with: head, self.then_with: self.n - head}
            trace = [
                TraceEvent("sample", {"n": self.n, "formats": formats, "seed": params.seed}),
                *filter_events(candidates),
                TraceEvent("vote", {"votes": votes, "abstained": sum(c.answer is None for c in candidates)}),
            ]
            results.append(
                result(self, problem, ctx, answer, candidates, trace, first_with_answer(candidates, answer, ctx))
            )
        return results


def _solving_with(ctx: Context, solve_with: str) -> Task:
    """The run's task asking for ``solve_with`` (ConfigError when it has a single format)."""
    switch = getattr(ctx.task, "solving_with", None)
    if switch is None:
        raise ConfigError(f"the mixed sampler needs a task with several formats (solve_with); {ctx.task!r} has one")
    return switch(solve_with)  # type: ignore[no-any-return]
