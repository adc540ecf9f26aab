"""Adaptive (compute-optimal) test-time scaling: probe each question, predict its difficulty bin, run
the policy's choice for that bin and budget (Snell et al., 2024, with a probe instead of an oracle).

1. Probe: ``probe`` samples per problem (the policy's probe size; at most ``budget``), one batched call;
   scored by the run's scorer only when the policy's estimator is ``verifier``.
2. Bin: the estimator's difficulty of the probe, cut at the policy's edges ("difficulty" trace event with
   the value, the edges and the bin).
3. Choose: the policy entry for the bin with the largest budget <= ``budget`` (below the cheapest entry,
   the cheapest, said in the "policy" trace event).
4. Run: problems with the same choice run together. Strategies that take a ``sampler`` (self_consistency,
   best_of_n) get the probe's samples as their first samples, so the probe is not paid twice (and take at
   least all of them: an entry's ``n`` below the probe size is raised to it); an entry's own sampler with a
   ``draw`` (e.g. ``mixed``) makes the samples after the probe's. Others run from the sample
   positions after the probe's (so they do not draw the probe's samples again) and the probe's samples are
   appended to their candidates. With ``early_stop``, a
   self_consistency choice stops sampling once its vote is settled (its "stop" trace event).

The probe counts against the budget (policy entries are fitted that way, see ``adaptive.fit``). When the
run's meter has a token cap (``ponder eval --total-budget-tokens``), the cap is a batch budget: after
probing every problem, the tokens left are split (``adaptive.allocate``): by the accuracy the policy's
entries measured, each sample where it gains the most per token, or, for a policy without measured
accuracies (the built-in one) or with mean budgets (whose entries may cost more than their budget), by
difficulty. Each problem's budget becomes its share, and a choice the cap cuts short falls back to the
probe's vote (in the trace).
Without ``policy`` the built-in default policy is used (``adaptive.policy.default_policy``).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ponder.adaptive.allocate import allocate, allocate_by_value
from ponder.adaptive.difficulty import bin_of, difficulty
from ponder.adaptive.policy import Entry, Policy, check_policy, default_policy, load_policy, task_label
from ponder.adaptive.stopping import batch_params
from ponder.errors import BudgetExhausted, ConfigError
from ponder.strategies.base import (
    Context,
    config_of,
    draw,
    first_with_answer,
    guard,
    majority_vote,
    sample,
    sampling_params,
    score_candidates,
)
from ponder.types import Candidate, Problem, Result, SamplingParams, TraceEvent


class ProbeSampler:
    """A sampler (see ``strategies.base.draw``) that hands out the probe's samples first, then new ones: plain
    samples, or those of the entry's own sampler ``then`` from the positions after the probe's (the probe's
    samples stand in for its first ones; the same samples when those are drawn in the task's format, as
    with ``mixed`` starting with it)."""

    def __init__(self, probes: dict[str, list[Candidate]], then: Any = None) -> None:
        self.probes = probes
        self.then = then

    def draw(self, problems: Sequence[Problem], ctx: Context, params: SamplingParams, n: int) -> list[list[Candidate]]:
        first = params.first_sample  # a later batch (early stopping) continues after the samples it had
        out = [list(self.probes[p.id][first : first + n]) for p in problems]
        need = {n - len(o) for o in out}
        if need == {0}:
            return out
        if len(need) > 1:
            raise ConfigError(f"problems drawn together must have equal probes, got sizes {sorted(need)}")
        more = draw(self.then, problems, ctx, batch_params(params, len(out[0])), need.pop())
        return [o + list(guard(p, m, ctx)) for o, p, m in zip(out, problems, more, strict=True)]


def after(ctx: Context, k: int) -> Context:
    """``ctx`` drawing from sample position ``k`` on (past the probe's samples of the same prompts)."""
    return dataclasses.replace(ctx, params=ctx.params.replace(first_sample=ctx.params.first_sample + k))


@dataclass
class Adaptive:
    """Probe, bin by predicted difficulty, run the policy's best strategy for that bin and budget."""

    name: ClassVar[str] = "adaptive"
    policy: str | None = None
    """Policy file written by `ponder calibrate`; None = the built-in default policy."""
    budget: int = 16
    """Samples per problem, probe included (with a meter token cap: the most any one problem gets). With a
    policy calibrated with ``budget_kind`` "mean", the mean over questions: a bin's choice may spend more."""
    probe: int | None = None
    """Probe samples; None = the policy's probe size (a different size shifts the estimator's scale)."""
    early_stop: bool = False
    """A self_consistency choice samples in batches and stops once settled (Adaptive-Consistency, see
    ``adaptive.stopping``); other choices run as they are. The probe's samples are its first batch, at least
    the whole probe (it is paid for), and an entry that sets its own early stopping keeps it."""
    confidence: float | None = 0.95
    """early_stop: self_consistency's ``confidence``; None = stop only when the vote is unassailable, which
    never changes the answer the policy's choice would give with all its samples."""

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise ConfigError(f"adaptive budget must be an integer >= 1, got {self.budget!r}")
        if self.probe is not None and (not isinstance(self.probe, int) or self.probe < 1):
            raise ConfigError(f"adaptive probe must be an integer >= 1 or None, got {self.probe!r}")
        if self.confidence is not None and not 0.5 < self.confidence <= 1:
            raise ConfigError(f"adaptive confidence must be in (0.5, 1] or None, got {self.confidence!r}")
        self._policy: Policy = default_policy() if self.policy is None else load_policy(self.policy)
        self._digest = self._policy.digest()  # once: config_of reads it for every result

    def config_extras(self) -> dict[str, Any]:
        """The loaded policy's digest (``Policy.digest``), reported with the parameters (``config_of``), so a
        run's configuration, and the eval's resume key, change when the policy file's choices do."""
        return {"policy_digest": self._digest}

    def work_units(self, n_problems: int) -> int:
        return n_problems * self.budget

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        policy = self._policy
        if policy.scorer and ctx.scorer is None:  # refused before the probe spends anything
            raise ConfigError(
                f"the policy was calibrated with scorer {policy.scorer!r} (its entries were measured with it); "
                f"pass --scorer {policy.scorer}"
            )
        notes: list[str] = []
        task = task_label(getattr(ctx.task, "name", None), getattr(ctx.task, "solve_with", None))
        check_policy(policy, ctx.backend.model, task, notes.append)
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        quiet = dataclasses.replace(ctx, progress=None)
        k = min(self.probe or policy.probe, self.budget)
        for entry in policy.entries:  # a bad entry is refused before the probe spends anything
            self._inner(entry, {}, k, ctx.task)
        probes = self._probe(problems, quiet, k)
        values = [self._difficulty(p, probes[p.id], ctx) for p in problems]
        budgets, allocation = self._budgets(problems, probes, values, k, ctx)
        plans = []
        for problem, value, budget in zip(problems, values, budgets, strict=True):
            bin_ = bin_of(value, policy.edges)
            entry, why = policy.choose(bin_, budget)
            events = [TraceEvent("warning", {"message": n}) for n in notes]
            events += [self._probe_event(probes[problem.id], k), self._bin_event(value, bin_)]
            events += [TraceEvent("policy", {"budget": budget, "choice": entry.model_dump(), "why": why})]
            events += allocation
            plans.append((problem, entry, events))
        results = self._execute(plans, probes, quiet)
        ctx.advance(self.work_units(len(problems)))
        return [results[p.id] for p in problems]

    def _probe(self, problems: Sequence[Problem], ctx: Context, k: int) -> dict[str, list[Candidate]]:
        wants = bool(getattr(ctx.scorer, "needs_logprobs", False))
        drawn = sample(problems, ctx, sampling_params(ctx, None, None, logprobs=wants), k)
        out = {p.id: list(guard(p, d, ctx)) for p, d in zip(problems, drawn, strict=True)}
        if self._policy.estimator == "verifier":
            out = {p.id: list(score_candidates(p, out[p.id], ctx)) for p in problems}
        return out

    def _difficulty(self, problem: Problem, probe: Sequence[Candidate], ctx: Context) -> float:
        keys = [None if c.answer is None or c.filtered else ctx.task.answer_key(c.answer) for c in probe]
        scores = [c.score for c in probe if c.score is not None] or None
        return difficulty(self._policy.estimator, keys, scores)

    def _budgets(
        self, problems: Sequence[Problem], probes: dict[str, list[Candidate]], values: list[float], k: int, ctx: Context
    ) -> tuple[list[int], list[TraceEvent]]:
        """``budget`` each, or with a meter token cap, the tokens left split over the problems: by calibrated
        accuracy per token for a "max" policy whose entries all carry measured accuracies (an entry at budget
        B then costs at most B samples, as the split charges it), else by difficulty."""
        meter = ctx.backend.meter
        left = meter.budget.remaining_tokens(meter.usage)
        if left is None:
            return [self.budget] * len(problems), []
        cost = [max((c.n_tokens for c in probes[p.id]), default=1) for p in problems]
        policy, most = self._policy, max(k, self.budget)
        if policy.budget_kind == "max" and all(e.accuracy is not None for e in policy.entries):
            levels = sorted({e.budget for e in policy.entries})
            curves = [{b: policy.choose(bin_of(v, policy.edges), b)[0].accuracy or 0.0 for b in levels} for v in values]
            budgets, rule = allocate_by_value(curves, cost, k, most, left), "calibrated accuracy gained per token"
        else:
            budgets, rule = allocate(values, cost, k, most, left), "difficulty (no per-question calibrated accuracies)"
        data = {"tokens_left": left, "rule": rule, "samples": dict(zip([p.id for p in problems], budgets, strict=True))}
        return budgets, [TraceEvent("allocate", data)]

    def _probe_event(self, probe: Sequence[Candidate], k: int) -> TraceEvent:
        data: dict[str, Any] = {"samples": k, "answers": [c.answer for c in probe]}
        if any(c.score is not None for c in probe):
            data["scores"] = [c.score for c in probe]
        return TraceEvent("probe", data)

    def _bin_event(self, value: float, bin_: int) -> TraceEvent:
        edges = self._policy.edges
        lo = edges[bin_ - 1] if bin_ > 0 else float("-inf")
        hi = edges[bin_] if bin_ < len(edges) else float("inf")
        why = f"{self._policy.estimator} difficulty {value:.3f} in [{lo:g}, {hi:g}) -> bin {bin_} of {len(edges) + 1}"
        return TraceEvent(
            "difficulty",
            {"estimator": self._policy.estimator, "value": value, "edges": list(edges), "bin": bin_, "why": why},
        )

    def _execute(
        self, plans: list[tuple[Problem, Entry, list[TraceEvent]]], probes: dict[str, list[Candidate]], ctx: Context
    ) -> dict[str, Result]:
        """Run each group of problems sharing a choice; one Result per problem id."""
        groups: dict[str, list[tuple[Problem, Entry, list[TraceEvent]]]] = {}
        for plan in plans:
            key = json.dumps([plan[1].strategy, plan[1].params], sort_keys=True, default=str)
            groups.setdefault(key, []).append(plan)
        out: dict[str, Result] = {}
        for group in groups.values():
            problems = [p for p, _, _ in group]
            k = len(probes[problems[0].id])
            inner, reuse = self._inner(group[0][1], probes, k, ctx.task)
            try:
                results = inner.run(problems, ctx if reuse else after(ctx, k))
            except BudgetExhausted as exc:
                if ctx.backend.meter.budget.max_completion_tokens is None:
                    raise
                for problem, _, events in group:
                    out[problem.id] = self._fallback(problem, probes[problem.id], events, exc, ctx)
                continue
            for (problem, _, events), res in zip(group, results, strict=True):
                out[problem.id] = self._wrap(problem, res, events, [] if reuse else probes[problem.id], ctx)
        return out

    def _inner(self, entry: Entry, probes: dict[str, list[Candidate]], k: int, task: Any) -> tuple[Any, bool]:
        """The strategy of a policy entry, and whether it takes the probe's ``k`` samples as its first ones."""
        from ponder.api import get_strategy, nested_strategy  # local: api imports the strategies' registry

        params = dict(entry.params)
        fields = _fields(entry.strategy)
        then = nested_strategy(params.get("sampler"))
        plain = params.get("sampler") is None or _plain_prefix(then, task, k)
        reuse = "sampler" in fields and plain
        if reuse:
            params["sampler"] = ProbeSampler(probes, then)
            if "n" in fields and isinstance(params.get("n"), int) and params["n"] < k:
                params["n"] = k  # every paid-for probe sample takes part
        if self.early_stop and "early_stop" in fields and not params.get("early_stop"):
            params.update(early_stop=True, confidence=self.confidence)
        inner = get_strategy(entry.strategy, **params)
        _plain_prefix(inner, task, k)  # a mixed entry runs after the probe's positions: they must be its own
        if reuse and getattr(inner, "early_stop", False) and getattr(inner, "batch", k) < k:
            inner = get_strategy(entry.strategy, **{**params, "batch": k})  # decide once the paid-for probe is seen
        return inner, reuse

    def _wrap(
        self, problem: Problem, inner: Result, events: list[TraceEvent], extra: Sequence[Candidate], ctx: Context
    ) -> Result:
        return dataclasses.replace(
            inner,
            strategy=self.name,
            candidates=tuple(inner.candidates) + tuple(extra),
            usage=ctx.backend.meter.usage_for(problem.id),
            trace=(*events, TraceEvent("run", {"strategy": inner.strategy}), *inner.trace),
            config=config_of(self),
        )

    def _fallback(
        self, problem: Problem, probe: list[Candidate], events: list[TraceEvent], exc: Exception, ctx: Context
    ) -> Result:
        answer, votes = majority_vote(probe, ctx.task)
        why = f"the batch token budget ran out ({exc}); answered with the probe's vote"
        trace = (*events, TraceEvent("fallback", {"why": why}), TraceEvent("vote", {"votes": votes}))
        return Result(
            problem.id,
            self.name,
            answer,
            tuple(probe),
            ctx.backend.meter.usage_for(problem.id),
            trace,
            first_with_answer(probe, answer, ctx),
            config_of(self),
        )


def _plain_prefix(strategy: Any, task: Any, k: int) -> bool:
    """Whether ``strategy`` (a sampler or an entry's strategy) draws its first ``k`` samples as plain samples of
    the task, i.e. exactly the probe's; False for strategies that do not say (self_refine, budget_forcing: their
    samples are not plain ones). A ``mixed`` strategy that does not is refused: its samples would repeat the
    probe's (the same seeds) in the other format's stream."""
    prefix = getattr(strategy, "plain_prefix", None)
    if prefix is None:
        return False
    if prefix(task) < k:
        raise ConfigError(
            f"a policy entry's {strategy.name} must draw its first {k} samples (the probe's) as plain samples of "
            f"the task (solve_with={getattr(task, 'solve_with', None)!r}); it draws {prefix(task)} "
            f"(first={strategy.first}, first_with={strategy.first_with!r}, temperature/max_tokens unset)"
        )
    return True


def _fields(strategy: str) -> set[str]:
    from ponder.catalog import make_registries  # local: catalog imports nothing from here, avoid a cycle

    cls = make_registries().strategies.get(strategy)
    return {f.name for f in dataclasses.fields(cls)}
