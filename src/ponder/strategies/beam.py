"""Step-level beam search guided by a process scorer (Snell et al., 2024; HF search-and-learn), and DVTS.

Beam search: sample ``n`` (N) first steps per problem, value each with the process scorer (step scores
aggregated by ``agg``), keep the best N/M, expand each by ``beam_width`` (M) and repeat up to ``max_depth``
steps; the last level is generated to the end (no delimiter stop), so every returned candidate is finished.
A finished child that ranks among the kept ones ends its beam (it takes the slot); all finished children
remain candidates. Final pick: ``select="score"`` (highest aggregated score among candidates with an answer,
when any has one) or ``"weighted_vote"`` (answers weighted by the sum of their scores).

DVTS (Beeching et al., 2024), ``subtrees=True``: the N first samples form N/M independent subtrees of M;
each keeps only its best child per level (greedy), so subtrees never share a node and stay diverse. It is
the same search loop with a different grouping (``search.levels``), not a copy.

Every level is one backend call for all kept beams of all problems (prompts = prompt + steps so far, an
exact extension of the parent's prompt, so prefix caches reuse it). Budget: about N steps per level per
problem plus the scorer's cost; a token cap below N is a ConfigError. Errors mid-search keep the tree (see
``search.finish``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ponder.errors import ConfigError
from ponder.scorers.base import AGGREGATIONS
from ponder.search.checks import int_at_least, one_of
from ponder.search.evaluate import score_nodes, with_process_scorer
from ponder.search.expand import Stepper
from ponder.search.finish import check_budget, keep_partial, make_stepper, new_trees, search_result, top_up
from ponder.search.levels import Batches, Evaluate, Plan, level_search
from ponder.strategies.base import Context
from ponder.types import Problem, Result, TraceEvent


@dataclass
class BeamSearch:
    """Beam search over reasoning steps valued by a process scorer; DVTS with ``subtrees=True``."""

    name: ClassVar[str] = "beam_search"
    n: int = 8
    """N: first-step samples per problem; N/M beams are kept and each grows M children per level."""
    beam_width: int = 4
    """M: children sampled from each kept beam (must divide n)."""
    max_depth: int = 8
    """Steps at most; the step at max_depth is generated to the end of the solution."""
    subtrees: bool = False
    """DVTS: N/M independent subtrees, each keeping only its best child per level (diversity)."""
    select: str = "weighted_vote"
    """Final pick among finished beams: "score" (best aggregated score, answered beams first) or "weighted_vote"."""
    agg: str = "last"
    """How step scores fold into a path score: min, prod, last or mean."""
    max_step_tokens: int = 256
    """A step with no delimiter is cut here (the next step continues it)."""
    temperature: float | None = None
    """Sampling temperature; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens of the final completion at max_depth; None uses the run's default."""

    def __post_init__(self) -> None:
        who = self.name
        int_at_least(who, "n", self.n, 1)
        int_at_least(who, "beam_width", self.beam_width, 1)
        int_at_least(who, "max_depth", self.max_depth, 1)
        int_at_least(who, "max_step_tokens", self.max_step_tokens, 1)
        if self.n % self.beam_width:
            raise ConfigError(f"{who} beam_width must divide n: n={self.n}, beam_width={self.beam_width}")
        one_of(who, "select", self.select, ("score", "weighted_vote"))
        one_of(who, "agg", self.agg, AGGREGATIONS)

    def work_units(self, n_problems: int) -> int:
        return n_problems * self.max_depth

    def plan(self) -> Plan:
        """N first samples; one group (keep N/M) or, for DVTS, N/M groups of M (keep 1)."""
        beams = self.n // self.beam_width
        if self.subtrees:
            return Plan(self.n, self.beam_width, self.beam_width, 1, self.max_depth)
        return Plan(self.n, self.n, self.beam_width, beams, self.max_depth)

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        ctx = with_process_scorer(ctx, self.name)
        check_budget(ctx, self.name, self.n, "n")
        stepper = make_stepper(ctx, self.temperature, self.max_tokens, self.max_step_tokens)
        trees = new_trees(problems, ctx)
        with keep_partial(self, trees, ctx):
            levels = level_search(trees, stepper, self.plan(), self.evaluator(stepper))
            event = TraceEvent("search", {**self.plan().__dict__, "levels": levels, "calls": stepper.calls})
            results = [search_result(self, t, ctx, self.select, [event]) for t in trees]
        top_up(ctx, len(trees), levels, self.max_depth)
        return results

    def evaluator(self, stepper: Stepper) -> Evaluate:
        """Values new nodes by their process scores (Lookahead overrides this)."""

        def evaluate(batches: Batches) -> None:
            for tree, nodes in batches:
                score_nodes(stepper.ctx, tree, nodes, self.agg)

        return evaluate
