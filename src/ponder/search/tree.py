"""The search tree of one problem: nodes are partial solutions, each one step longer than its parent.

A partial solution is the problem's prompt (rendered once, never re-templated) followed by ``node.prefix``,
the raw text of the steps so far with the delimiters that ended them. A child's prefix is its parent's
prefix plus one step, so every prompt sent to a backend is an exact string extension of its parent's and
prefix caches reuse it. A node ends its path (``terminal``) when its step carries a final answer, the model
stopped on its own, or the depth limit forced a completion. Pruned nodes stay in the tree with the reason.

This module holds data and bookkeeping only; generation lives in ``search.expand`` and scoring in
``search.evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ponder.tasks.base import Task
from ponder.types import Candidate, Problem, TraceEvent


@dataclass
class Node:
    """One partial (or, when ``terminal`` is set, complete) solution."""

    id: int
    parent: int | None
    depth: int
    """Steps from the root (the root has depth 0 and no step)."""
    step: str
    """This node's step, without the delimiter that ended it."""
    prefix: str
    """Everything generated from the root to here, as appended to the prompt (delimiters included)."""
    n_tokens: int = 0
    """Tokens generated for this step."""
    group: int = 0
    """Independent subtree this node belongs to (DVTS subtrees, forest trees); children inherit it."""
    terminal: str | None = None
    """Why the path ends here: "answer", "eos", "empty", "max_depth", "forced"; None while it goes on."""
    score: float | None = None
    """Score of this step alone."""
    value: float | None = None
    """Aggregated score of the path (what search ranks by)."""
    pruned: str | None = None
    """Why the search stopped expanding this node; None when it was kept."""
    children: list[int] = field(default_factory=list)
    visits: int = 0
    """MCTS: simulations through this node."""
    total: float = 0.0
    """MCTS: sum of the values backpropagated through this node."""
    info: dict[str, Any] = field(default_factory=dict)
    """Strategy-specific notes shown in the trace (lookahead text, votes, rollout)."""

    @property
    def finished(self) -> bool:
        return self.terminal is not None

    @property
    def dead_end(self) -> bool:
        """The path ended with the model writing nothing ("empty"): no candidate, valued 0, no beam slot."""
        return self.terminal == "empty"

    @property
    def solution(self) -> bool:
        """A finished path that is a candidate (every terminal node but a dead end)."""
        return self.finished and not self.dead_end

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "parent": self.parent,
            "depth": self.depth,
            "group": self.group,
            "step": self.step,
            "tokens": self.n_tokens,
            "score": self.score,
            "value": self.value,
            "terminal": self.terminal,
            "pruned": self.pruned,
        }
        if self.visits:
            out["visits"], out["mean_value"] = self.visits, self.total / self.visits
        return {**out, **self.info}


class Tree:
    """The explored tree of one problem. ``nodes[i].id == i``; node 0 is the root (the bare prompt)."""

    def __init__(self, problem: Problem, prompt: str, delimiter: str) -> None:
        self.problem = problem
        self.prompt = prompt
        self.delimiter = delimiter
        self.nodes: list[Node] = [Node(0, None, 0, "", "")]

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def add(self, parent: Node, step: str, sep: str, n_tokens: int, terminal: str | None) -> Node:
        """A new child of ``parent``; ``sep`` is what follows the step in the prompt ("" when it ends a path
        or was cut mid-sentence, the delimiter when the model stopped on it)."""
        node = Node(
            id=len(self.nodes),
            parent=parent.id,
            depth=parent.depth + 1,
            step=step,
            prefix=parent.prefix + step + sep,
            n_tokens=n_tokens,
            group=parent.group,
            terminal=terminal,
        )
        self.nodes.append(node)
        parent.children.append(node.id)
        return node

    def path(self, node: Node) -> list[Node]:
        """The nodes from the root's first step down to ``node`` (the root excluded)."""
        out = []
        while node.parent is not None:
            out.append(node)
            node = self.nodes[node.parent]
        return out[::-1]

    def steps(self, node: Node, extra: str = "") -> list[str]:
        """The steps of ``node``'s text (plus ``extra`` text beyond it): its prefix split at the delimiter.

        A step cut at ``max_step_tokens`` is not a step boundary: the child that continues it extends the same
        step. So the steps, joined with the delimiter, are the text the policy decoded, which a scorer
        continuing the generation prompt (the judge) finds in the KV cache."""
        return self.split(node.prefix + extra)

    def split(self, text: str) -> list[str]:
        return [part for part in text.split(self.delimiter) if part.strip()]

    def tokens(self, node: Node) -> int:
        """Tokens generated along ``node``'s path."""
        return sum(n.n_tokens for n in self.path(node))

    def finished(self, group: int | None = None) -> list[Node]:
        """Solutions (terminal nodes but dead ends) of one group, when given, in creation order."""
        return [n for n in self.nodes if n.solution and (group is None or n.group == group)]

    def groups(self) -> list[int]:
        return sorted({n.group for n in self.nodes[1:]}) or [0]

    def candidate(self, node: Node, task: Task, extra: str = "", extra_tokens: int = 0) -> Candidate:
        """The complete solution ending at ``node`` (plus ``extra`` rollout text) as a Candidate."""
        text = node.prefix + extra
        return Candidate(
            text=text, answer=task.extract_answer(text), score=node.value, n_tokens=self.tokens(node) + extra_tokens
        )

    def prune(self, node: Node, why: str) -> None:
        if node.pruned is None:
            node.pruned = why

    def event(self) -> TraceEvent:
        """The whole explored tree as one trace event."""
        return TraceEvent("tree", {"nodes": [n.to_dict() for n in self.nodes]})
