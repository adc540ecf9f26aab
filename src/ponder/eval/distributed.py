"""Run an evaluation's jobs on a Ray cluster (``ponder eval --ray``): one backend per actor, the driver writes.

The grid, the jobs (one chunk of problems x one (strategy, seed), see ``eval.runner``) and the records are
exactly those of a local run; only where jobs run changes. Each ``EvalWorker`` actor loads the run's task
and its own backend (and opens the generation cache file, which several processes may share through
SQLite's WAL) and runs whole jobs with ``eval.work.run_job``, so every prefix of a problem stays on the
replica that holds its KV cache. An actor returns a job's ungraded Outcomes in one piece; the driver grades
and appends them through the same ``RunStore`` as a local run, on its main thread, as results arrive. So
resuming, skipping what is done and never writing a record twice work as before.

Failures: when an actor dies mid-job (its process or node is lost, or someone kills it), the job's results
are simply never received; the dead actor is replaced by a new one and the job goes back to the front of
the queue, to whichever actor is free first (at most ``max_attempts`` tries; then its problems become error
entries, retried by the next run). A job that raises inside an actor is handled there as in a local run
(failed problems become error entries); a ConfigError stops the run, as locally.

Multi-node clusters need ponder (and the backend's extras) installed on every node, and ``--no-cache`` or a
``--cache`` path on each node's local disk: the generation cache is SQLite in write-ahead-log mode, which
needs every process using a file to be on one host (not a network filesystem). Ray is an optional extra
(``ray``), imported only here.
"""

from __future__ import annotations

import collections
import contextlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ponder import api
from ponder.backends.base import Capabilities
from ponder.cache import CachedBackend, SampleStore
from ponder.catalog import Registries, make_registries
from ponder.errors import BackendError, ConfigError
from ponder.eval.config import EvalConfig
from ponder.eval.records import error_entry
from ponder.eval.work import Env, Hooks, Job, Outcome, run_job

__all__ = ["BackendInfo", "EvalWorker", "RayOptions", "RayPool", "import_ray"]


def import_ray() -> Any:
    """The ``ray`` module, or a ConfigError saying how to get it."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"--ray needs Ray: pip install 'ponder[ray]' ({exc})") from exc
    return ray


@dataclass(frozen=True)
class RayOptions:
    """Where and how to run actors. Validated on construction."""

    address: str | None = None
    """Cluster to join ("auto": the running one); None starts a local cluster (or uses an initialised one)."""
    actors: int | None = None
    """Actors (backends) to run; default: as many as the cluster's CPUs (GPUs) allow, at most one per job."""
    num_cpus: float = 1.0
    """CPUs reserved per actor."""
    num_gpus: float = 0.0
    """GPUs reserved per actor (1 for vllm)."""
    max_attempts: int = 3
    """Tries of a job whose actor died before giving up on its problems (they become error entries)."""
    init_options: Mapping[str, Any] = field(default_factory=dict)
    """Extra ``ray.init`` keyword arguments (e.g. ``num_cpus`` of a local cluster)."""

    def __post_init__(self) -> None:
        if self.actors is not None and (not isinstance(self.actors, int) or self.actors < 1):
            raise ConfigError(f"actors must be an integer >= 1, got {self.actors!r}")
        if self.num_cpus < 0 or self.num_gpus < 0:
            raise ConfigError(f"num_cpus and num_gpus must be >= 0, got {self.num_cpus!r}, {self.num_gpus!r}")
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be an integer >= 1, got {self.max_attempts!r}")


@dataclass(frozen=True)
class BackendInfo:
    """What the driver needs of the backend the actors hold (for cell identities and records)."""

    name: str
    model: str
    n_params: int
    capabilities: Capabilities


class EvalWorker:
    """One actor's state: the run's task and its own backend. Built by Ray in the actor's process."""

    def __init__(self, config: EvalConfig, registries: Registries | None = None) -> None:
        self._failed: Exception | None = None
        self._raw: Any = None
        self._samples: SampleStore | None = None
        try:
            reg = registries or make_registries()
            task = api.get_task(config.task, reg, **config.task_options)
            self._raw = api.load_backend(config.backend, config.model, reg, **config.backend_options)
            self._samples = SampleStore(config.cache_file) if config.cache else None
        except Exception as exc:  # kept for ``info``, so the driver gets the error itself, not "actor died"
            self._failed = exc
            return
        backend = CachedBackend(self._raw, self._samples, owner=False) if self._samples is not None else self._raw
        self.env = Env(config, reg, task, backend, Hooks())

    def info(self) -> BackendInfo:
        """The backend's identity; raises what went wrong if the worker could not be built."""
        if self._failed is not None:
            raise self._failed
        b = self.env.backend
        return BackendInfo(b.name, b.model, b.n_params, b.capabilities)

    def run(self, job: Job) -> list[Outcome]:
        """The Outcomes of one job, in one piece (nothing is written here)."""
        outcomes: list[Outcome] = []
        run_job(self.env, job, outcomes.append)
        return outcomes

    def close(self) -> None:
        if self._samples is not None:
            self._samples.close()
        if self._raw is not None:
            self._raw.close()


