"""Reflexion (Shinn et al., 2023): retry a failed attempt with the model's own lessons in memory.

After each attempt a verifier judges it. With ``verifier="auto"`` that is the run's scorer when it has one
(an attempt passes when it scores >= ``threshold``; e.g. unit tests for code, a judge for math), else the
task's rule: an attempt fails when no final answer can be extracted from it. On failure the model writes a
short reflection (what went wrong, what to do instead) that goes into an episodic memory; the next attempt
sees the ``memory`` most recent reflections appended to the question. Empty reflections are not stored.
A problem stops at its first passing attempt or after ``attempts`` attempts.

Candidates are all attempts. The pick: the best-scored attempt under a scorer (the passing one, if any),
else the newest attempt with an answer. Budget: at most ``attempts`` attempts and ``attempts - 1``
reflections per problem, plus the scorer's cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ponder.errors import ConfigError
from ponder.strategies.base import Context, sampling_params, to_candidate
from ponder.strategies.depth_common import (
    Chain,
    chain_results,
    check_choice,
    check_int,
    check_threshold,
    conversation,
    generate,
    pick_answered,
    pick_best,
    score_latest,
)
from ponder.types import Problem, Result, SamplingParams, TraceEvent

REFLECT_PROMPT = (
    "Your solution above was judged wrong: {reason}. In a few sentences, explain what most likely went "
    "wrong and give a short plan to avoid that mistake next time. Do not solve the problem again."
)
"""Asks for a reflection on a failed attempt (``{reason}`` is filled in)."""
MEMORY_NOTE = (
    "Lessons from your earlier failed attempts at this problem:\n{lessons}\n"
    "Use them to avoid repeating the same mistakes."
)
"""Appended to the question of a retry (``{lessons}``: the numbered reflections in memory)."""
NO_ANSWER = "it does not end with a final answer in the required form"
"""The rule verifier's reason for a failed attempt."""


@dataclass
class Reflexion:
    """Attempt, verify, reflect on failure, retry with the reflections in memory."""

    name: ClassVar[str] = "reflexion"
    attempts: int = 3
    """Most attempts per problem (the budget)."""
    verifier: str = "auto"
    """"auto" (the run's scorer if any, else the rule), "scorer", or "rule" (fails without an answer)."""
    threshold: float = 0.5
    """An attempt passes when the scorer rates it >= this."""
    memory: int = 3
    """How many of the most recent reflections a retry sees."""
    temperature: float | None = None
    """Sampling temperature; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens per attempt and reflection; None uses the run's default."""

    def __post_init__(self) -> None:
        check_int("reflexion", "attempts", self.attempts, 1)
        check_int("reflexion", "memory", self.memory, 1)
        check_choice("reflexion", "verifier", self.verifier, ("auto", "scorer", "rule"))
        check_threshold("reflexion", self.threshold)
        if self.threshold is None:
            raise ConfigError("reflexion threshold must be a number, got None")

    def work_units(self, n_problems: int) -> int:
        return n_problems * self.attempts

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        if self.verifier == "scorer" and ctx.scorer is None:
            raise ConfigError("reflexion verifier='scorer' needs a scorer (e.g. --scorer judge)")
        by_scorer = ctx.scorer is not None and self.verifier != "rule"
        params = sampling_params(ctx, self.temperature, self.max_tokens, logprobs=by_scorer and self._logprobs(ctx))
        chains = [Chain(p, i) for i, p in enumerate(problems)]
        for k in range(1, self.attempts + 1):
            live = [c for c in chains if c.live]
            self._attempt(live, ctx, params, k)
            failed = self._verify(live, ctx, by_scorer, k)
            passed = len(live) - len(failed)
            ctx.advance(len(live) + passed * (self.attempts - k))
            if k < self.attempts:
                self._reflect(failed, ctx, params, k)
        pick, rule = (pick_best, "max_score") if by_scorer else (pick_answered, "newest_with_answer")
        return chain_results(self, problems, ctx, chains, pick, rule)

    @staticmethod
    def _logprobs(ctx: Context) -> bool:
        return bool(getattr(ctx.scorer, "needs_logprobs", False))

    def _attempt(self, chains: Sequence[Chain], ctx: Context, params: SamplingParams, k: int) -> None:
        """One new attempt per chain, each seeing its most recent reflections; retries get fresh seeds."""
        shown = [c.notes[-self.memory :] for c in chains]
        notes = [_memory_note(lessons) for lessons in shown]
        prompts = [conversation(ctx, c.problem, [], note) for c, note in zip(chains, notes, strict=True)]
        if k > 1 and params.seed is not None:
            params = params.replace(seed=params.sample_seed(k))
        for chain, comp, lessons in zip(chains, generate(ctx, chains, prompts, params), shown, strict=True):
            chain.add(to_candidate(comp, ctx.task), "attempt", attempt=k, memory=list(lessons))

    def _verify(self, chains: Sequence[Chain], ctx: Context, by_scorer: bool, k: int) -> list[tuple[Chain, str]]:
        """Judge each chain's newest attempt; the failed chains with the reason (the others are stopped)."""
        if by_scorer:
            score_latest(ctx, chains)
        failed = []
        for chain in chains:
            latest = chain.versions[-1]
            if by_scorer:
                score = latest.score if latest.score is not None else float("-inf")
                passed = score >= self.threshold
                reason = f"a verifier rated it {score:.2f}, below {self.threshold:g}"
            else:
                passed, reason = latest.answer is not None, NO_ANSWER
            verdict = {"attempt": k, "passed": passed, "verifier": "scorer" if by_scorer else "rule"}
            chain.trace.append(TraceEvent("verdict", verdict if passed else {**verdict, "reason": reason}))
            if passed:
                chain.stop("passed", attempt=k)
                continue
            failed.append((chain, reason))
            if k == self.attempts:
                chain.stop("out of attempts", attempt=k)
        return failed

    def _reflect(self, failed: Sequence[tuple[Chain, str]], ctx: Context, params: SamplingParams, k: int) -> None:
        """Ask each failed chain for a reflection; store the non-empty ones in its memory."""
        chains = [chain for chain, _ in failed]
        prompts = []
        for chain, reason in failed:
            ask = REFLECT_PROMPT.format(reason=reason)
            prompts.append(conversation(ctx, chain.problem, [("assistant", chain.versions[-1].text), ("user", ask)]))
        for chain, comp in zip(chains, generate(ctx, chains, prompts, params), strict=True):
            text = comp.text.strip()
            chain.trace.append(TraceEvent("reflection", {"attempt": k, "text": comp.text, "stored": bool(text)}))
            if text:
                chain.notes.append(text)


def _memory_note(lessons: Sequence[str]) -> str:
    """The memory block appended to the question ("" when the memory is empty)."""
    if not lessons:
        return ""
    return MEMORY_NOTE.format(lessons="\n".join(f"{i}. {text}" for i, text in enumerate(lessons, 1)))
