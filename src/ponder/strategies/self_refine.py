"""Self-Refine (Madaan et al., 2023): draft, get feedback on it, revise, repeat.

Each round, every live chain gets feedback on its newest version, either from the model itself (a critique
prompt) or, with ``feedback="scorer"``, from the run's scorer, whose verdict is turned into text. The model
then revises with that feedback (and the ``history`` rounds before it) in context. A chain stops when:
its newest version scores >= ``threshold`` (needs a scorer); the feedback is empty (the round ends, it is
not an error) or contains ``stop_phrase``; a revision is empty (it is discarded); a revision keeps the
answer of the version it revised (``stop_when_unchanged``); or after ``rounds`` rounds.

Candidates are all versions, oldest first. The final pick is the newest version; when the run has a scorer,
every version is scored and the best-scored one wins (ties: the newest), since a revision can make things
worse. The first draft is one sample, or the chosen candidate of the ``initial`` strategy (refine the winner
of e.g. best-of-N or beam search). As a sampler (``draw``), n chains per problem are refined in the same
batched calls and each contributes its pick. Budget: at most ``1 + 2 * rounds`` generations per chain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ponder.errors import ConfigError
from ponder.strategies.base import Context, draw, sampling_params, to_candidate
from ponder.strategies.depth_common import (
    Chain,
    by_problem,
    chain_results,
    chains_for,
    check_choice,
    check_int,
    check_text,
    check_threshold,
    conversation,
    generate,
    overrides,
    pick_best,
    pick_last,
    same_answer,
    score_latest,
    unscored,
)
from ponder.types import Candidate, Problem, Result, SamplingParams, TraceEvent

FEEDBACK_PROMPT = (
    "Check the solution above step by step for mistakes in its reasoning or calculations. For each mistake, "
    "say what is wrong and how to fix it. Do not write a new solution. If there are no mistakes, reply only "
    "with: {stop_phrase}"
)
"""Asks the model to critique its newest version (``{stop_phrase}`` is filled in)."""
REVISE_PROMPT = (
    "Feedback on your solution:\n{feedback}\n\nWrite an improved solution that fixes the issues in the "
    "feedback. Give the complete solution again, with the final answer in the form the problem asks for."
)
"""Follows each version shown to the model when it revises (``{feedback}`` is filled in)."""
SCORER_FEEDBACK = (
    "A verifier rated this solution {score:.2f} (higher is better){bar}. It is probably wrong somewhere: "
    "find the step most likely to be wrong and fix it."
)
"""The scorer's verdict as feedback text (``feedback="scorer"``)."""


