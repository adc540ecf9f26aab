"""Bookkeeping of llama.cpp's unified KV cache for the llamacpp backend: sequence slots and shared cells.

A slot is one llama.cpp sequence id. It is free, active (a sequence being generated) or cached (a finished
sequence kept for prefix reuse, evicted least-recently-used first). Each slot knows the token ids its KV
cells hold; cells are reference-counted, because ``seq_cp`` makes sequences share a prefix's cells, so the
number of cells in use is known exactly and the pool (``n_cells``) is never overcommitted. Every change is
mirrored on the real cache through a ``Memory`` object (``seq_cp`` / ``seq_rm``), so the two never disagree.
This module runs no model; it is plain Python and tested without one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal, Protocol

SlotState = Literal["free", "active", "cached"]


class Memory(Protocol):
    def seq_cp(self, src: int, dst: int, p0: int, p1: int) -> None: ...
    def seq_rm(self, seq: int, p0: int, p1: int) -> bool: ...
    def clear(self) -> None: ...


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token lists (compared in C-speed chunks)."""
    n = min(len(a), len(b))
    lo = 0
    while lo < n:
        hi = min(n, lo + 256)
        if a[lo:hi] != b[lo:hi]:
            return next(i for i in range(lo, hi) if a[i] != b[i])
        lo = hi
    return n


class KVCache:
    """Slots, their tokens and their reference-counted cells, kept in step with a llama.cpp memory."""

    def __init__(self, memory: Memory, n_slots: int, n_cells: int) -> None:
        self.memory = memory
        self.n_slots, self.n_cells = n_slots, n_cells
        self.tokens: list[list[int]] = [[] for _ in range(n_slots)]
        self.state: list[SlotState] = ["free"] * n_slots
        self._cells: list[list[int]] = [[] for _ in range(n_slots)]
        self._refs: dict[int, int] = {}
        self._ids = itertools.count()
        self._last_used = [0] * n_slots
        self._clock = itertools.count(1)

    @property
    def used_cells(self) -> int:
        return len(self._refs)

    @property
    def free_cells(self) -> int:
        return self.n_cells - len(self._refs)

    def best_prefix(self, tokens: Sequence[int]) -> tuple[int | None, int]:
        """The slot sharing the longest token prefix with ``tokens``, and that length (None, 0 if none)."""
        best, best_len = None, 0
        for slot, held in enumerate(self.tokens):
            if held:
                n = common_prefix(held, tokens)
                if n > best_len:
                    best, best_len = slot, n
        return best, best_len

    def slots_in(self, state: SlotState) -> list[int]:
        return [s for s in range(self.n_slots) if self.state[s] == state]

    def lru_cached(self, exclude: int | None = None) -> int | None:
        """The least recently used cached slot (other than ``exclude``), or None."""
        cached = [s for s in self.slots_in("cached") if s != exclude]
        return min(cached, key=lambda s: self._last_used[s]) if cached else None

    def cells_freed_by_evicting(self, slot: int) -> int:
        """How many cells evicting ``slot`` would release (those no other slot shares)."""
        return sum(1 for c in self._cells[slot] if self._refs[c] == 1)

    def activate(self, slot: int) -> None:
        self.state[slot] = "active"
        self.touch(slot)

    def release(self, slot: int) -> None:
        """An active slot's sequence finished: keep its cells as a cached prefix."""
        self.state[slot] = "cached" if self.tokens[slot] else "free"
        self.touch(slot)

    def touch(self, slot: int) -> None:
        self._last_used[slot] = next(self._clock)

    def evict(self, slot: int) -> None:
        """Drop a slot's whole sequence from the cache; the slot becomes free."""
        self.memory.seq_rm(slot, -1, -1)
        self._drop(slot, 0)
        self.state[slot] = "free"

    def copy_prefix(self, src: int, dst: int, n: int) -> None:
        """Make empty slot ``dst`` hold the first ``n`` tokens of ``src`` (sharing their cells)."""
        if self.tokens[dst]:
            raise RuntimeError(f"slot {dst} is not empty")
        if n > 0:
            self.memory.seq_cp(src, dst, 0, n)
            self.tokens[dst] = self.tokens[src][:n]
            self._cells[dst] = self._cells[src][:n]
            for c in self._cells[dst]:
                self._refs[c] += 1

    def truncate(self, slot: int, n: int) -> bool:
        """Keep only the first ``n`` tokens of ``slot``; False (nothing changed) if llama.cpp refused."""
        if n >= len(self.tokens[slot]):
            return True
        if not self.memory.seq_rm(slot, n, -1):
            return False
        self._drop(slot, n)
        return True

    def appended(self, slot: int, tokens: Sequence[int]) -> None:
        """Record that ``tokens`` were just decoded into ``slot`` (after a successful llama_decode)."""
        self.tokens[slot].extend(tokens)
        fresh = [next(self._ids) for _ in tokens]
        self._cells[slot].extend(fresh)
        for c in fresh:
            self._refs[c] = 1

    def reset(self) -> None:
        """Forget everything and clear the real cache (after a failed decode)."""
        self.memory.clear()
        for slot in range(self.n_slots):
            self.tokens[slot], self._cells[slot], self.state[slot] = [], [], "free"
        self._refs.clear()

    def _drop(self, slot: int, n: int) -> None:
        for c in self._cells[slot][n:]:
            left = self._refs[c] - 1
            if left:
                self._refs[c] = left
            else:
                del self._refs[c]
        del self.tokens[slot][n:]
        del self._cells[slot][n:]
