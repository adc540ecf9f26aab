"""The shared core of step-level search strategies (beam search, DVTS, lookahead, ToT, forest, MCTS).

- ``tree``: nodes (partial solutions = rendered prompt + steps so far) and the tree's trace.
- ``expand``: one batched backend call per round for all leaves of all problems; terminal detection;
  rollouts and forced completions.
- ``evaluate``: process-scorer values, outcome scores of complete solutions, model votes.
- ``levels``: the level-by-level loop (beam search, DVTS, ToT BFS, forests) and pruning by rank/threshold.
- ``dfs``: depth-first search with backtracking; ``uct``: MCTS bookkeeping.
- ``finish``: trees, budget checks, final pick, Results, and errors that keep the tree so far.

Strategies live in ``ponder.strategies``; this package has no strategy of its own.
"""

from ponder.search.expand import Stepper
from ponder.search.tree import Node, Tree

__all__ = ["Node", "Stepper", "Tree"]
