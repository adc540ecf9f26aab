"""Level-by-level search: the loop shared by beam search, DVTS, lookahead and breadth-first Tree-of-Thought.

Each level expands every kept node of every problem in one backend call, values the new children (the
strategy's ``evaluate``: process scores, lookahead rollouts or votes) and keeps the best of each group:

- The roots get ``plan.first`` children; child i of a root joins group ``i // plan.group_size``. One group
  per problem gives beam search (keep N/M) and ToT BFS (keep b); N/M groups of M with ``keep=1`` give DVTS
  (independent greedy subtrees); several groups of a ToT give a forest. Groups never share a node.
- Within a group, children valued below ``plan.threshold`` are pruned; the rest are ranked by value (ties:
  the earlier node) and the top ``plan.keep`` take the group's slots. A finished child in a slot is a final
  candidate; an unfinished one is expanded by ``plan.width`` next level. Finished children outside the
  slots stay candidates too (nothing complete is thrown away); unfinished ones are pruned with their rank.
- The level at ``plan.max_depth`` is generated without the delimiter stop, so every kept path ends there
  with a complete answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ponder.search.expand import Stepper
from ponder.search.tree import Node, Tree

Batches = list[tuple[Tree, list[Node]]]
Evaluate = Callable[[Batches], None]
"""Sets ``value`` (and ``score``) of the new nodes of each tree; all trees in one batch of calls."""


@dataclass(frozen=True)
class Plan:
    """The shape of a level-by-level search."""

    first: int
    """Children drawn from each root."""
    group_size: int
    """Root children per group (independent subtree)."""
    width: int
    """Children drawn from each kept node."""
    keep: int
    """Nodes kept per group and level."""
    max_depth: int
    """Steps at most; the last is generated to the end."""
    threshold: float | None = None
    """Children valued below this are pruned before ranking; None prunes none."""


def grow_roots(trees: Sequence[Tree], stepper: Stepper, plan: Plan, evaluate: Evaluate) -> Batches:
    """The first level: ``plan.first`` children per root, assigned to groups, valued."""
    final = "max_depth" if plan.max_depth == 1 else None
    kids = stepper.expand([(t, t.root) for t in trees], plan.first, final)
    for children in kids:
        for i, node in enumerate(children):
            node.group = i // plan.group_size
    batches = list(zip(trees, kids, strict=True))
    evaluate(batches)
    return batches


def level_search(trees: Sequence[Tree], stepper: Stepper, plan: Plan, evaluate: Evaluate) -> int:
    """Run the search to the end on all ``trees`` at once; returns the number of levels generated."""
    batches = grow_roots(trees, stepper, plan, evaluate)
    stepper.ctx.advance(len(trees))
    for depth in range(2, plan.max_depth + 1):
        live = [(t, n) for t, nodes in batches for n in survivors(t, nodes, plan.keep, plan.threshold)]
        if not live:
            return depth - 1
        kids = stepper.expand(live, plan.width, "max_depth" if depth == plan.max_depth else None)
        batches = regroup(trees, live, kids)
        evaluate(batches)
        stepper.ctx.advance(len(trees))
    return plan.max_depth


def regroup(trees: Sequence[Tree], leaves: Sequence[tuple[Tree, Node]], kids: Sequence[list[Node]]) -> Batches:
    """The new children gathered per tree (trees without any are left out)."""
    per: dict[int, list[Node]] = {}
    for (tree, _), children in zip(leaves, kids, strict=True):
        per.setdefault(id(tree), []).extend(children)
    return [(t, per[id(t)]) for t in trees if id(t) in per]


def rank_key(node: Node) -> tuple[float, int]:
    """Best first: higher value, then the earlier node."""
    value = node.value if node.value is not None and not math.isnan(node.value) else -math.inf
    return (-value, node.id)


def survivors(tree: Tree, kids: Sequence[Node], keep: int, threshold: float | None) -> list[Node]:
    """The unfinished children that go on (best first per group); the other unfinished ones are pruned."""
    out: list[Node] = []
    for group in sorted({n.group for n in kids}):
        ranked = sorted((n for n in kids if n.group == group), key=rank_key)
        slots = 0
        for rank, node in enumerate(ranked, 1):
            if node.dead_end:
                continue
            if threshold is not None and (node.value is None or node.value < threshold):
                if not node.finished:
                    tree.prune(node, f"value {node.value} below threshold {threshold}")
                continue
            if slots < keep:
                slots += 1
                if not node.finished:
                    out.append(node)
            elif not node.finished:
                tree.prune(node, f"rank {rank} of {len(ranked)} in group {group}; {keep} kept")
    return out
