"""``ponder eval`` (run or resume an accuracy-vs-compute grid) and ``ponder report`` (tables, plots, HTML).

The lead registers them in ``cli/main.py``: ``app.command("eval")(eval_)`` and ``app.command()(report)``.
Options given as ``key=value`` are parsed as JSON when they parse (numbers, true/false, null, lists) and
kept as strings otherwise; a comma list is split for task/scorer/backend options whose parameter is a
sequence (``--task-option metadata_fields=level,subject``). Strategy parameters go through
``--param STRATEGY.KEY=VALUE`` and are converted to the field's type.

Example::

    ponder eval --task gsm_symbolic --strategies self_consistency,best_of_n,beam_search \\
        --budgets 1,2,4,8,16 --seeds 3 --limit 100 --scorer judge --out runs/x
    ponder report runs/x

With ``--ray`` the same grid runs on a Ray cluster (``--address auto`` joins a running one), one backend per
actor; this process still grades and writes every record, so resuming works the same (``eval.distributed``).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ponder.catalog import make_registries
from ponder.cli import eval_render
from ponder.errors import ConfigError
from ponder.eval.config import EvalConfig
from ponder.eval.report import Exchange, summarize, write_report
from ponder.eval.runner import run_eval
from ponder.introspect import coerce

__all__ = ["build_config", "eval_", "parse_options", "report"]

Opt = typer.Option


def _split(name: str, text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ConfigError(f"{name} must be a comma-separated list, got {text!r}")
    return items


def budget_list(name: str, text: str) -> tuple[int, ...]:
    """Comma-separated budgets; an item ``A..B`` doubles from A while <= B, and ends with B (``1..32`` =
    1,2,4,8,16,32; ``1..12`` = 1,2,4,8,12). A ConfigError shows the bad text."""
    out: list[int] = []
    for item in _split(name, text):
        low, dots, high = item.partition("..")
        try:
            first, last = int(low), int(high if dots else low)
        except ValueError as exc:
            raise ConfigError(f"{name} must be comma-separated integers or ranges A..B, got {text!r}") from exc
        if dots and not 1 <= first <= last:
            raise ConfigError(f"{name}: a range A..B needs 1 <= A <= B, got {item!r}")
        while first < last:
            out.append(first)
            first *= 2
        out.append(last)
    return tuple(dict.fromkeys(out))


def _sequence_params(factory: Any) -> set[str]:
    """Parameters of ``factory`` annotated as a sequence (tuple, list, Sequence)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return set()
    words = ("Sequence", "tuple", "list", "Iterable")
    return {p.name for p in params if any(w in str(p.annotation) for w in words)}


def parse_options(flag: str, items: list[str] | None, factory: Any = None) -> dict[str, Any]:
    """``key=value`` strings to a dict: JSON values where they parse, comma lists for sequence parameters."""
    sequences = _sequence_params(factory) if factory is not None else set()
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} wants key=value, got {item!r}")
        key, raw = key.strip(), raw.strip()
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = {"true": True, "false": False}.get(raw.lower(), raw)  # Python's True/False too
        if key in sequences and isinstance(value, str):
            value = _split(f"{flag} {key}", value)
        out[key] = value
    return out


def _strategy_params(items: list[str] | None, strategies: list[str]) -> dict[str, dict[str, Any]]:
    reg = make_registries().strategies
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        target, sep, raw = item.partition("=")
        strategy, dot, key = target.strip().partition(".")
        if not sep or not dot or not key:
            raise ConfigError(f"--param wants STRATEGY.KEY=VALUE, got {item!r}")
        if strategy not in strategies:
            raise ConfigError(f"--param {item!r} names strategy {strategy!r}, which is not in --strategies")
        out.setdefault(strategy, {})[key] = coerce(reg.get(strategy), key, raw.strip())
    return out


