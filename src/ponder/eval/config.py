"""EvalConfig: everything one ``ponder eval`` run is asked to do, validated on construction.

It says which grid to run (task x strategies x budgets x seeds, ``limit`` problems), with what (backend,
model, scorer, sampling), where to write (``out``), and how (workers, chunk size, cache). It is written to
``runs.jsonl`` in the output directory at the start of every run, so each run can be repeated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError
from ponder.types import to_jsonable

__all__ = ["SERIAL_BACKENDS", "EvalConfig"]

SERIAL_BACKENDS: frozenset[str] = frozenset({"llamacpp", "vllm"})
"""Backends that own one in-process engine: they run one call at a time, so ``workers`` is forced to 1 and
problems are batched together through ``chunk_size`` instead (one engine call serves a whole chunk)."""


def _int_at_least(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def _distinct(name: str, values: tuple[Any, ...]) -> None:
    if not values:
        raise ConfigError(f"{name} must not be empty")
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ConfigError(f"{name} must not repeat values, got {list(values)!r} (repeated: {', '.join(repeated)})")


@dataclass(frozen=True)
class EvalConfig:
    """One evaluation run. Validated on construction; errors show the bad value."""

    out: Path
    """Output directory (records, traces, errors, cache); an existing one is resumed."""
    task: str = "gsm_symbolic"
    """Registry name of the task."""
    task_options: Mapping[str, Any] = field(default_factory=dict)
    """Options of the task (e.g. ``path`` for jsonl, ``seed`` for gsm_symbolic)."""
    split: str = "test"
    limit: int | None = 100
    """The first ``limit`` problems of the split (after ``offset``); None = all."""
    offset: int = 0
    """Problems skipped at the start of the split: e.g. hold out the problems after a calibration prefix, or
    shard a run. Records are keyed by problem id, so runs with different offsets share one directory."""
    strategies: tuple[str, ...] = ("self_consistency",)
    budgets: tuple[int, ...] = (1, 2, 4, 8)
    """Budgets, each mapped to the strategy's budget parameter (see ``eval.grid.BUDGET_PARAM``)."""
    seeds: tuple[int, ...] = (0,)
    """Sampling seeds; each is a separate cell of the grid."""
    strategy_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Fixed parameters per strategy name, e.g. ``{"beam_search": {"beam_width": 2}}``."""
    budget_params: Mapping[str, str] = field(default_factory=dict)
    """Budget parameters of strategies ``BUDGET_PARAM`` lacks (plugins)."""
    scorer: str | None = None
    scorer_options: Mapping[str, Any] = field(default_factory=dict)
    backend: str = "llamacpp"
    model: str | None = None
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    temperature: float = 0.8
    max_tokens: int = 1024
    workers: int = 1
    """Chunks run concurrently (threads); forced to 1 for ``SERIAL_BACKENDS``."""
    chunk_size: int = 16
    """Problems given to a strategy at once (batched into the same backend calls)."""
    cache: bool = True
    """Cache generations (seeded calls only) so that repeated and smaller-budget runs replay them."""
    cache_path: Path | None = None
    """Where the cache lives; None = ``out / "cache.sqlite"``."""
    total_budget_tokens: int | None = None
    """Batch budget: generated tokens for all the problems of one (cell, chunk), a hard cap on its meter
    (the ``adaptive`` strategy splits it by difficulty). None = no cap."""

    def __post_init__(self) -> None:
        if not isinstance(self.out, Path):
            raise ConfigError(f"out must be a pathlib.Path, got {self.out!r}")
        for name in ("task", "split", "backend"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
        if self.limit is not None:
            _int_at_least("limit", self.limit, 1)
        _int_at_least("offset", self.offset, 0)
        self._check_grid()
        if not (isinstance(self.temperature, int | float) and math.isfinite(self.temperature)) or self.temperature < 0:
            raise ConfigError(f"temperature must be a finite number >= 0, got {self.temperature!r}")
        _int_at_least("max_tokens", self.max_tokens, 1)
        _int_at_least("workers", self.workers, 1)
        _int_at_least("chunk_size", self.chunk_size, 1)
        if self.total_budget_tokens is not None:
            _int_at_least("total_budget_tokens", self.total_budget_tokens, 1)

    def _check_grid(self) -> None:
        for name in ("strategies", "budgets", "seeds"):
            if not isinstance(getattr(self, name), tuple):
                raise ConfigError(f"{name} must be a tuple, got {getattr(self, name)!r}")
        _distinct("strategies", self.strategies)
        _distinct("budgets", self.budgets)
        _distinct("seeds", self.seeds)
        for s in self.strategies:
            if not isinstance(s, str) or not s:
                raise ConfigError(f"strategy names must be non-empty strings, got {s!r}")
        for b in self.budgets:
            _int_at_least("every budget", b, 1)
        for seed in self.seeds:
            _int_at_least("every seed", seed, 0)
        unknown = sorted(set(self.strategy_params) - set(self.strategies))
        if unknown:
            raise ConfigError(
                f"parameters given for strategies not in the run: {', '.join(unknown)} "
                f"(running: {', '.join(self.strategies)})"
            )

    @property
    def cache_file(self) -> Path:
        return self.cache_path if self.cache_path is not None else self.out / "cache.sqlite"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (paths as strings)."""
        data: dict[str, Any] = to_jsonable(self)
        data["out"] = str(self.out)
        data["cache_path"] = None if self.cache_path is None else str(self.cache_path)
        return data
