"""Monte Carlo tree search bookkeeping: UCT selection, backpropagation, closing exhausted subtrees.

A node is *closed* when nothing new can be learnt below it: it is terminal, or it has been expanded and all
its children are closed. Selection never enters a closed child, so a search whose root is closed has
explored its whole (depth-bounded) tree and stops even without a budget. UCT (Kocsis & Szepesvári, 2006):
``mean value + c * sqrt(ln(parent visits) / child visits)``; unvisited children come first, ties go to
the earlier node. This module does no generation and no scoring.
"""

from __future__ import annotations

import math

from ponder.search.tree import Node, Tree


def uct(parent: Node, child: Node, c: float) -> float:
    """The UCT priority of ``child`` (infinite while unvisited)."""
    if child.visits == 0:
        return math.inf
    explore = math.sqrt(math.log(max(parent.visits, 1)) / child.visits)
    return child.total / child.visits + c * explore


def select_leaf(tree: Tree, c: float, closed: set[int]) -> Node:
    """Descend from the root by UCT through open children to a node not yet expanded."""
    node = tree.root
    while node.children:
        kids = [tree.nodes[i] for i in node.children if i not in closed]
        node = max(kids, key=lambda k: (uct(node, k, c), -k.id))
    return node


def backprop(tree: Tree, node: Node, value: float) -> None:
    """Count one visit of value ``value`` on ``node`` and every ancestor."""
    current: Node | None = node
    while current is not None:
        current.visits += 1
        current.total += value
        current = None if current.parent is None else tree.nodes[current.parent]


def close(tree: Tree, node: Node, closed: set[int]) -> None:
    """Close ``node`` if it is terminal or fully closed below, then its ancestors likewise."""
    current: Node | None = node
    while current is not None:
        done = current.finished or (bool(current.children) and all(i in closed for i in current.children))
        if not done:
            return
        closed.add(current.id)
        current = None if current.parent is None else tree.nodes[current.parent]


def best_path(tree: Tree) -> list[Node]:
    """The most visited path from the root (ties: higher mean value, then the earlier node)."""
    path, node = [], tree.root
    while node.children:
        kids = [tree.nodes[i] for i in node.children]
        visited = [k for k in kids if k.visits] or kids
        node = max(visited, key=lambda k: (k.visits, k.total / max(k.visits, 1), -k.id))
        path.append(node)
    return path


def subtree(tree: Tree, node: Node) -> list[Node]:
    """``node`` and all its descendants."""
    out, todo = [], [node]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(tree.nodes[i] for i in current.children)
    return sorted(out, key=lambda n: n.id)