def _budget_params(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        strategy, sep, name = item.partition("=")
        if not sep or not strategy.strip() or not name.strip():
            raise ConfigError(f"--budget-param wants STRATEGY=FIELD, got {item!r}")
        out[strategy.strip()] = name.strip()
    return out


def eval_(
    out: Annotated[Path, Opt("--out", "-o", help="Output directory; an existing one is resumed.")],
    task: Annotated[str, Opt(help="Task (gsm_symbolic, math, gsm8k, jsonl, ...).")] = "gsm_symbolic",
    strategies: Annotated[str, Opt(help="Comma-separated strategies.")] = "self_consistency",
    budgets: Annotated[
        str, Opt(help="Comma-separated budgets (n, rounds, ... per strategy); A..B doubles: 1..16 = 1,2,4,8,16.")
    ] = "1,2,4,8",
    seeds: Annotated[int, Opt(help="Number of sampling seeds (0..N-1).")] = 1,
    limit: Annotated[int | None, Opt(help="First N problems of the split (default 100; 0 = all).")] = 100,
    offset: Annotated[int, Opt(help="Problems of the split skipped before the first one run.")] = 0,
    split: Annotated[str, Opt(help="Task split.")] = "test",
    scorer: Annotated[str | None, Opt(help="Scorer: judge, confidence, rule, prm.")] = None,
    backend: Annotated[str, Opt(help="Backend: llamacpp, openai, vllm, fake.")] = "llamacpp",
    model: Annotated[str | None, Opt(help="Model: catalogue name, GGUF path or server model id.")] = None,
    workers: Annotated[int, Opt(help="Chunks run concurrently (1 for llamacpp; it batches via --chunk-size).")] = 1,
    chunk_size: Annotated[int, Opt(help="Problems batched together into one strategy run.")] = 16,
    temperature: Annotated[float, Opt(help="Sampling temperature.")] = 0.8,
    max_tokens: Annotated[int, Opt(help="Max generated tokens per sample.")] = 1024,
    no_cache: Annotated[bool, Opt("--no-cache", help="Do not read or write the generation cache.")] = False,
    cache: Annotated[Path | None, Opt(help="Generation cache file (default OUT/cache.sqlite).")] = None,
    task_option: Annotated[list[str] | None, Opt(help="Task option key=value (repeatable).")] = None,
    scorer_option: Annotated[list[str] | None, Opt(help="Scorer option key=value (repeatable).")] = None,
    backend_option: Annotated[list[str] | None, Opt(help="Backend option key=value (repeatable).")] = None,
    param: Annotated[list[str] | None, Opt("--param", "-p", help="Strategy parameter STRATEGY.KEY=VALUE.")] = None,
    budget_param: Annotated[list[str] | None, Opt(help="Budget field of a plugin strategy: STRATEGY=FIELD.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar.")] = False,
    ray: Annotated[bool, Opt("--ray", help="Run on a Ray cluster, one backend per actor (extra 'ray').")] = False,
    address: Annotated[
        str | None, Opt(help="--ray: cluster address ('auto' joins the running one; default: start a local one).")
    ] = None,
    ray_actors: Annotated[int | None, Opt(help="--ray: actors (default: as many as the cluster fits).")] = None,
    ray_gpus: Annotated[float | None, Opt(help="--ray: GPUs per actor (default 1 for vllm, else 0).")] = None,
    total_budget_tokens: Annotated[
        int | None, Opt(help="Batch budget: generated tokens per cell for all problems (one chunk; adaptive splits).")
    ] = None,
) -> None:
    """Run (or resume) the grid task x strategies x budgets x seeds and append graded records to OUT."""
    config = build_config(dict(locals()))
    if not ray and (address is not None or ray_actors is not None or ray_gpus is not None):
        raise ConfigError("--address, --ray-actors and --ray-gpus only apply with --ray")
    ray_options = _ray_options(backend, address, ray_actors, ray_gpus) if ray else None
    try:
        with eval_render.eval_progress(not quiet) as hooks:
            summary = run_eval(config, hooks=hooks, ray=ray_options)
    except KeyboardInterrupt:
        print(f"interrupted: records so far are kept in {out}; run the same command again to resume", file=sys.stderr)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(130)  # do not wait for in-flight worker threads; appends are whole-line and fsynced
    eval_render.show_eval_summary(summary)


def _ray_options(backend: str, address: str | None, actors: int | None, gpus: float | None) -> Any:
    from ponder.eval.distributed import RayOptions

    num_gpus = gpus if gpus is not None else (1.0 if backend == "vllm" else 0.0)
    return RayOptions(address=address, actors=actors, num_gpus=num_gpus)


def build_config(flags: dict[str, Any]) -> EvalConfig:
    """The EvalConfig of ``ponder eval``'s flags (a dict of its parameters)."""
    reg = make_registries()
    names = _split("--strategies", flags["strategies"])
    seeds = flags["seeds"]
    if seeds < 1:
        raise ConfigError(f"--seeds is how many seeds to run (0..N-1) and must be >= 1, got {seeds!r}")
    task, scorer, backend = flags["task"], flags["scorer"], flags["backend"]
    return EvalConfig(
        out=flags["out"],
        task=task,
        task_options=parse_options("--task-option", flags["task_option"], reg.tasks.get(task)),
        split=flags["split"],
        limit=None if flags["limit"] == 0 else flags["limit"],
        offset=flags.get("offset", 0),
        strategies=tuple(names),
        budgets=budget_list("--budgets", flags["budgets"]),
        seeds=tuple(range(seeds)),
        strategy_params=_strategy_params(flags["param"], names),
        budget_params=_budget_params(flags["budget_param"]),
        scorer=scorer,
        scorer_options=parse_options(
            "--scorer-option", flags["scorer_option"], reg.scorers.get(scorer) if scorer else None
        ),
        backend=backend,
        model=flags["model"],
        backend_options=parse_options("--backend-option", flags["backend_option"], reg.backends.get(backend)),
        temperature=flags["temperature"],
        max_tokens=flags["max_tokens"],
        workers=flags["workers"],
        chunk_size=flags["chunk_size"] if not flags.get("total_budget_tokens") else 1_000_000,
        cache=not flags["no_cache"],
        cache_path=flags["cache"],
        total_budget_tokens=flags.get("total_budget_tokens"),
    )


def report(
    run_dir: Annotated[Path, typer.Argument(help="A directory written by `ponder eval --out`.")],
    out: Annotated[Path | None, Opt(help="Where to write report.md/html and plots (default RUN_DIR/report).")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the aggregated numbers as JSON.")] = False,
    exchange_rate: Annotated[
        str | None,
        Opt(
            "--exchange-rate",
            help="LARGE_PARAMS,PRETRAIN_TOKENS,INFERENCE_TOKENS (e.g. 70e9,15e12,1e12): compare test-time "
            "compute with a larger model at equal total FLOPs (Snell et al. 2024 §7).",
        ),
    ] = None,
) -> None:
    """Tables, PNG plots, report.md and a self-contained report.html from an eval directory."""
    exchange = None
    if exchange_rate is not None:
        try:
            large, pretrain, inference = (float(x) for x in _split("--exchange-rate", exchange_rate))
        except ValueError as exc:
            raise ConfigError(
                f"--exchange-rate wants LARGE_PARAMS,PRETRAIN_TOKENS,INFERENCE_TOKENS, got {exchange_rate!r}"
            ) from exc
        exchange = Exchange(large, pretrain, inference)
    summary = summarize(run_dir, exchange)
    paths = write_report(summary, out)
    if as_json:
        print(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
    else:
        eval_render.show_report(summary, paths)