class RayPool:
    """Actors running jobs for one evaluation; the driver's side. Use as a context manager."""

    def __init__(
        self,
        config: EvalConfig,
        options: RayOptions,
        notify: Callable[[str], None],
        registries: Registries | None = None,
    ) -> None:
        self.ray = import_ray()
        self.config, self.options, self.notify, self.registries = config, options, notify, registries
        self._owns_cluster = False
        self._actor_cls: Any = None
        self.actors: list[Any] = []
        self._size = 1
        self._started = 0
        self._tag = uuid.uuid4().hex[:8]
        self.replaced = 0
        """Actors replaced after dying, over the pool's life."""

    def __enter__(self) -> RayPool:
        ray = self.ray
        if not ray.is_initialized():
            ray.init(address=self.options.address, **dict(self.options.init_options))
            self._owns_cluster = True
        self._actor_cls = ray.remote(max_restarts=0, max_task_retries=0)(EvalWorker)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):  # let backends free their engines; killed below regardless
            self.ray.get([actor.close.remote() for actor in self.actors], timeout=30)
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self.actors.clear()
        if self._owns_cluster:
            self.ray.shutdown()

    def _new_actor(self) -> Any:
        """A new actor, named ``ponder-eval-<run tag>-<k>`` (``ray list actors`` shows them)."""
        opts = self.options
        self._started += 1
        name = f"ponder-eval-{self._tag}-{self._started}"
        actor = self._actor_cls.options(name=name, num_cpus=opts.num_cpus, num_gpus=opts.num_gpus).remote(
            self.config, self.registries
        )
        self.actors.append(actor)
        return actor

    def first(self) -> BackendInfo:
        """Start one actor and return what its backend is (a bad backend option fails here, with its error)."""
        actor = self._new_actor()
        try:
            return self._get(actor.info.remote())  # type: ignore[no-any-return]
        except self.ray.exceptions.RayActorError as exc:
            raise BackendError(f"a Ray eval worker died while starting: {exc}", retryable=True) from None

    def scale(self, jobs: int) -> None:
        """Start actors up to the configured (or affordable) number, at most one per job."""
        want = self.options.actors or self._affordable()
        self._size = max(1, min(want, jobs))
        while len(self.actors) < self._size:
            self._new_actor()

    def _affordable(self) -> int:
        resources = self.ray.cluster_resources()
        if self.options.num_gpus > 0:
            return int(resources.get("GPU", 0) // self.options.num_gpus) or 1
        return int(resources.get("CPU", 1) // max(self.options.num_cpus, 1e-9)) or 1

    def _get(self, ref: Any) -> Any:
        """``ray.get``, re-raising an error raised inside an actor as itself (a ConfigError stays one)."""
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:
            raise (exc.cause if isinstance(exc.cause, Exception) else exc) from None

    def execute(self, jobs: list[Job], write: Callable[[Outcome], None], done: Callable[[Job], None]) -> None:
        """Run every job on the actors; ``write`` each Outcome and call ``done(job)`` as results arrive."""
        ray = self.ray
        dead = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.ObjectLostError)
        queue = collections.deque((job, 1) for job in jobs)
        inflight: dict[Any, tuple[Any, Job, int]] = {}
        idle = list(self.actors)
        while queue or inflight:
            while queue and idle:
                actor, (job, attempt) = idle.pop(), queue.popleft()
                inflight[actor.run.remote(job)] = (actor, job, attempt)
            if not inflight:
                raise BackendError("every Ray eval worker died and none could be replaced", retryable=True)
            [ref], _ = ray.wait(list(inflight), num_returns=1)
            actor, job, attempt = inflight.pop(ref)
            try:
                outcomes = self._get(ref)
            except dead as exc:
                idle.extend(self._replace(actor))
                self._retry(queue, job, attempt, exc, write)
                continue
            idle.append(actor)
            for outcome in outcomes:
                write(outcome)
            done(job)

    def _replace(self, actor: Any) -> list[Any]:
        """Drop a dead actor and start a new one in its place (at most twice the pool's size over a run)."""
        with contextlib.suppress(ValueError):
            self.actors.remove(actor)
        with contextlib.suppress(Exception):
            self.ray.kill(actor)
        if self.replaced >= 2 * self._size:
            return []
        self.replaced += 1
        return [self._new_actor()]

    def _retry(self, queue: Any, job: Job, attempt: int, exc: Exception, write: Callable[[Outcome], None]) -> None:
        problems = sum(len(p) for _, p in job)
        if attempt < self.options.max_attempts:
            self.notify(f"a Ray eval worker died ({type(exc).__name__}); retrying its job of {problems} problem(s)")
            queue.appendleft((job, attempt + 1))
            return
        self.notify(f"giving up on a job of {problems} problem(s) after {attempt} tries; the next run retries it")
        write(Outcome(errors=[error_entry(cell, p, exc, str(exc)) for cell, ps in job for p in ps]))
