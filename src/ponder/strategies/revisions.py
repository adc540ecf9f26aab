"""Sequential revisions with parallel chains (Snell et al., 2024), selected across every revision.

``n`` attempts per problem are spent as ``parallel`` independent chains of ``sequential`` attempts each
(n = parallel x sequential; give n and sequential and parallel is derived, e.g. n=16, sequential=4 ->
4 chains of 4). A chain starts with a plain sample; each later attempt is a revision that sees the
``context_window`` most recent attempts of its own chain (never other chains), appended to the question.

The final answer is chosen across ALL attempts of all chains, never just the last ones: Snell et al. found
that revising also turns correct answers wrong (38% of them with their model). ``select``: "majority"
(plain vote; abstentions and filtered attempts do not vote), "weighted" (votes weighted by the run's
scorer, as in weighted best-of-N) or "best" (the single highest-scored attempt, ties: the newest).
Candidates are listed chain by chain, oldest attempt first. Budget: ``n`` generations per problem, in
``sequential`` batched calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

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
    score_candidates,
    to_candidate,
    vote_weights,
)
from ponder.strategies.depth_common import Chain, check_choice, check_int, conversation, generate, pick_best
from ponder.types import Candidate, Completion, Problem, Result, SamplingParams, TraceEvent

REVISION_NOTE = (
    "Here are your previous attempts at this problem. They may contain mistakes.\n\n{attempts}\n\n"
    "Write a new, complete solution. Check the earlier attempts for mistakes and do not repeat them."
)
"""Appended to the question of a revision (``{attempts}``: the attempts in its context window)."""


@dataclass
class Revisions:
    """``parallel`` chains of ``sequential`` revisions each; pick across all attempts."""

    name: ClassVar[str] = "revisions"
    n: int | None = 16
    """Attempts per problem in all (the budget) = parallel x sequential; None = parallel x sequential."""
    sequential: int = 4
    """Attempts per chain: one sample, then sequential - 1 revisions."""
    parallel: int | None = None
    """Independent chains per problem; None = n / sequential (n must then be a multiple of sequential)."""
    context_window: int = 4
    """How many of its chain's most recent attempts a revision sees; 0 = none (independent samples)."""
    select: str = "majority"
    """Final pick over all attempts: "majority", "weighted" (scorer-weighted vote) or "best" (top score)."""
    temperature: float | None = None
    """Sampling temperature; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens per attempt; None uses the run's default."""

    def __post_init__(self) -> None:
        check_int("revisions", "sequential", self.sequential, 1)
        if self.parallel is not None:
            check_int("revisions", "parallel", self.parallel, 1)
        if self.n is None:
            if self.parallel is None:
                raise ConfigError("revisions needs n or parallel, got neither")
            self.n = self.parallel * self.sequential
        check_int("revisions", "n", self.n, 1)
        if self.parallel is None:
            if self.n % self.sequential:
                raise ConfigError(
                    f"revisions n={self.n} is not a multiple of sequential={self.sequential}; n = parallel x sequential"
                )
            self.parallel = self.n // self.sequential
        if self.parallel * self.sequential != self.n:
            raise ConfigError(
                f"revisions needs n = parallel x sequential, got n={self.n}, "
                f"parallel={self.parallel}, sequential={self.sequential}"
            )
        check_int("revisions", "context_window", self.context_window, 0)
        check_choice("revisions", "select", self.select, ("majority", "weighted", "best"))

    def work_units(self, n_problems: int) -> int:
        return n_problems * (self.n or 0)

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        if self.select != "majority" and ctx.scorer is None:
            raise ConfigError(f"revisions select={self.select!r} needs a scorer (e.g. --scorer judge)")
        wants = self.select != "majority" and bool(getattr(ctx.scorer, "needs_logprobs", False))
        params = sampling_params(ctx, self.temperature, self.max_tokens, logprobs=wants)
        chains = self._chains(problems, ctx, params)
        per_problem = len(chains) // max(1, len(problems))
        results = []
        for i, problem in enumerate(problems):
            mine = chains[i * per_problem : (i + 1) * per_problem]
            results.append(self._finish(problem, mine, ctx))
        return results

    def _chains(self, problems: Sequence[Problem], ctx: Context, params: SamplingParams) -> list[Chain]:
        """Grow every chain of every problem, one batched call per step."""
        parallel = self.parallel or 1
        quiet = dataclasses.replace(ctx, progress=None)
        chains = []
        for i, (problem, drawn) in enumerate(zip(problems, sample(problems, quiet, params, parallel), strict=True)):
            for j, cand in enumerate(drawn):
                chains.append(Chain(problem, i, j, [cand], [self._event(j, 1, cand, [])]))
        ctx.advance(len(chains))
        for step in range(2, self.sequential + 1):
            windows = [self._window(c) for c in chains]
            prompts = [conversation(ctx, c.problem, [], self._note(c, w)) for c, w in zip(chains, windows, strict=True)]
            revised = self._revise(ctx, chains, prompts, params, step, parallel)
            for k, (chain, comp) in enumerate(zip(chains, revised, strict=True)):
                cand = to_candidate(comp, ctx.task)
                seen = [(k % parallel) * self.sequential + w for w in windows[k]]
                chain.versions.append(cand)
                chain.trace.append(self._event(k % parallel, step, cand, seen))
            ctx.advance(len(chains))
        return chains

    def _revise(
        self, ctx: Context, chains: list[Chain], prompts: list[str], params: SamplingParams, step: int, parallel: int
    ) -> list[Completion]:
        """One revision per chain. Step ``step`` draws samples (step - 1) * parallel + chain on (the drafts are
        samples 0 .. parallel - 1), so no two attempts share a seed; with context_window=0 the chains of a
        problem share one prompt, asked once for ``parallel`` samples."""
        tail = params.replace(first_sample=params.first_sample + (step - 1) * parallel)
        if self.context_window:
            return generate(ctx, chains, prompts, tail)
        heads = list(range(0, len(chains), parallel))
        tags = [chains[k].problem.id for k in heads]
        gens = ctx.backend.generate([prompts[k] for k in heads], tail, parallel, tags=tags)
        return [c for g in gens for c in g.completions]

    def _window(self, chain: Chain) -> list[int]:
        """Chain-local indices of the attempts a revision sees."""
        start = max(0, len(chain.versions) - self.context_window) if self.context_window else len(chain.versions)
        return list(range(start, len(chain.versions)))

    def _note(self, chain: Chain, window: Sequence[int]) -> str:
        if not window:
            return ""
        blocks = [f"Attempt {i + 1}:\n{chain.versions[i].text.strip()}" for i in window]
        return REVISION_NOTE.format(attempts="\n\n---\n\n".join(blocks))

    def _event(self, chain: int, step: int, cand: Candidate, seen: list[int]) -> TraceEvent:
        data: dict[str, Any] = {"chain": chain, "step": step, "candidate": chain * self.sequential + step - 1}
        data |= {"answer": cand.answer, "text": cand.text}
        return TraceEvent("draft", data) if step == 1 else TraceEvent("revision", {**data, "sees": seen})

    def _finish(self, problem: Problem, chains: Sequence[Chain], ctx: Context) -> Result:
        candidates = guard(problem, [v for c in chains for v in c.versions], ctx)
        trace = [e for c in chains for e in c.trace] + filter_events(candidates)
        if self.select == "majority":
            answer, votes = majority_vote(candidates, ctx.task)
            selected = first_with_answer(candidates, answer, ctx)
            abstained = sum(c.answer is None for c in candidates)
            trace.append(TraceEvent("vote", {"votes": votes, "abstained": abstained}))
            return result(self, problem, ctx, answer, candidates, trace, selected)
        candidates = score_candidates(problem, candidates, ctx)
        trace.append(TraceEvent("score", {"scores": [c.score for c in candidates]}))
        if self.select == "best":
            selected = pick_best(candidates)
            answer = candidates[selected].answer if selected is not None else None
            trace.append(TraceEvent("select", {"rule": "max_score", "selected": selected}))
            return result(self, problem, ctx, answer, candidates, trace, selected)
        weights = vote_weights(candidates, "revisions select='weighted'")
        answer, totals = majority_vote(candidates, ctx.task, weights)
        trace.append(TraceEvent("select", {"rule": "weighted_vote", "totals": totals}))
        return result(self, problem, ctx, answer, candidates, trace, first_with_answer(candidates, answer, ctx))
