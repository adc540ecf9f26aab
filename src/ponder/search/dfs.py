"""Depth-first search with pruning and backtracking (Tree-of-Thought DFS, Yao et al., 2023).

Every group (one per tree of a forest) keeps a stack of open nodes, best on top. Each round pops the top
node of every active stack (all problems and groups together) and expands it in one backend call (plus
one final call, to the end with no delimiter stop, for nodes one step above ``max_depth``). New
children valued below ``threshold`` are pruned; when all of a node's children are pruned or dead ends the
next pop backtracks to the best remaining sibling or ancestor's sibling. A group stops once it has found
``solutions`` finished nodes with an answer (valued at or above the threshold), has expanded
``max_expansions`` nodes, or has nothing left to try; nodes still on its stack are marked unexplored.
"""

from __future__ import annotations

from collections.abc import Sequence

from ponder.search.expand import Stepper
from ponder.search.levels import Evaluate, Plan, grow_roots, rank_key, regroup
from ponder.search.tree import Node, Tree
from ponder.tasks.base import Task

Key = tuple[int, int]
"""(tree index, group)."""


class _Stacks:
    def __init__(self, trees: Sequence[Tree], task: Task, plan: Plan, solutions: int, max_expansions: int) -> None:
        self.trees, self.task, self.plan = trees, task, plan
        self.solutions, self.max_expansions = solutions, max_expansions
        self.stacks: dict[Key, list[Node]] = {}
        self.found: dict[Key, int] = {}
        self.expanded: dict[Key, int] = {}

    def push(self, ti: int, kids: Sequence[Node]) -> None:
        """File new children: count solutions, prune those below the threshold, stack the rest best-last."""
        tree, threshold = self.trees[ti], self.plan.threshold
        for node in sorted(kids, key=rank_key, reverse=True):
            key = (ti, node.group)
            self.stacks.setdefault(key, [])
            self.expanded.setdefault(key, 1)
            low = threshold is not None and (node.value is None or node.value < threshold)
            if node.finished:
                solved = not low and self.task.extract_answer(node.prefix) is not None
                self.found[key] = self.found.get(key, 0) + solved
            elif low:
                tree.prune(node, f"value {node.value} below threshold {threshold}")
            else:
                self.stacks[key].append(node)

    def pop(self) -> list[tuple[int, Node]]:
        """The next node of every group still searching."""
        out = []
        for key, stack in self.stacks.items():
            if stack and self.found.get(key, 0) < self.solutions and self.expanded[key] < self.max_expansions:
                out.append((key[0], stack.pop()))
                self.expanded[key] += 1
        return out

    def close(self) -> None:
        for (ti, _), stack in self.stacks.items():
            for node in stack:
                self.trees[ti].prune(node, "unexplored: the search stopped first")


def depth_first(
    trees: Sequence[Tree], stepper: Stepper, plan: Plan, evaluate: Evaluate, solutions: int, max_expansions: int
) -> int:
    """Run DFS on all trees at once; returns the number of rounds (root expansion included)."""
    stacks = _Stacks(trees, stepper.ctx.task, plan, solutions, max_expansions)
    for ti, (_, first) in enumerate(grow_roots(trees, stepper, plan, evaluate)):
        stacks.push(ti, first)
    stepper.ctx.advance(len(trees))
    rounds = 1
    while popped := stacks.pop():
        rounds += 1
        leaves = [(trees[ti], n) for ti, n in popped]
        kids = stepper.expand_within(leaves, plan.width, plan.max_depth)
        evaluate(regroup(trees, leaves, kids))
        for (ti, _), children in zip(popped, kids, strict=True):
            stacks.push(ti, children)
        stepper.ctx.advance(len(trees))
    stacks.close()
    return rounds
