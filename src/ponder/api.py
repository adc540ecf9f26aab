"""The library's front door: build components by name and solve problems with a strategy.

    >>> from ponder import solve
    >>> [r] = solve(["What is 6 * 7?"], "self_consistency", backend="fake", n=4, seed=0)
    >>> r.answer
    '42'

``solve`` runs problems in chunks; if a chunk fails, a StrategyError carries the Results of the chunks
that finished (``err.partial``), so nothing already computed is lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ponder.backends.base import Backend
from ponder.budget import Budget, Meter, Metered
from ponder.catalog import Registries, make_registries
from ponder.errors import ConfigError, PonderError, StrategyError
from ponder.strategies.base import Context, Progress, Strategy
from ponder.tasks.base import Task
from ponder.types import Problem, Result, SamplingParams


def load_backend(
    name: str = "llamacpp", model: str | None = None, registries: Registries | None = None, **options: Any
) -> Backend:
    """A backend by registry name ("llamacpp", "openai", "fake"), with backend-specific options."""
    factory = (registries or make_registries()).backends.get(name)
    try:
        return factory(model=model, **options)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ConfigError(f"bad option for backend {name!r}: {exc}") from exc


def get_task(name: str = "math", registries: Registries | None = None, **options: Any) -> Task:
    """A task by registry name, with its options (e.g. ``path`` for gsm8k/jsonl)."""
    factory = (registries or make_registries()).tasks.get(name)
    try:
        return factory(**options)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise ConfigError(f"bad option for task {name!r}: {exc}") from exc


def get_strategy(name: str, registries: Registries | None = None, **params: Any) -> Strategy:
    """A strategy by registry name, configured by its parameters (its dataclass fields)."""
    cls = (registries or make_registries()).strategies.get(name)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)} for strategy {name!r}; "
            f"it takes: {', '.join(sorted(known)) or 'none'}"
        )
    for f in dataclasses.fields(cls):
        if f.type in ("bool", bool) and f.name in params and not isinstance(params[f.name], bool):
            raise ConfigError(f"{name} {f.name} must be true or false, got {params[f.name]!r}")
    nested = {k: nested_strategy(v, registries) for k, v in params.items()}
    return cls(**nested)  # type: ignore[no-any-return]


def nested_strategy(value: Any, registries: Registries | None = None) -> Any:
    """A parameter given as ``{"strategy": name, ...}`` becomes that strategy (composition)."""
    if isinstance(value, dict) and "strategy" in value:
        spec = dict(value)
        return get_strategy(spec.pop("strategy"), registries, **spec)
    return value


def as_problems(questions: Sequence[str | Problem]) -> list[Problem]:
    """Problems with unique ids ("q0", "q1", ... where none was given)."""
    if isinstance(questions, str):
        raise ConfigError("solve takes a list of questions, not a single string")
    problems = [q if isinstance(q, Problem) else Problem(question=q) for q in questions]
    problems = [p if p.id else dataclasses.replace(p, id=f"q{i}") for i, p in enumerate(problems)]
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"problem ids must be unique, got duplicates in {ids}")
    return problems


def solve(
    questions: Sequence[str | Problem],
    strategy: str | Strategy = "self_consistency",
    *,
    backend: str | Backend = "llamacpp",
    model: str | None = None,
    task: str | Task = "math",
    scorer: str | None = None,
    scorer_options: dict[str, Any] | None = None,
    filters: Sequence[tuple[str, dict[str, Any]]] = (),
    params: SamplingParams | None = None,
    seed: int | None = None,
    budget: Budget | None = None,
    chunk_size: int = 16,
    progress: Progress | None = None,
    **strategy_params: Any,
) -> list[Result]:
    """Solve each question with ``strategy``; one full Result per question, in order."""
    reg = make_registries()
    problems = as_problems(questions)
    strat = get_strategy(strategy, reg, **strategy_params) if isinstance(strategy, str) else strategy
    the_task = get_task(task, reg) if isinstance(task, str) else task
    owned = isinstance(backend, str)
    the_backend = load_backend(backend, model, reg) if isinstance(backend, str) else backend
    try:
        ctx = make_context(
            the_backend,
            the_task,
            reg,
            params=params,
            seed=seed,
            budget=budget,
            scorer=scorer,
            scorer_options=scorer_options,
            filters=filters,
            progress=progress,
        )
        return run_chunks(strat, problems, ctx, chunk_size)
    finally:
        if owned:
            the_backend.close()


def make_context(
    backend: Backend,
    task: Task,
    reg: Registries,
    *,
    params: SamplingParams | None = None,
    seed: int | None = None,
    budget: Budget | None = None,
    scorer: str | None = None,
    scorer_options: dict[str, Any] | None = None,
    filters: Sequence[tuple[str, dict[str, Any]]] = (),
    progress: Progress | None = None,
) -> Context:
    """A Context whose backend, scorer and filters all charge one Meter."""
    metered = Metered(backend, Meter(budget))
    params = params or SamplingParams()
    if seed is not None:
        params = params.replace(seed=seed)
    the_scorer = reg.scorers.get(scorer)(metered, task, **(scorer_options or {})) if scorer else None
    the_filters = [reg.filters.get(name)(metered, task, **opts) for name, opts in filters]
    steps = the_scorer if hasattr(the_scorer, "score_steps") else None
    return Context(metered, task, params, the_scorer, steps, the_filters, progress)


def run_chunks(strategy: Strategy, problems: Sequence[Problem], ctx: Context, chunk_size: int) -> list[Result]:
    """Run blind problems chunk by chunk; a failure raises StrategyError holding the finished Results."""
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size!r}")
    done: list[Result] = []
    for start in range(0, len(problems), chunk_size):
        chunk = [p.blind() for p in problems[start : start + chunk_size]]
        try:
            results = strategy.run(chunk, ctx)
        except ConfigError:
            raise  # a configuration mistake, not a failure part-way: nothing to keep
        except PonderError as exc:
            raise StrategyError(
                f"{strategy.name} failed after {len(done)} of {len(problems)} problems: {exc}", partial=done
            ) from exc
        _check_results(strategy, chunk, results, done)
        done.extend(results)
    return done


def _check_results(strategy: Strategy, chunk: Sequence[Problem], results: Sequence[Result], done: list[Result]) -> None:
    """A strategy returns one Result per problem (StrategyError keeping the earlier Results otherwise). A Result
    may hold no candidate: a search whose token budget ran out before it completed any solution."""
    if len(results) != len(chunk):
        raise StrategyError(f"{strategy.name} returned {len(results)} results for {len(chunk)} problems", partial=done)
