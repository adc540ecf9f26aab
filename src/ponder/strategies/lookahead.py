"""Lookahead search (Snell et al., 2024): beam search whose step values come from short greedy rollouts.

Each new, unfinished beam is continued ``lookahead`` steps greedily (temperature 0, one batched backend
call per rollout step for all beams of all problems); the process scorer then scores the beam's steps plus
the rollout, and the beam's value is the aggregate over all of them. The rollout is only an estimate: it is
not added to the tree (the trace shows it as the node's ``lookahead`` text) and the beam grows from its own
step. Everything else, DVTS included, is ``BeamSearch`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ponder.search.checks import int_at_least
from ponder.search.evaluate import score_nodes
from ponder.search.expand import Stepper
from ponder.search.levels import Batches, Evaluate
from ponder.strategies.beam import BeamSearch


@dataclass
class Lookahead(BeamSearch):
    """Beam search valuing each step by a ``lookahead``-step greedy rollout."""

    name: ClassVar[str] = "lookahead"
    lookahead: int = 1
    """Greedy steps rolled out beyond each new step before scoring it (k)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        int_at_least(self.name, "lookahead", self.lookahead, 1)

    def work_units(self, n_problems: int) -> int:
        return n_problems * self.max_depth

    def evaluator(self, stepper: Stepper) -> Evaluate:
        """Values new nodes by the process score of their steps plus a greedy rollout."""

        def evaluate(batches: Batches) -> None:
            leaves = [(tree, node) for tree, nodes in batches for node in nodes]
            rollouts = stepper.rollout(leaves, [self.lookahead] * len(leaves), greedy=True, force=False)
            start = 0
            for tree, nodes in batches:
                mine = rollouts[start : start + len(nodes)]
                start += len(nodes)
                for node, r in zip(nodes, mine, strict=True):
                    if r.text:
                        node.info["lookahead"] = r.text
                score_nodes(stepper.ctx, tree, nodes, self.agg, [r.text for r in mine])

        return evaluate
