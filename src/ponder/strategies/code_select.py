"""Code selection by public examples and behaviour clusters (AlphaCode, Li et al. 2022; CodeT, Chen et al. 2022).

Sample ``n`` programs, run each on the examples shown in the prompt's docstring (never the hidden tests:
strategies get blind problems), keep those that pass the most examples, run the survivors on ``probes``
inputs made by mutating the examples' arguments, group survivors whose outputs agree on every input and
return the earliest member of the largest group. Each candidate's ``score`` is the fraction of public
examples it passed. Problems that are not code, or whose prompt shows no examples, fall back to a
majority vote over the task's answer keys (normalised code for ``humaneval``). The trace records the
public results ("public_tests"), the clusters and probe calls ("cluster") and the choice ("select").
Budget: ``n`` samples per problem; sandbox runs cost time, not tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ponder.code.sandbox import Limits, Sandbox
from ponder.code.select import CodeProblem, behaviour_clusters, public_results
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
from ponder.types import Candidate, Problem, Result, TraceEvent


@dataclass
class CodeSelect:
    """Filter ``n`` sampled programs by the prompt's public examples, then pick the largest behaviour cluster."""

    name: ClassVar[str] = "code_select"
    uses_scorer: ClassVar[bool] = False
    """It never calls the run's scorer (reports leave the scorer out of its label)."""
    n: int = 8
    """Samples per problem (the budget)."""
    probes: int = 8
    """Inputs (the examples' own, then mutations of them) on which surviving programs are compared."""
    timeout: float = 5.0
    """Wall seconds for each program and each example or probe call in the sandbox."""
    temperature: float | None = None
    """Sampling temperature; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens per sample; None uses the run's default."""
    sampler: Any = None
    """A strategy that produces each candidate; None = plain sampling."""

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"code_select n must be an integer >= 1, got {self.n!r}")
        if isinstance(self.probes, bool) or not isinstance(self.probes, int) or self.probes < 0:
            raise ConfigError(f"code_select probes must be an integer >= 0, got {self.probes!r}")
        Limits(timeout=self.timeout)  # validates the timeout

    def work_units(self, n_problems: int) -> int:
        return n_problems * self.n

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        params = sampling_params(ctx, self.temperature, self.max_tokens, logprobs=False)
        batches = draw(self.sampler, problems, ctx, params, self.n)
        sandbox: Sandbox | None = None
        results = []
        for problem, drawn in zip(problems, batches, strict=True):
            candidates = guard(problem, drawn, ctx)
            trace = [TraceEvent("sample", {"n": self.n, "temperature": params.temperature, "seed": params.seed})]
            trace += filter_events(candidates)
            code_problem = CodeProblem.of(problem)
            if code_problem is None or not code_problem.examples:
                answer, votes = majority_vote(candidates, ctx.task)
                selected = first_with_answer(candidates, answer, ctx)
                why = "not a coding problem" if code_problem is None else "the prompt shows no examples"
                trace.append(TraceEvent("select", {"rule": "majority_vote", "why": why, "votes": votes}))
            else:
                sandbox = sandbox or Sandbox(Limits(timeout=self.timeout))
                candidates, selected, events = self._select(sandbox, code_problem, candidates, params.seed)
                answer = None if selected is None else candidates[selected].answer
                trace += events
            results.append(result(self, problem, ctx, answer, candidates, trace, selected))
        return results

    def _select(
        self, sandbox: Sandbox, code_problem: CodeProblem, candidates: Sequence[Candidate], seed: int | None
    ) -> tuple[tuple[Candidate, ...], int | None, list[TraceEvent]]:
        """Scored candidates, the chosen index and the trace events of filtering and clustering."""
        outcomes = public_results(sandbox, code_problem, candidates)
        passed = [sum(o.passed for o in outs) for outs in outcomes]
        total = len(code_problem.examples)
        scored = tuple(dataclasses.replace(c, score=p / total) for c, p in zip(candidates, passed, strict=True))
        eligible = [i for i, c in enumerate(scored) if c.filtered is None and c.answer is not None]
        best = max((passed[i] for i in eligible), default=0)
        survivors = [i for i in eligible if passed[i] == best]
        public = {
            "examples": [e.call for e in code_problem.examples],
            "passed": passed,
            "total": total,
            "survivors": survivors,
            "errors": [next((o.error for o in outs if not o.passed), None) for outs in outcomes],
        }
        events = [TraceEvent("public_tests", public)]
        if not survivors:
            return scored, None, [*events, TraceEvent("select", {"rule": "largest_cluster", "selected": None})]
        clusters, calls = behaviour_clusters(sandbox, code_problem, scored, survivors, self.probes, seed or 0)
        selected = clusters[0][0]
        events.append(TraceEvent("cluster", {"probes": calls, "clusters": clusters}))
        events.append(TraceEvent("select", {"rule": "largest_cluster", "selected": selected, "size": len(clusters[0])}))
        return scored, selected, events
