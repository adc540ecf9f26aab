"""Executing evaluation work: run (cell, chunk) pieces inline or in worker threads, catch failures.

A job is one chunk of problems x one (strategy, seed): its cells (largest budget first) run one after the
other, each through ``api.run_chunks`` with a fresh Context (a fresh meter gives per-problem usage; over a
cache view, per-prompt cache statistics). Each finished (cell, chunk) is handed to ``emit`` as an Outcome of
ungraded results and errors; with several workers, outcomes go through a queue to the calling thread, which
alone writes. A chunk that raises is retried problem by problem; what still fails becomes an error entry;
a ConfigError stops everything (it would fail every problem alike). Used by ``eval.runner`` and, inside
Ray actors, by ``eval.distributed``.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from ponder import api
from ponder.backends.base import Backend
from ponder.budget import Budget
from ponder.cache import CachedBackend, CacheStats
from ponder.catalog import Registries
from ponder.errors import ConfigError, StrategyError
from ponder.eval.config import EvalConfig
from ponder.eval.grid import Cell
from ponder.eval.records import attribute_cache, error_entry
from ponder.tasks.base import Task
from ponder.types import Problem, Result, SamplingParams

__all__ = ["Env", "Hooks", "Job", "Outcome", "Solved", "execute", "run_job", "units"]


def _nothing(*args: Any) -> None:
    return None


@dataclass(frozen=True)
class Hooks:
    """Callbacks for progress display. ``advance`` may be called from worker threads."""

    total: Callable[[int], None] = _nothing
    """Called once with the number of work units (strategy progress units) to run."""
    advance: Callable[[int], None] = _nothing
    written: Callable[[int, int], None] = _nothing
    """Called after each append with the records and errors written so far."""
    notify: Callable[[str], None] = _nothing
    """A message for the user (repairs, forced settings)."""


@dataclass(frozen=True)
class Solved:
    """One problem solved under one cell, not yet graded."""

    cell: Cell
    problem: Problem
    result: Result
    cache: CacheStats


@dataclass
class Outcome:
    """What one (cell, chunk) produced: results to grade, and errors."""

    solved: list[Solved] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Env:
    """What every piece of work needs: the run's config, registries, task, (cached) backend and hooks."""

    config: EvalConfig
    reg: Registries
    task: Task
    backend: Backend | CachedBackend
    hooks: Hooks
    stop: threading.Event = field(default_factory=threading.Event)


Job = list[tuple[Cell, list[Problem]]]


def units(env: Env, cell: Cell, n_problems: int) -> int:
    """Progress units the cell's strategy reports for ``n_problems`` problems."""
    return int(api.get_strategy(cell.strategy, env.reg, **cell.params).work_units(n_problems))


def execute(env: Env, jobs: list[Job], write: Callable[[Outcome], None], workers: int) -> None:
    """Run the jobs (inline or in threads); ``write`` is only ever called from this thread."""
    if workers == 1:
        for job in jobs:
            run_job(env, job, write)
        return
    results: queue.Queue[Outcome] = queue.Queue()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ponder-eval")
    futures: list[Future[None]] = []
    try:
        futures = [pool.submit(run_job, env, job, results.put) for job in jobs]
        while True:
            try:
                write(results.get(timeout=0.1))
                continue
            except queue.Empty:
                pass
            for f in futures:
                if f.done() and f.exception() is not None:
                    raise f.exception()  # type: ignore[misc]
            if all(f.done() for f in futures) and results.empty():
                break
    finally:
        env.stop.set()
        pool.shutdown(wait=False, cancel_futures=True)


def run_job(env: Env, job: Job, emit: Callable[[Outcome], None]) -> None:
    """Run one job's cells in order, handing each (cell, chunk)'s Outcome to ``emit``."""
    for cell, problems in job:
        if env.stop.is_set():
            return
        emit(_run_cell(env, cell, problems))


def _run_cell(env: Env, cell: Cell, problems: list[Problem]) -> Outcome:
    """Records for ``problems`` under ``cell``; on failure, problem by problem, failures as errors."""
    expected = units(env, cell, len(problems))
    reported = [0]

    def tick(units: int) -> None:
        reported[0] += units
        env.hooks.advance(units)

    outcome = Outcome()
    try:
        _solve(env, cell, problems, outcome, tick)
    except Exception as exc:
        _raise_config_error(exc)
        if len(problems) == 1:
            outcome.errors.append(error_entry(cell, problems[0], exc, traceback.format_exc(limit=8)))
        else:
            for problem in problems:
                try:
                    _solve(env, cell, [problem], outcome, None)
                except Exception as one:
                    _raise_config_error(one)
                    outcome.errors.append(error_entry(cell, problem, one, traceback.format_exc(limit=8)))
    if reported[0] < expected:
        env.hooks.advance(expected - reported[0])
    return outcome


def _raise_config_error(exc: Exception) -> None:
    """A ConfigError (e.g. a strategy that needs a scorer, or a bad parameter) would fail every problem the
    same way: stop the run with it instead of recording one error per problem."""
    cause = exc.__cause__ if isinstance(exc, StrategyError) else exc
    if isinstance(cause, ConfigError):
        raise cause


def _solve(env: Env, cell: Cell, problems: list[Problem], outcome: Outcome, tick: Callable[[int], None] | None) -> None:
    """Run one cell on ``problems`` with a fresh Context and add their records to ``outcome``."""
    cfg = env.config
    backend = env.backend.view() if isinstance(env.backend, CachedBackend) else env.backend
    ctx = api.make_context(
        cast(Backend, backend),
        env.task,
        env.reg,
        params=SamplingParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens),
        seed=cell.seed,
        scorer=cfg.scorer,
        scorer_options=dict(cfg.scorer_options),
        progress=tick,
        budget=None if cfg.total_budget_tokens is None else Budget(max_completion_tokens=cfg.total_budget_tokens),
    )
    strategy = api.get_strategy(cell.strategy, env.reg, **cell.params)
    results = api.run_chunks(strategy, problems, ctx, len(problems))
    stats = attribute_cache(backend.prompt_stats, problems) if isinstance(backend, CachedBackend) else {}
    for problem, result in zip(problems, results, strict=True):
        outcome.solved.append(Solved(cell, problem, result, stats.get(problem.id, CacheStats())))
