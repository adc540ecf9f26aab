"""The Strategy protocol, the context strategies run in, and selection helpers they share.

A strategy is a dataclass whose fields are its parameters (its budget among them: ``n`` samples, rounds,
...). ``run(problems, ctx)`` takes a batch of blind problems (no reference answers) and returns one full
Result per problem. Strategies batch their backend calls across problems and never count usage by hand:
the Metered backend in the context charges it, per problem through ``tags``.

Voting (``majority_vote``): candidates whose answers have the same ``task.answer_key`` form one group; a
group's weight is the sum of its members' weights (1 each for plain majority). Candidates without an
answer abstain and filtered candidates do not vote. Ties are broken deterministically: by the earliest
candidate index in the group (so the result does not depend on dict ordering or hashing).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from ponder.budget import Metered
from ponder.errors import ConfigError, ScorerError
from ponder.guardrails import apply_filters
from ponder.scorers.base import OutcomeScorer, ProcessScorer
from ponder.tasks.base import Task
from ponder.types import Candidate, Completion, Problem, Result, SamplingParams, TraceEvent

Progress = Callable[[int], None]
"""Called with the number of work units (samples) just finished, for progress bars."""


@dataclass
class Context:
    """What a strategy runs with: the metered policy backend, the task, sampling defaults and helpers."""

    backend: Metered
    task: Task
    params: SamplingParams = field(default_factory=SamplingParams)
    """Default sampling parameters (temperature, max_tokens, seed); strategies override per call."""
    scorer: OutcomeScorer | None = None
    process_scorer: ProcessScorer | None = None
    """Step-level scorer for search strategies (set when the chosen scorer can score steps)."""
    filters: Sequence[Any] = ()
    """Candidate filters (guardrails) applied before selection."""
    progress: Progress | None = None

    def advance(self, units: int) -> None:
        if self.progress is not None:
            self.progress(units)


class Strategy(Protocol):
    """Turns problems into Results by spending compute."""

    name: ClassVar[str]

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        raise NotImplementedError  # protocol

    def work_units(self, n_problems: int) -> int:
        """How many progress units ``run`` will report for ``n_problems`` (for progress bars)."""
        raise NotImplementedError  # protocol


def prompts_for(problems: Sequence[Problem], ctx: Context) -> list[str]:
    """The rendered prompt of each problem."""
    return [ctx.backend.render(ctx.task.messages(p)) for p in problems]


def sample(problems: Sequence[Problem], ctx: Context, params: SamplingParams, n: int) -> list[list[Candidate]]:
    """Sample ``n`` candidates per problem in one batched backend call; answers extracted."""
    generations = ctx.backend.generate(prompts_for(problems, ctx), params, n, tags=[p.id for p in problems])
    ctx.advance(len(problems) * n)
    return [[to_candidate(c, ctx.task) for c in g.completions] for g in generations]


def continue_each(
    ctx: Context, prompts: Sequence[str], params: SamplingParams, positions: Sequence[int], tags: Sequence[str]
) -> list[Completion]:
    """One completion per prompt, prompt i drawn as sample ``params.first_sample + positions[i]`` of its chain
    (seed included), in one batched call. Chains of one problem that continue side by side each keep their own
    position, so two chains whose text happens to be the same still diverge."""
    if not prompts:
        return []
    shifted = params.replace(offsets=tuple(positions)) if any(positions) else params
    return [g.completions[0] for g in ctx.backend.generate(prompts, shifted, 1, tags=tags)]


def draw(
    sampler: Any, problems: Sequence[Problem], ctx: Context, params: SamplingParams, n: int
) -> list[list[Candidate]]:
    """``n`` candidates per problem: plain samples when ``sampler`` is None, else from a sampler strategy.

    A sampler strategy with a ``draw(problems, ctx, params, n)`` method makes all n at once (batched);
    any other strategy is run n times with distinct seeds and contributes its chosen candidate each time.
    This is how strategies compose: e.g. self-consistency over budget-forced samples.
    """
    if sampler is None:
        return sample(problems, ctx, params, n)
    if hasattr(sampler, "draw"):
        return sampler.draw(problems, ctx, params, n)  # type: ignore[no-any-return]
    out: list[list[Candidate]] = [[] for _ in problems]
    for i in range(params.first_sample, params.first_sample + n):  # a later batch continues the seeds
        seed = None if params.seed is None else params.seed * 1009 + i  # unseeded stays unseeded
        sub = dataclasses.replace(ctx, params=params.replace(seed=seed, first_sample=0))  # the caller's settings
        for slot, res in zip(out, sampler.run(problems, sub), strict=True):
            slot.append(chosen(res))
    return out


def chosen(res: Result) -> Candidate:
    """The candidate a Result chose (or a synthetic one carrying its answer when none was singled out)."""
    if res.selected is not None:
        return dataclasses.replace(res.candidates[res.selected], score=None)
    tokens = sum(c.n_tokens for c in res.candidates)
    text = res.candidates[-1].text if res.candidates else ""
    return Candidate(text=text, answer=res.answer, n_tokens=tokens)


def to_candidate(completion: Completion, task: Task) -> Candidate:
    logprobs = None if completion.logprobs is None else tuple(t.logprob for t in completion.logprobs)
    return Candidate(
        text=completion.text,
        answer=task.extract_answer(completion.text),
        n_tokens=completion.n_tokens,
        token_logprobs=logprobs,
    )


def guard(problem: Problem, candidates: Sequence[Candidate], ctx: Context) -> tuple[Candidate, ...]:
    """Apply the context's candidate filters; filtered candidates stay, marked with their reason."""
    if not ctx.filters:
        return tuple(candidates)
    return apply_filters(ctx.filters, problem, candidates)


