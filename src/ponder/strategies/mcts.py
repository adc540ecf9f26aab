"""Monte Carlo tree search over reasoning steps (UCT selection, sampled expansion, rollout or estimate).

One simulation per problem per round, all problems in lockstep (each phase one backend call for all):
1. select: descend from the root by UCT (``c``) through open children to an unexpanded node;
2. expand: sample ``children`` next steps (a node one step above ``max_depth`` is completed to the end);
3. value: ``value="rollout"`` continues the first unfinished child by sampled steps to a terminal (the last
   step forced to the end at ``max_depth``) and scores the complete solution with the outcome scorer (or,
   without one, the aggregated process score); finished children are scored the same way.
   ``value="estimate"`` scores every new child with the process scorer instead (no rollout);
4. backpropagate each new value from its node to the root. Terminal and exhausted subtrees are closed
   (``search.uct``), so a fully explored tree stops early.

Budget: ``simulations`` per problem, or with ``simulations=None`` until the run's token Budget is spent (a
BudgetExhausted ends the search, which then answers with what it found). Final answer: ``select="visits"``
follows the most visited path and takes the best solution found below its end (completing that node once
if none was), ``select="score"`` the best solution anywhere; both prefer solutions with an answer, so a
higher-valued one that ends without an answer is passed over (the deepest end on the path with an answered
solution below it is used). Candidates are every complete solution seen:
terminal nodes and rollouts (a rollout is shown in the trace under the node it started from).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ponder.errors import BudgetExhausted, ConfigError
from ponder.scorers.base import AGGREGATIONS
from ponder.search.checks import int_at_least, number, one_of
from ponder.search.evaluate import score_nodes, score_solutions, with_process_scorer
from ponder.search.expand import Stepper
from ponder.search.finish import best_scored, check_budget, keep_partial, make_stepper, new_trees, pick, top_up
from ponder.search.levels import rank_key
from ponder.search.tree import Node, Tree
from ponder.search.uct import backprop, best_path, close, select_leaf, subtree
from ponder.strategies.base import Context, filter_events, guard, result
from ponder.types import Candidate, Problem, Result, TraceEvent


@dataclass
class MCTS:
    """UCT tree search over reasoning steps, valued by rollouts or process-score estimates."""

    name: ClassVar[str] = "mcts"
    simulations: int | None = 16
    """Simulations per problem; None runs until the run's token budget is spent (needs a Budget)."""
    children: int = 3
    """Steps sampled when a node is expanded."""
    c: float = 1.0
    """UCT exploration constant."""
    max_depth: int = 6
    """Steps at most; the step at max_depth is generated to the end of the solution."""
    value: str = "rollout"
    """"rollout" (sampled to a terminal, outcome-scored) or "estimate" (process score of the node)."""
    select: str = "visits"
    """Final answer: "visits" (most visited path) or "score" (best complete solution found)."""
    agg: str = "min"
    """How step scores fold into a value: min, prod, last or mean."""
    max_step_tokens: int = 256
    """A step with no delimiter is cut here (the next step continues it)."""
    temperature: float | None = None
    """Sampling temperature; None uses the run's default."""
    max_tokens: int | None = None
    """Max tokens of a final completion; None uses the run's default."""

    def __post_init__(self) -> None:
        who = self.name
        if self.simulations is not None:
            int_at_least(who, "simulations", self.simulations, 1)
        for field in ("children", "max_depth", "max_step_tokens"):
            int_at_least(who, field, getattr(self, field), 1)
        number(who, "c", self.c, 0.0)
        one_of(who, "value", self.value, ("rollout", "estimate"))
        one_of(who, "select", self.select, ("visits", "score"))
        one_of(who, "agg", self.agg, AGGREGATIONS)

    def work_units(self, n_problems: int) -> int:
        return n_problems * (self.simulations or 1)

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        ctx = self._check(ctx)
        stepper = make_stepper(ctx, self.temperature, self.max_tokens, self.max_step_tokens)
        trees = new_trees(problems, ctx)
        closed: list[set[int]] = [set() for _ in trees]
        with keep_partial(self, trees, ctx):
            sims, stop = self._search(trees, closed, stepper)
            self._complete_best(trees, stepper)
            event = TraceEvent("search", {"simulations": sims, "stopped": stop, "calls": stepper.calls})
            results = [self._result(t, ctx, event) for t in trees]
        top_up(ctx, len(trees), sims if self.simulations else 0, self.simulations or 1)
        return results

    def _check(self, ctx: Context) -> Context:
        if self.value == "rollout" and getattr(ctx.scorer, "needs_logprobs", False):
            name = getattr(ctx.scorer, "name", type(ctx.scorer).__name__)
            raise ConfigError(
                f"mcts value='rollout' scores rollouts by their text, but scorer {name!r} needs token logprobs: "
                "use a text scorer (rule, judge, prm, public_tests) or value='estimate'"
            )
        if self.value == "estimate" or ctx.scorer is None:
            ctx = with_process_scorer(ctx, f"{self.name} with value={self.value!r}")
        if self.simulations is None and ctx.backend.meter.budget.max_completion_tokens is None:
            raise ConfigError("mcts with simulations=None runs until the token budget is spent: set a Budget")
        check_budget(ctx, self.name, self.children, "children")
        return ctx

    def _search(self, trees: Sequence[Tree], closed: list[set[int]], stepper: Stepper) -> tuple[int, str]:
        sims = 0
        while self.simulations is None or sims < self.simulations:
            live = [(t, shut) for t, shut in zip(trees, closed, strict=True) if 0 not in shut]
            if not live:
                return sims, "tree fully explored"
            try:
                self._simulate(live, stepper)
            except BudgetExhausted as exc:
                return sims, f"budget: {exc}"
            sims += 1
            if self.simulations:
                stepper.ctx.advance(len(trees))
        return sims, "simulations done"

    def _simulate(self, live: Sequence[tuple[Tree, set[int]]], stepper: Stepper) -> None:
        leaves = [(t, select_leaf(t, self.c, shut)) for t, shut in live]
        kids = stepper.expand_within(leaves, self.children, self.max_depth)
        for (tree, shut), children, valued in zip(live, kids, self._values(leaves, kids, stepper), strict=True):
            for node, value in valued:
                backprop(tree, node, value)
            for node in children:
                close(tree, node, shut)

    def _values(
        self, leaves: Sequence[tuple[Tree, Node]], kids: Sequence[list[Node]], stepper: Stepper
    ) -> list[list[tuple[Node, float]]]:
        """(node, value) pairs to backpropagate, per tree."""
        ctx = stepper.ctx
        if self.value == "estimate":
            for (tree, _), children in zip(leaves, kids, strict=True):
                score_nodes(ctx, tree, children, self.agg)
            return [[(k, k.value or 0.0) for k in children] for children in kids]
        starts: list[tuple[Tree, Node]] = []
        for (tree, _), children in zip(leaves, kids, strict=True):
            first = next((k for k in children if not k.finished), None)
            if first is not None:
                starts.append((tree, first))
        rolls = stepper.rollout(starts, [self.max_depth - k.depth for _, k in starts], greedy=False, force=True)
        for (_, node), r in zip(starts, rolls, strict=True):
            node.info["rollout"] = {"text": r.text, "tokens": r.n_tokens, "terminal": r.terminal}  # "empty": dead
        return [self._score_complete(tree, children, ctx) for (tree, _), children in zip(leaves, kids, strict=True)]

    def _score_complete(self, tree: Tree, children: list[Node], ctx: Context) -> list[tuple[Node, float]]:
        """Score the finished children and the rollout (if any) of one expansion as complete solutions."""
        done = [k for k in children if k.solution]
        rolled = [k for k in children if _rolled(k)]
        texts = [k.prefix for k in done] + [k.prefix + k.info["rollout"]["text"] for k in rolled]
        values = score_solutions(ctx, tree, texts, self.agg)
        dead = [k for k in children if k.dead_end or ("rollout" in k.info and not _rolled(k))]
        pairs = list(zip(done + rolled + dead, [*values, *[0.0] * len(dead)], strict=True))
        for node, v in pairs:
            node.value = v
        return pairs

    def _complete_best(self, trees: Sequence[Tree], stepper: Stepper) -> None:
        """Complete a node once where the final pick would find no solution: the end of the most visited path
        (select="visits") or, for select="score", the best open node of a tree with no solution at all."""
        todo = []
        for tree in trees:
            if self.select == "visits":
                end = (best_path(tree) or [tree.root])[-1]
                scope = subtree(tree, end)
            else:
                end = min((n for n in tree.nodes if not n.finished), key=rank_key, default=tree.root)
                scope = tree.nodes
            if not end.finished and not any(n.solution or _rolled(n) for n in scope):
                todo.append((tree, end))
        if not todo:
            return
        try:
            kids = stepper.expand(todo, 1, "forced")
            for (tree, _), [child] in zip(todo, kids, strict=True):
                if self.value == "estimate":
                    score_nodes(stepper.ctx, tree, [child], self.agg)
                else:
                    [child.value] = score_solutions(stepper.ctx, tree, [child.prefix], self.agg)
        except BudgetExhausted:
            return  # what was completed stays a candidate, unscored

    def _result(self, tree: Tree, ctx: Context, event: TraceEvent) -> Result:
        owners: list[Node] = []
        drafts: list[Candidate] = []
        for node in tree.nodes:
            if node.solution:
                owners.append(node)
                drafts.append(tree.candidate(node, ctx.task))
            if _rolled(node):
                roll = node.info["rollout"]
                owners.append(node)
                drafts.append(tree.candidate(node, ctx.task, roll["text"], roll["tokens"]))
        candidates = guard(tree.problem, drafts, ctx)
        if self.select == "score":
            answer, selected, chosen = pick(candidates, "score", ctx)
        else:
            path = best_path(tree)
            selected, end = _below_path(tree, path, owners, candidates)
            answer = None if selected is None else candidates[selected].answer
            data = {"rule": "visits", "path": [n.id for n in path], "below": end.id, "selected": selected}
            chosen = TraceEvent("select", data)
        trace = [event, tree.event(), *filter_events(candidates), chosen]
        return result(self, tree.problem, ctx, answer, candidates, trace, selected)


def _below_path(
    tree: Tree, path: Sequence[Node], owners: Sequence[Node], candidates: Sequence[Candidate]
) -> tuple[int | None, Node]:
    """The best kept candidate below the deepest node of ``path`` that has one below it, and that node. Only
    candidates with an answer count when any kept one has an answer (the root's subtree holds them all)."""
    kept = [i for i, c in enumerate(candidates) if c.filtered is None]
    pool = [i for i in kept if candidates[i].answer is not None] or kept
    for end in reversed([tree.root, *[n for n in path if n is not tree.root]]):
        inside = {n.id for n in subtree(tree, end)}
        mine = [i for i in pool if owners[i].id in inside]
        if mine:
            return best_scored(candidates, mine), end
    return None, tree.root


def _rolled(node: Node) -> bool:
    """Whether ``node`` has a rollout that reached something (a rollout ending in an empty step is a dead end:
    value 0, not a candidate)."""
    roll = node.info.get("rollout")
    return roll is not None and roll["terminal"] != "empty"
