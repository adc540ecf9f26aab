"""Helpers shared by the depth strategies (self_refine, reflexion, deliberate, revisions).

A depth strategy grows one or more *chains* per problem: a line of thought that gets longer or better by
rounds (drafts, feedback, reflections, revisions). Every round makes one batched backend call for the live
chains of all problems, tagged with their problem ids so usage is charged per problem. This module holds
the chain record, prompt building on top of the task's own messages, scoring of new versions, the final
pick among versions and field validation. It has no policy of its own (what to ask, when to stop): that
lives in each strategy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ponder.errors import ConfigError
from ponder.strategies.base import Context, continue_each, filter_events, guard, result, score_candidates
from ponder.types import Candidate, Completion, Message, Problem, Result, Role, SamplingParams, TraceEvent


@dataclass
class Chain:
    """One line of thought of one problem: its versions (candidates) and what happened to it."""

    problem: Problem
    owner: int = 0
    """Index of the problem in the batch (chains are grouped by it, not by id, which may repeat)."""
    position: int = 0
    """Index of the chain among its problem's chains: its calls draw that sample position (and seed)."""
    versions: list[Candidate] = field(default_factory=list)
    """Every version, oldest first (drafts, attempts, revisions)."""
    trace: list[TraceEvent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Text the strategy keeps beside the versions (feedback per version, or reflections)."""
    live: bool = True
    """False once a stop criterion ended the chain."""

    def add(self, candidate: Candidate, kind: str, **data: Any) -> None:
        """Append a version and a trace event of ``kind`` recording it (its text and answer)."""
        self.versions.append(candidate)
        event = {**data, "candidate": len(self.versions) - 1, "answer": candidate.answer, "text": candidate.text}
        self.trace.append(TraceEvent(kind, event))

    def stop(self, reason: str, **data: Any) -> None:
        """End the chain and say why in the trace."""
        self.live = False
        self.trace.append(TraceEvent("stop", {**data, "reason": reason}))


def chains_for(
    problems: Sequence[Problem], drafts: Sequence[Sequence[Candidate]], kind: str, **data: Any
) -> list[Chain]:
    """One chain per drawn candidate, problem-major, each starting with its draft recorded as ``kind``."""
    chains = []
    for owner, (problem, drawn) in enumerate(zip(problems, drafts, strict=True)):
        for position, cand in enumerate(drawn):
            chain = Chain(problem, owner, position)
            chain.add(cand, kind, **data)
            chains.append(chain)
    return chains


def by_problem(problems: Sequence[Problem], chains: Sequence[Chain]) -> list[list[Chain]]:
    """The chains of each problem, in the order of ``problems``."""
    groups: list[list[Chain]] = [[] for _ in problems]
    for chain in chains:
        groups[chain.owner].append(chain)
    return groups


def chain_results(
    strategy: Any,
    problems: Sequence[Problem],
    ctx: Context,
    chains: Sequence[Chain],
    pick: Callable[[Sequence[Candidate]], int | None],
    rule: str,
) -> list[Result]:
    """One Result per problem from its single chain: versions guarded, one picked by ``pick``."""
    results = []
    for problem, [chain] in zip(problems, by_problem(problems, chains), strict=True):
        candidates = guard(problem, chain.versions, ctx)
        selected = pick(candidates)
        answer = candidates[selected].answer if selected is not None else None
        select = TraceEvent("select", {"rule": rule, "selected": selected})
        trace = [*chain.trace, *filter_events(candidates), select]
        results.append(result(strategy, problem, ctx, answer, candidates, trace, selected))
    return results


def conversation(ctx: Context, problem: Problem, turns: Sequence[tuple[Role, str]], note: str = "") -> str:
    """The rendered prompt: the task's messages (``note`` appended to the question), then ``turns``."""
    messages = with_note(ctx.task.messages(problem), note) if note else ctx.task.messages(problem)
    return ctx.backend.render([*messages, *(Message(role, text) for role, text in turns)])


def with_note(messages: Sequence[Message], note: str) -> list[Message]:
    """``messages`` with ``note`` appended to the last user message (or added as one when the last is not)."""
    out = list(messages)
    if out and out[-1].role == "user":
        out[-1] = Message("user", f"{out[-1].content}\n\n{note}")
    else:
        out.append(Message("user", note))
    return out


def generate(ctx: Context, chains: Sequence[Chain], prompts: Sequence[str], params: SamplingParams) -> list[Completion]:
    """One completion per prompt (prompt i belongs to chain i, drawn at the chain's sample position), batched
    and tagged per problem: one call when every chain is its problem's first, as in a strategy's own run."""
    positions = [c.position for c in chains]
    return continue_each(ctx, prompts, params, positions, [c.problem.id for c in chains])


def overrides(params: SamplingParams, temperature: float | None, max_tokens: int | None) -> SamplingParams:
    """``params`` (a composing strategy's) with a sampler strategy's own temperature / max_tokens, when set."""
    changes = {k: v for k, v in (("temperature", temperature), ("max_tokens", max_tokens)) if v is not None}
    return params.replace(**changes) if changes else params


def score_latest(ctx: Context, chains: Sequence[Chain]) -> None:
    """Score the newest version of each chain with the run's scorer (one scorer call per problem)."""
    groups: dict[int, list[Chain]] = {}
    for chain in chains:
        groups.setdefault(chain.owner, []).append(chain)
    for group in groups.values():
        scored = score_candidates(group[0].problem, [c.versions[-1] for c in group], ctx)
        for chain, cand in zip(group, scored, strict=True):
            chain.versions[-1] = cand
            chain.trace.append(TraceEvent("score", {"candidate": len(chain.versions) - 1, "score": cand.score}))


def pick_last(candidates: Sequence[Candidate]) -> int | None:
    """Index of the newest candidate that a guardrail kept, or None."""
    kept = [i for i, c in enumerate(candidates) if c.filtered is None]
    return kept[-1] if kept else None


def pick_best(candidates: Sequence[Candidate]) -> int | None:
    """Index of the kept candidate with the highest score (ties: the newest), or None."""
    kept = [i for i, c in enumerate(candidates) if c.filtered is None]
    return max(kept, key=lambda i: (_score(candidates[i]), i)) if kept else None


def pick_answered(candidates: Sequence[Candidate]) -> int | None:
    """Index of the newest kept candidate with an answer, else of the newest kept one, else None."""
    kept = [i for i, c in enumerate(candidates) if c.filtered is None]
    answered = [i for i in kept if candidates[i].answer is not None]
    pool = answered or kept
    return pool[-1] if pool else None


def _score(cand: Candidate) -> float:
    return cand.score if cand.score is not None and not math.isnan(cand.score) else -math.inf


def unscored(cand: Candidate) -> Candidate:
    """A copy without its score (what a sampler hands to the strategy that composes it)."""
    return dataclasses.replace(cand, score=None)


def same_answer(ctx: Context, a: Candidate, b: Candidate) -> bool:
    """Whether two candidates give the same answer (by the task's answer key; no answer is never the same)."""
    if a.answer is None or b.answer is None:
        return False
    return ctx.task.answer_key(a.answer) == ctx.task.answer_key(b.answer)


def check_int(owner: str, name: str, value: Any, minimum: int) -> None:
    """ConfigError showing the bad value unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner} {name} must be an integer >= {minimum}, got {value!r}")


def check_choice(owner: str, name: str, value: Any, choices: Sequence[str]) -> None:
    """ConfigError showing the bad value unless it is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{owner} {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def check_threshold(owner: str, value: Any) -> None:
    """ConfigError unless ``value`` is None or a finite number."""
    ok = value is None or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value))
    if not ok:
        raise ConfigError(f"{owner} threshold must be a finite number or None, got {value!r}")


def check_text(owner: str, name: str, value: Any) -> None:
    """ConfigError unless ``value`` is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{owner} {name} must be a non-empty string, got {value!r}")
