"""Tree-of-Thought (Yao et al., 2023): search over thoughts (reasoning steps) with BFS or DFS.

Each state (a partial solution) proposes ``k`` next thoughts, sampled with ``stop`` at the task's step
delimiter. Thoughts are evaluated either by *value* (the process scorer's step scores, aggregated by
``agg``) or by *vote* (the model is shown the candidate thoughts as a numbered list ``n_votes`` times and
asked which is most promising; a thought's value is its share of the votes).

- ``search="bfs"``: every level keeps the ``breadth`` best states (the level loop of ``search.levels``,
  the one beam search uses), after pruning those valued below ``threshold``.
- ``search="dfs"``: expand the best open state first, prune thoughts below ``threshold`` and backtrack when
  a branch is exhausted; stop at the first answered solution or after ``max_expansions`` states
  (``search.dfs``).

The step at ``max_depth`` is generated to the end; if a search ends with no finished solution (everything
pruned), its best open state is completed once. Final pick among finished solutions by ``select``.
Budget: about ``k`` steps per expanded state, plus the evaluation's cost. Every round is one backend call
for all problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ponder.scorers.base import AGGREGATIONS
from ponder.search.checks import int_at_least, number, one_of
from ponder.search.dfs import depth_first
from ponder.search.evaluate import score_nodes, vote, with_process_scorer
from ponder.search.expand import Stepper
from ponder.search.finish import (
    SELECTIONS,
    check_budget,
    ensure_finished,
    keep_partial,
    make_stepper,
    new_trees,
    search_result,
    top_up,
)
from ponder.search.levels import Batches, Evaluate, Plan, level_search
from ponder.search.tree import Node, Tree
from ponder.strategies.base import Context
from ponder.types import Problem, Result, TraceEvent


@dataclass
class TreeOfThought:
    """BFS or DFS over reasoning steps with value or vote evaluation of thoughts."""

    name: ClassVar[str] = "tree_of_thought"
    search: str = "bfs"
    """"bfs" (keep the best ``breadth`` states per level) or "dfs" (best first, with backtracking)."""
    k: int = 3
    """Thoughts proposed per expanded state."""
    breadth: int = 3
    """BFS: states kept per level (b)."""
    max_depth: int = 6
    """Steps at most; the step at max_depth is generated to the end of the solution."""
    evaluate: str = "value"
    """"value" (process scorer) or "vote" (the model votes for the most promising thought)."""
    n_votes: int = 3
    """Vote evaluation: votes sampled per set of candidate thoughts."""
    threshold: float | None = None
    """Prune thoughts valued below this (DFS backtracks past them); None prunes none."""
    max_expansions: int = 16
    """DFS: most states expanded per tree before it stops."""
    select: str = "score"
    """Final pick among finished solutions: "score", "weighted_vote" or "vote"."""
    agg: str = "min"
    """How step scores fold into a path value: min, prod, last or mean."""
    max_step_tokens: int = 256
    """A thought with no delimiter is cut here (the next one continues it)."""
    temperature: float | None = None
    """Sampling temperature; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens of a final completion; None uses the run's default."""

    def __post_init__(self) -> None:
        who = self.name
        one_of(who, "search", self.search, ("bfs", "dfs"))
        one_of(who, "evaluate", self.evaluate, ("value", "vote"))
        one_of(who, "select", self.select, SELECTIONS)
        one_of(who, "agg", self.agg, AGGREGATIONS)
        for field in ("k", "breadth", "max_depth", "n_votes", "max_expansions", "max_step_tokens"):
            int_at_least(who, field, getattr(self, field), 1)
        if self.threshold is not None:
            number(who, "threshold", self.threshold)

    def work_units(self, n_problems: int) -> int:
        return n_problems * (self.max_depth if self.search == "bfs" else self.max_expansions)

    def groups(self) -> int:
        """Independent trees grown per problem (ForestOfThought grows several)."""
        return 1

    def plan(self) -> Plan:
        width = self.k
        return Plan(width * self.groups(), width, width, self.breadth, self.max_depth, self.threshold)

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        stepper, trees = self.prepare(problems, ctx)
        with keep_partial(self, trees, ctx):
            event = self.grow(trees, stepper)
            return [search_result(self, t, ctx, self.select, [event]) for t in trees]

    def prepare(self, problems: Sequence[Problem], ctx: Context) -> tuple[Stepper, list[Tree]]:
        """Check the context and budget; the stepper and one tree per problem."""
        if self.evaluate == "value":
            ctx = with_process_scorer(ctx, f"{self.name} with evaluate='value'")
        check_budget(ctx, self.name, self.k * self.groups(), "k x trees")
        stepper = make_stepper(ctx, self.temperature, self.max_tokens, self.max_step_tokens)
        return stepper, new_trees(problems, ctx)

    def grow(self, trees: Sequence[Tree], stepper: Stepper) -> TraceEvent:
        """Run the search on all trees; every group ends with at least one finished solution."""
        plan, evaluate = self.plan(), self.evaluator(stepper)
        if self.search == "bfs":
            rounds = level_search(trees, stepper, plan, evaluate)
        else:
            rounds = depth_first(trees, stepper, plan, evaluate, 1, self.max_expansions)
        ensure_finished(trees, stepper, evaluate)
        top_up(stepper.ctx, len(trees), rounds, self.work_units(1))
        return TraceEvent("search", {**plan.__dict__, "search": self.search, "rounds": rounds, "calls": stepper.calls})

    def evaluator(self, stepper: Stepper) -> Evaluate:
        """Value evaluation: process scores. Vote evaluation: one vote over the new thoughts of each group
        (a BFS level, or the children of the state a DFS round expanded)."""

        def by_value(batches: Batches) -> None:
            for tree, nodes in batches:
                score_nodes(stepper.ctx, tree, nodes, self.agg)

        def by_vote(batches: Batches) -> None:
            sets: list[tuple[Tree, Sequence[Node]]] = []
            for tree, nodes in batches:
                for group in sorted({n.group for n in nodes}):
                    sets.append((tree, [n for n in nodes if n.group == group]))
            vote(stepper, sets, self.n_votes)

        return by_value if self.evaluate == "value" else by_vote
