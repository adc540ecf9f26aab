"""Self-consistency (Wang et al., 2022): sample N reasoning paths, majority-vote their final answers.

Candidates with no extractable answer abstain; filtered candidates do not vote. Ties go to the answer
whose first candidate came earliest (see ``majority_vote``). Budget: ``n`` samples per problem.

``early_stop`` (Adaptive-Consistency, Aggarwal et al. 2023): sample ``batch`` at a time and stop a problem
once its leading answer cannot be overtaken by the samples left, or once the Beta posterior probability
that it is the majority of the top two answers reaches ``confidence`` (see ``adaptive.stopping``). Easy
questions then cost a few samples instead of ``n``; a "stop" trace event says after how many samples and
why. The first batch uses the run's seed (its samples are the first samples of a plain run); each later
batch derives its own seed from its first sample's index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ponder.adaptive.stopping import Decision, batch_params, decide
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
from ponder.types import Candidate, Problem, Result, SamplingParams, TraceEvent


@dataclass
class SelfConsistency:
    """Majority vote over ``n`` sampled chains of thought (optionally stopping early)."""

    name: ClassVar[str] = "self_consistency"
    uses_scorer: ClassVar[bool] = False
    """It never calls the run's scorer (reports leave the scorer out of its label)."""
    n: int = 8
    """Samples per problem (the budget; with early_stop, the most)."""
    temperature: float | None = None
    """Sampling temperature; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens per sample; None uses the run's default."""
    sampler: Any = None
    """A strategy that produces each candidate (e.g. budget_forcing); None = plain sampling."""
    early_stop: bool = False
    """Sample in batches and stop once the leader is unassailable or confident (Adaptive-Consistency)."""
    confidence: float | None = 0.95
    """early_stop: stop once P(leader is the majority of the top two) >= this; None = only when unassailable."""
    batch: int = 2
    """early_stop: samples drawn per round."""

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"self_consistency n must be an integer >= 1, got {self.n!r}")
        if self.confidence is not None and not 0.5 < self.confidence <= 1:
            raise ConfigError(f"self_consistency confidence must be in (0.5, 1] or None, got {self.confidence!r}")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ConfigError(f"self_consistency batch must be an integer >= 1, got {self.batch!r}")

    def work_units(self, n_problems: int) -> int:
        return n_problems * self.n

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        params = sampling_params(ctx, self.temperature, self.max_tokens, logprobs=False)
        stops: list[Decision | None] = [None] * len(problems)
        if self.early_stop:
            drawn, stops = self._sample_until_settled(problems, ctx, params)
        else:
            batches = draw(self.sampler, problems, ctx, params, self.n)
            drawn = [list(guard(p, b, ctx)) for p, b in zip(problems, batches, strict=True)]
        results = []
        for problem, candidates, stop in zip(problems, drawn, stops, strict=True):
            answer, votes = majority_vote(candidates, ctx.task)
            selected = first_with_answer(candidates, answer, ctx)
            trace = [
                TraceEvent("sample", {"n": len(candidates), "temperature": params.temperature, "seed": params.seed}),
                *filter_events(candidates),
                TraceEvent("vote", {"votes": votes, "abstained": sum(c.answer is None for c in candidates)}),
            ]
            if stop is not None:
                trace.append(_stop_event(stop, self.n, self.confidence))
            results.append(result(self, problem, ctx, answer, candidates, trace, selected))
        return results

    def _sample_until_settled(
        self, problems: Sequence[Problem], ctx: Context, params: SamplingParams
    ) -> tuple[list[list[Candidate]], list[Decision | None]]:
        """Batches of samples for the problems still open, until each one stops or has ``n`` samples."""
        drawn: list[list[Candidate]] = [[] for _ in problems]
        decisions: list[Decision | None] = [None] * len(problems)
        start = 0
        while start < self.n:
            open_ = [i for i, d in enumerate(decisions) if d is None or not d.stop]
            if not open_:
                break
            size = min(self.batch, self.n - start)
            batch = draw(self.sampler, [problems[i] for i in open_], ctx, batch_params(params, start), size)
            start += size
            for i, new in zip(open_, batch, strict=True):
                drawn[i].extend(guard(problems[i], new, ctx))
                decisions[i] = self._decide(drawn[i], start, ctx)
        skipped = sum(self.n - len(c) for c in drawn)
        ctx.advance(skipped)  # progress bars count n per problem; stopped problems finish early
        return drawn, decisions

    def _decide(self, candidates: Sequence[Candidate], seen: int, ctx: Context) -> Decision:
        _, votes = majority_vote(candidates, ctx.task)
        if seen >= self.n:
            last = decide(list(votes.values()), True, seen, self.n, None)
            return Decision(True, "n", last.seen, last.leader_votes, last.runner_up_votes, last.p_majority)
        names = list(votes)  # ordered by (-votes, first index): the leader first
        leader_first = len(names) < 2 or _first(candidates, names[0], ctx) < _first(candidates, names[1], ctx)
        return decide(list(votes.values()), leader_first, seen, self.n, self.confidence)


def _first(candidates: Sequence[Candidate], answer: str, ctx: Context) -> int:
    found = first_with_answer(candidates, answer, ctx)
    return len(candidates) if found is None else found


def _stop_event(d: Decision, n: int, confidence: float | None) -> TraceEvent:
    lead, left = d.leader_votes - d.runner_up_votes, n - d.seen
    verb = "exceeds" if lead > left else "equals (and ties go to the leader, seen first)"
    why = {
        "unassailable": f"the leader's lead of {lead} {verb} what {left} remaining samples could overturn",
        "beta": f"P(leader is the majority) = {d.p_majority:.3f} >= confidence {confidence}",
        "n": f"all {n} samples drawn without the leader settling",
    }[d.reason]
    data = {"after": d.seen, "of": n, "reason": d.reason, "why": why}
    data |= {"leader_votes": d.leader_votes, "runner_up_votes": d.runner_up_votes, "p_majority": d.p_majority}
    return TraceEvent("stop", data)
