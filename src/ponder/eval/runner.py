"""The evaluation runner: run every cell of the grid on every problem, append graded records, resume.

``run_eval(config)`` loads the task's problems and the backend, builds the grid (``eval.grid``), skips the
(config, problem) pairs already in ``records.jsonl`` and runs the rest. Work is cut into jobs of one chunk of
problems x one (strategy, seed); a job runs its cells largest budget first, so with the generation cache on
(``ponder.cache``) smaller budgets replay the larger one's samples. Each (cell, chunk) goes through
``api.run_chunks`` (strategies only ever see blind problems) with a fresh Context, whose meter gives the
per-problem usage. Results are graded (``task.is_correct``) and appended as each (cell, chunk) finishes, by
the main thread only (so math-verify's signal-based timeouts work and one thread writes).

Failures: a chunk that raises is run again problem by problem, so one bad problem costs only itself; a
problem that still fails is written to ``errors.jsonl`` with its error, and the run goes on. A ConfigError
(a strategy that needs a scorer, a bad parameter) would fail every problem alike, so it stops the run.
Errors are not records, so the next run retries them. Concurrency: ``workers`` jobs run in threads where
the backend allows (``config.SERIAL_BACKENDS`` run one at a time and batch through ``chunk_size``
instead); see ``eval.work``. With ``ray=RayOptions(...)`` the same jobs run on Ray actors, one backend each,
and this process still grades and writes every record (``eval.distributed``). Interrupting
(Ctrl-C) raises out of ``run_eval`` after cancelling queued jobs; everything appended so far is kept, and
running the same configuration again resumes.

What it does not do: grade with anything but ``task.is_correct``, or aggregate (see ``metrics``/``report``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ponder import api
from ponder.backends.base import Backend, identity_of
from ponder.cache import CachedBackend, CacheStats, SampleStore
from ponder.catalog import Registries, make_registries
from ponder.errors import ConfigError
from ponder.eval.config import SERIAL_BACKENDS, EvalConfig
from ponder.eval.grid import Cell, make_cells
from ponder.eval.records import error_entry, make_record
from ponder.eval.store import RunStore
from ponder.eval.work import Env, Hooks, Job, Outcome, execute, units
from ponder.strategies.base import config_of
from ponder.tasks.base import Task
from ponder.types import Problem, to_jsonable

if TYPE_CHECKING:
    from ponder.eval.distributed import RayOptions

__all__ = ["EvalSummary", "Hooks", "run_eval"]


@dataclass
class EvalSummary:
    """What a run did."""

    out: str
    cells: int
    problems: int
    expected: int
    """Records the grid holds: cells x problems."""
    done_before: int
    """Records already present when the run started (skipped)."""
    written: int = 0
    errors: int = 0
    cache: CacheStats = field(default_factory=CacheStats)
    wall_seconds: float = 0.0


def grid_problems(config: EvalConfig, task: Task | None = None) -> list[Problem]:
    """The problems ``config`` runs: ``limit`` problems of its split from number ``offset`` on."""
    task = task or api.get_task(config.task, make_registries(), **config.task_options)
    count = None if config.limit is None else config.offset + config.limit
    return api.as_problems(list(task.problems(config.split, count))[config.offset :])


def run_eval(
    config: EvalConfig,
    *,
    backend: Backend | None = None,
    hooks: Hooks | None = None,
    registries: Registries | None = None,
    ray: RayOptions | None = None,
) -> EvalSummary:
    """Run (or resume) ``config``'s grid; ``backend`` overrides ``config.backend`` (it is not closed).
    With ``ray``, jobs run on a Ray cluster, one backend per actor (see ``eval.distributed``)."""
    if ray is not None and backend is not None:
        raise ConfigError("a backend object cannot be sent to Ray actors; name it in the config instead")
    hooks = hooks or Hooks()
    reg = registries or make_registries()
    task = api.get_task(config.task, reg, **config.task_options)  # a bad task fails before a model loads
    problems = grid_problems(config, task)
    store = RunStore(config.out, hooks.notify)
    store.open_for_writing()
    try:
        with _engine(config, backend, reg, task, hooks, ray) as (env, run):
            cells = _cells(env)
            done = {(r.get("config"), r.get("problem_id")) for r in store.records()}
            store.append_run({"config": config.to_dict(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
            summary = EvalSummary(str(config.out), len(cells), len(problems), len(cells) * len(problems), 0)
            summary.done_before = sum((c.config, p.id) in done for c in cells for p in problems)
            jobs = _jobs(cells, problems, done, config.chunk_size)
            hooks.total(sum(units(env, cell, len(chunk)) for job in jobs for cell, chunk in job))
            start = time.perf_counter()
            run(jobs, _writer(env, store, summary))
            summary.wall_seconds = time.perf_counter() - start
            return summary
    finally:
        store.close()


Run = Callable[[list[Job], Callable[[Outcome], None]], None]


@contextlib.contextmanager
def _engine(
    config: EvalConfig, backend: Backend | None, reg: Registries, task: Task, hooks: Hooks, ray: RayOptions | None
) -> Iterator[tuple[Env, Run]]:
    """The Env the driver grades with and how jobs run: in this process, or on Ray actors."""
    if ray is not None:
        from ponder.eval.distributed import RayPool

        with RayPool(config, ray, hooks.notify, registries=reg) as pool:
            info = pool.first()
            env = Env(config, reg, task, cast(Backend, info), hooks)  # the driver only reads name/model/n_params

            def on_ray(jobs: list[Job], write: Callable[[Outcome], None]) -> None:
                pool.scale(len(jobs))
                pool.execute(jobs, write, lambda job: hooks.advance(sum(units(env, c, len(p)) for c, p in job)))

            yield env, on_ray
        return
    raw: Backend | None = None
    samples: SampleStore | None = None
    try:
        raw = backend or api.load_backend(config.backend, config.model, reg, **config.backend_options)
        samples = SampleStore(config.cache_file) if config.cache else None
        wrapped = CachedBackend(raw, samples, owner=False) if samples is not None else raw
        env = Env(config, reg, task, wrapped, hooks)
        yield env, lambda jobs, write: execute(env, jobs, write, _workers(env))
    finally:
        if samples is not None:
            samples.close()
        if backend is None and raw is not None:
            raw.close()


def _cells(env: Env) -> list[Cell]:
    """The grid's cells, with the identity fields every cell shares (see ``eval.grid``)."""
    cfg = env.config
    common = {
        "task": cfg.task,
        "task_options": to_jsonable(dict(cfg.task_options)),
        "split": cfg.split,
        "scorer": cfg.scorer,
        "scorer_options": to_jsonable(dict(cfg.scorer_options)),
        "backend": env.backend.name,
        "model": env.backend.model,
        "temperature": cfg.temperature,
        "max_tokens": cfg.max_tokens,
    }
    if cfg.total_budget_tokens is not None:  # only when set, so hashes of runs without it are unchanged
        common["total_budget_tokens"] = cfg.total_budget_tokens
    if identity_of(env.backend) != env.backend.model:  # e.g. the server URL of an HTTP backend
        common["backend_identity"] = identity_of(env.backend)

    def full(strategy: str, params: dict[str, Any]) -> dict[str, Any]:
        return to_jsonable(config_of(api.get_strategy(strategy, env.reg, **params)))  # type: ignore[no-any-return]

    def defaults(strategy: str) -> dict[str, Any]:
        cls = env.reg.strategies.get(strategy)
        return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}

    fixed = {k: dict(v) for k, v in cfg.strategy_params.items()}
    return make_cells(common, cfg.strategies, cfg.budgets, cfg.seeds, fixed, full, defaults, cfg.budget_params)