@dataclass
class SelfRefine:
    """Iterative self-feedback and revision of one draft per problem."""

    name: ClassVar[str] = "self_refine"
    rounds: int = 2
    """Most feedback -> revision rounds per problem (the budget)."""
    feedback: str = "model"
    """Who gives feedback: "model" (the policy critiques itself) or "scorer" (the run's scorer, as text)."""
    threshold: float | None = None
    """Stop refining once the scorer rates the newest version >= this (needs a scorer); None = never."""
    stop_phrase: str = "NO ISSUES"
    """Model feedback containing this (any case) means nothing to fix: the chain ends."""
    stop_when_unchanged: bool = True
    """End a chain when a revision keeps the answer of the version it revised."""
    history: int = 1
    """Earlier (version, feedback) rounds shown when revising, newest last; 1 = only the newest."""
    temperature: float | None = None
    """Sampling temperature of drafts, feedback and revisions; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens per generation; None uses the run's default."""
    initial: Any = None
    """A strategy whose chosen candidate is the first draft (refine the winner); None = one plain sample."""

    def __post_init__(self) -> None:
        check_int("self_refine", "rounds", self.rounds, 0)
        check_int("self_refine", "history", self.history, 1)
        check_choice("self_refine", "feedback", self.feedback, ("model", "scorer"))
        check_threshold("self_refine", self.threshold)
        check_text("self_refine", "stop_phrase", self.stop_phrase)
        if self.initial is not None and not hasattr(self.initial, "run"):
            raise ConfigError(f"self_refine initial must be a strategy or None, got {self.initial!r}")

    def work_units(self, n_problems: int) -> int:
        return n_problems * (1 + self.rounds)

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        params = sampling_params(ctx, self.temperature, self.max_tokens, self._logprobs(ctx))
        chains = self._refine(problems, ctx, params, 1, tick=len(problems))
        rule = "max_score" if ctx.scorer is not None else "last"
        return chain_results(self, problems, ctx, chains, lambda cands: self._pick(cands, ctx), rule)

    def draw(self, problems: Sequence[Problem], ctx: Context, params: SamplingParams, n: int) -> list[list[Candidate]]:
        """``n`` refined candidates per problem (n chains refined side by side), for composition."""
        chains = self._refine(problems, ctx, overrides(params, self.temperature, self.max_tokens), n, tick=0)
        ctx.advance(len(problems) * n)
        out = []
        for group in by_problem(problems, chains):
            out.append([unscored(c.versions[self._pick(c.versions, ctx) or 0]) for c in group])
        return out

    def _logprobs(self, ctx: Context) -> bool:
        return ctx.scorer is not None and bool(getattr(ctx.scorer, "needs_logprobs", False))

    def _pick(self, candidates: Sequence[Candidate], ctx: Context) -> int | None:
        return pick_best(candidates) if ctx.scorer is not None else pick_last(candidates)

    def _refine(
        self, problems: Sequence[Problem], ctx: Context, params: SamplingParams, n: int, tick: int
    ) -> list[Chain]:
        if ctx.scorer is None and (self.feedback == "scorer" or self.threshold is not None):
            raise ConfigError("self_refine with feedback='scorer' or a threshold needs a scorer (e.g. --scorer judge)")
        quiet = dataclasses.replace(ctx, progress=None)
        source = self.initial.name if self.initial is not None else "sample"
        chains = chains_for(problems, draw(self.initial, problems, quiet, params, n), "draft", source=source)
        if ctx.scorer is not None:
            score_latest(ctx, chains)
        ctx.advance(tick)
        for rnd in range(1, self.rounds + 1):
            live = self._still_good(chains, rnd)
            if live:
                self._feedback(live, ctx, params, rnd)
                self._revise([c for c in live if c.live], ctx, params, rnd)
            ctx.advance(tick)
        return chains

    def _still_good(self, chains: Sequence[Chain], rnd: int) -> list[Chain]:
        """The live chains, after stopping those whose newest version already scores >= threshold."""
        for chain in chains:
            score = chain.versions[-1].score
            if chain.live and self.threshold is not None and score is not None and score >= self.threshold:
                chain.stop("score >= threshold", round=rnd, score=score, threshold=self.threshold)
        return [c for c in chains if c.live]

    def _feedback(self, chains: Sequence[Chain], ctx: Context, params: SamplingParams, rnd: int) -> None:
        if self.feedback == "scorer":
            texts = [self._verdict(c.versions[-1].score) for c in chains]
        else:
            ask = FEEDBACK_PROMPT.format(stop_phrase=self.stop_phrase)
            prompts = [
                conversation(ctx, c.problem, [("assistant", c.versions[-1].text), ("user", ask)]) for c in chains
            ]
            texts = [comp.text for comp in generate(ctx, chains, prompts, params)]
        for chain, text in zip(chains, texts, strict=True):
            chain.notes.append(text)
            chain.trace.append(TraceEvent("feedback", {"round": rnd, "source": self.feedback, "text": text}))
            if not text.strip():
                chain.stop("empty feedback", round=rnd)
            elif self.feedback == "model" and self.stop_phrase.lower() in text.lower():
                chain.stop("feedback found no issues", round=rnd)

    def _verdict(self, score: float | None) -> str:
        bar = "" if self.threshold is None else f", below the bar of {self.threshold:g}"
        return SCORER_FEEDBACK.format(score=score if score is not None else float("nan"), bar=bar)

    def _revise(self, chains: Sequence[Chain], ctx: Context, params: SamplingParams, rnd: int) -> None:
        prompts = [conversation(ctx, c.problem, self._turns(c)) for c in chains]
        revised = []
        for chain, comp in zip(chains, generate(ctx, chains, prompts, params), strict=True):
            cand = to_candidate(comp, ctx.task)
            if not cand.text.strip():
                chain.trace.append(TraceEvent("revision", {"round": rnd, "candidate": None, "text": cand.text}))
                chain.stop("empty revision", round=rnd)
                continue
            previous = chain.versions[-1]
            chain.add(cand, "revision", round=rnd, sees=len(chain.versions) - 1)
            revised.append(chain)
            if self.stop_when_unchanged and same_answer(ctx, previous, cand):
                chain.stop("answer unchanged", round=rnd)
        if ctx.scorer is not None and revised:
            score_latest(ctx, revised)

    def _turns(self, chain: Chain) -> list[tuple[Any, str]]:
        """The conversation the revision continues: the last ``history`` versions, each with its feedback."""
        turns: list[tuple[Any, str]] = []
        for version, note in list(zip(chain.versions, chain.notes, strict=False))[-self.history :]:
            turns += [("assistant", version.text), ("user", REVISE_PROMPT.format(feedback=note.strip()))]
        return turns
