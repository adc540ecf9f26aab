"""What the PRM scorer keeps between calls: model states of scored trajectories, and planned scoring jobs."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass
class KeptState:
    """A kept model state: row ``row`` of a (possibly batched) cache holds ``ids`` and nothing after."""

    cache: Any
    row: int
    ids: tuple[int, ...]
    scores: tuple[float, ...]

    def for_children(self, n: int) -> Any:
        """A cache of batch ``n``, each row a copy of this state."""
        import torch

        state = copy.deepcopy(self.cache)
        state.batch_select_indices(torch.tensor([self.row]))
        extra = state.get_seq_length() - len(self.ids)
        if extra:
            state.crop(-extra)
        if n > 1:
            state.batch_repeat_interleave(n)
        return state


@dataclass
class Job:
    question: str
    steps: tuple[str, ...]
    ids: list[int]
    reads: list[int]
    parent: KeptState | None = None
    rows: list[int] = field(default_factory=list)
    """Indices of the candidates this job scores (identical trajectories share one job)."""

    @property
    def past(self) -> int:
        return len(self.parent.ids) if self.parent else 0

    @property
    def first_new(self) -> int:
        return len(self.parent.scores) if self.parent else 0