def _jobs(cells: Sequence[Cell], problems: Sequence[Problem], done: set[Any], chunk_size: int) -> list[Job]:
    """Chunk-major jobs: for each chunk of problems, one job per (strategy, seed) with its cells in order
    (largest budget first); only problems not yet done in a cell are run."""
    groups: dict[tuple[str, int], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.strategy, cell.seed), []).append(cell)
    jobs: list[Job] = []
    for start in range(0, len(problems), chunk_size):
        chunk = problems[start : start + chunk_size]
        for group in groups.values():
            job = [(c, [p for p in chunk if (c.config, p.id) not in done]) for c in group]
            job = [(c, todo) for c, todo in job if todo]
            if job:
                jobs.append(job)
    return jobs


def _workers(env: Env) -> int:
    workers = env.config.workers
    if workers > 1 and env.backend.name in SERIAL_BACKENDS:
        env.hooks.notify(
            f"the {env.backend.name} backend runs one engine call at a time: --workers {workers} -> 1; "
            f"problems are batched through --chunk-size ({env.config.chunk_size}) instead"
        )
        return 1
    return workers


def _writer(env: Env, store: RunStore, summary: EvalSummary) -> Callable[[Outcome], None]:
    """Grade and append an Outcome. Runs on the main thread only, where math-verify's timeouts work."""

    def write(outcome: Outcome) -> None:
        made = []
        for s in outcome.solved:
            try:
                made.append(make_record(s.cell, s.problem, s.result, env.task, s.cache, env.backend))
            except Exception as exc:  # a grading bug must not stop the run: report it like a failed problem
                outcome.errors.append(error_entry(s.cell, s.problem, exc, traceback.format_exc(limit=8)))
        store.append([record for record, _ in made], [trace for _, trace in made])
        store.append_errors(outcome.errors)
        summary.written += len(made)
        summary.errors += len(outcome.errors)
        for s in outcome.solved:
            summary.cache.add(s.cache)
        env.hooks.written(summary.written, summary.errors)

    return write