def majority_vote(
    candidates: Sequence[Candidate], task: Task, weights: Sequence[float] | None = None
) -> tuple[str | None, dict[str, float]]:
    """The winning answer and the weight of every answer group (keyed by the first answer seen).

    Returns (None, {}) when every candidate abstained or was filtered.
    """
    totals: dict[str, float] = {}
    first: dict[str, int] = {}
    shown: dict[str, str] = {}
    for i, cand in enumerate(candidates):
        if cand.answer is None or cand.filtered is not None:
            continue
        key = task.answer_key(cand.answer)
        if key not in first:
            first[key], shown[key] = i, cand.answer
        totals[key] = totals.get(key, 0.0) + (1.0 if weights is None else weights[i])
    if not totals:
        return None, {}
    best = min(totals, key=lambda k: (-totals[k], first[k]))
    return shown[best], {shown[k]: totals[k] for k in sorted(totals, key=lambda k: (-totals[k], first[k]))}


def score_candidates(problem: Problem, candidates: Sequence[Candidate], ctx: Context) -> tuple[Candidate, ...]:
    """Candidates with ``score`` set by the context's scorer (filtered ones are scored too, for the trace)."""
    if ctx.scorer is None:
        raise ConfigError("this strategy needs a scorer (e.g. --scorer judge)")
    scores = ctx.scorer.score(problem, candidates)
    if len(scores) != len(candidates):
        raise ScorerError(f"scorer returned {len(scores)} scores for {len(candidates)} candidates")
    return tuple(dataclasses.replace(c, score=float(s)) for c, s in zip(candidates, scores, strict=True))


def vote_weights(candidates: Sequence[Candidate], who: str) -> list[float]:
    """Weights of a score-weighted vote: a candidate's score, 0 for a missing or NaN one (as vanilla
    best-of-N ranks it last). A negative or infinite score cannot weigh a vote: ScorerError."""
    weights = [0.0 if c.score is None or math.isnan(c.score) else c.score for c in candidates]
    bad = [w for w in weights if w < 0 or math.isinf(w)]
    if bad:
        raise ScorerError(f"{who} needs finite, non-negative scores, got {bad[0]:g}")
    return weights


def config_of(strategy: Any) -> dict[str, Any]:
    """The strategy's parameters as a plain dict (for Result.config and saved runs); a nested strategy
    (a sampler) appears as ``{"strategy": name, **its parameters}``. A strategy whose behaviour also depends on
    something its parameters only point at (adaptive's policy file) adds it with ``config_extras()``."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(strategy):
        value = getattr(strategy, f.name)
        is_strategy = dataclasses.is_dataclass(value) and hasattr(value, "run")
        out[f.name] = {"strategy": value.name, **config_of(value)} if is_strategy else value
    extras = getattr(strategy, "config_extras", None)
    return {**out, **extras()} if callable(extras) else out


def result(
    strategy: Any,
    problem: Problem,
    ctx: Context,
    answer: str | None,
    candidates: Sequence[Candidate],
    trace: Sequence[TraceEvent],
    selected: int | None = None,
) -> Result:
    """Assemble a Result, reading the problem's usage from the meter."""
    return Result(
        problem_id=problem.id,
        strategy=strategy.name,
        answer=answer,
        candidates=tuple(candidates),
        usage=ctx.backend.meter.usage_for(problem.id),
        trace=tuple(trace),
        selected=selected,
        config=config_of(strategy),
    )


def sampling_params(ctx: Context, temperature: float | None, max_tokens: int | None, logprobs: bool) -> SamplingParams:
    """The context's params with a strategy's overrides applied."""
    changes: dict[str, Any] = {}
    if temperature is not None:
        changes["temperature"] = temperature
    if max_tokens is not None:
        changes["max_tokens"] = max_tokens
    if logprobs and ctx.params.logprobs is None:
        changes["logprobs"] = 0
    return ctx.params.replace(**changes) if changes else ctx.params


def first_with_answer(candidates: Sequence[Candidate], answer: str | None, ctx: Context) -> int | None:
    """Index of the first kept candidate whose answer is in ``answer``'s group, or None."""
    if answer is None:
        return None
    key = ctx.task.answer_key(answer)
    for i, c in enumerate(candidates):
        if c.filtered is None and c.answer is not None and ctx.task.answer_key(c.answer) == key:
            return i
    return None


def filter_events(candidates: Sequence[Candidate]) -> list[TraceEvent]:
    """One trace event per candidate a guardrail filtered, with its reason."""
    return [
        TraceEvent("filter", {"candidate": i, "reason": c.filtered}) for i, c in enumerate(candidates) if c.filtered
    ]
