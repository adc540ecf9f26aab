"""The ``ponder`` command line (typer). Parses flags into a RunConfig, calls the library, renders results.

User errors (a PonderError) exit with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ponder import api
from ponder.catalog import make_registries
from ponder.cli import render
from ponder.cli.calibrate_cmd import calibrate_cmd
from ponder.cli.eval_cmd import eval_, report
from ponder.cli.models import models_app
from ponder.cli.serve import serve
from ponder.config import RunConfig, load_config, save_config
from ponder.errors import ConfigError, PonderError, StrategyError
from ponder.introspect import coerce, parameters
from ponder.strategies.effort import apply_effort
from ponder.types import Problem, SamplingParams

app = typer.Typer(help="Test-time scaling for language models.", no_args_is_help=True, add_completion=False)
app.add_typer(models_app, name="models")
app.command("eval")(eval_)
app.command()(report)
app.command()(serve)
app.command("calibrate")(calibrate_cmd)

Opt = typer.Option


@app.command()
def solve(
    question: Annotated[str, typer.Argument(help="The question to answer.")],
    strategy: Annotated[str | None, Opt("--strategy", "-s", help="Strategy (see `ponder strategies`).")] = None,
    n: Annotated[int | None, Opt("-n", "--n", help="Samples / budget, for strategies that take n.")] = None,
    scorer: Annotated[str | None, Opt(help="Scorer: judge, confidence, rule, prm.")] = None,
    weighted: Annotated[bool | None, Opt("--weighted/--vanilla", help="best_of_n: weighted vote.")] = None,
    few_shot: Annotated[int | None, Opt(help="cot: worked examples shown first.")] = None,
    beam_width: Annotated[int | None, Opt("--beam-width", help="beam_search/lookahead: children per beam (M).")] = None,
    subtrees: Annotated[bool | None, Opt("--subtrees/--no-subtrees", help="beam_search: DVTS subtrees.")] = None,
    min_thinking: Annotated[int | None, Opt(help="budget_forcing: fewest thinking tokens.")] = None,
    max_thinking: Annotated[int | None, Opt(help="budget_forcing: most thinking tokens.")] = None,
    wait: Annotated[int | None, Opt(help="budget_forcing: most 'Wait's appended.")] = None,
    rounds: Annotated[int | None, Opt(help="self_refine: most feedback/revision rounds.")] = None,
    sequential: Annotated[int | None, Opt(help="revisions: attempts per chain (n = parallel x it).")] = None,
    effort: Annotated[str | None, Opt(help="Reasoning effort low|medium|high: sets budgets.")] = None,
    early_stop: Annotated[bool | None, Opt("--early-stop", help="self_consistency, adaptive: stop early.")] = None,
    policy: Annotated[str | None, Opt(help="adaptive: policy file from `ponder calibrate`.")] = None,
    budget: Annotated[int | None, Opt(help="adaptive: samples per question, probe included.")] = None,
    sampler: Annotated[str | None, Opt(help="Strategy making each candidate (e.g. budget_forcing).")] = None,
    initial: Annotated[str | None, Opt(help="self_refine: refine this strategy's winner.")] = None,
    solve_with: Annotated[
        str | None,
        Opt("--solve-with", help="reasoning (default) or program: the model writes Python, run in a sandbox."),
    ] = None,
    param: Annotated[list[str] | None, Opt("--param", "-p", help="Strategy parameter key=value.")] = None,
    backend: Annotated[str | None, Opt(help="Backend: llamacpp (default), openai, fake.")] = None,
    model: Annotated[str | None, Opt(help="Model: catalogue name, GGUF path or server model id.")] = None,
    base_url: Annotated[str | None, Opt(help="openai backend: server URL.")] = None,
    threads: Annotated[int | None, Opt(help="llamacpp backend: CPU threads.")] = None,
    block: Annotated[list[str] | None, Opt(help="Guardrail: filter candidates containing this word.")] = None,
    temperature: Annotated[float | None, Opt(help="Sampling temperature (0 = greedy).")] = None,
    max_tokens: Annotated[int | None, Opt(help="Max generated tokens per sample.")] = None,
    seed: Annotated[int | None, Opt(help="Seed for every sampler (default 0).")] = None,
    config: Annotated[Path | None, Opt(help="YAML/TOML run config; flags override it.")] = None,
    save: Annotated[Path | None, Opt("--save-config", help="Write the full run config here.")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print one JSON object instead of tables.")] = False,
    trace: Annotated[bool, Opt("--trace", help="Also print every trace event (drafts, votes, trees).")] = False,
) -> None:
    """Answer QUESTION with a test-time scaling strategy."""
    cfg = build_config(locals())
    if save is not None:
        save_config(cfg, save)
    problem = Problem(question=question, id="q0")
    strat = api.get_strategy(cfg.strategy, **cfg.strategy_params)
    task = api.get_task(cfg.task, **cfg.task_options)
    params = SamplingParams(temperature=cfg.temperature, max_tokens=cfg.max_tokens)
    engine = api.load_backend(cfg.backend, cfg.model, **cfg.backend_options)
    try:
        with render.progress_bar(f"{cfg.strategy} on {engine.model}", strat.work_units(1), not as_json) as tick:
            [result] = api.solve(
                [problem],
                strat,
                backend=engine,
                task=task,
                scorer=cfg.scorer,
                scorer_options=cfg.scorer_options,
                filters=cfg.filters,
                params=params,
                seed=cfg.seed,
                progress=tick,
            )
    finally:
        engine.close()
    if as_json:
        render.print_json({**result.to_dict(), "question": question, "run_config": cfg.to_dict()})
    else:
        render.show_result(result, question, render.stdout())
        if trace:
            render.show_trace(result, render.stdout())


def build_config(flags: dict[str, Any]) -> RunConfig:
    """Merge a config file (if any) with the command-line flags; flags win."""
    cfg = load_config(flags["config"]) if flags.get("config") else RunConfig()
    cfg = cfg.merged(
        strategy=flags["strategy"],
        backend=flags["backend"],
        model=flags["model"],
        scorer=flags["scorer"],
        temperature=flags["temperature"],
        max_tokens=flags["max_tokens"],
        seed=flags["seed"],
    )
    cls = make_registries().strategies.get(cfg.strategy)
    params = {**cfg.strategy_params, **strategy_flags(flags, cfg.strategy, cls)}
    for item in flags.get("param") or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise PonderError(f"--param wants key=value, got {item!r}")
        set_param(params, cls, key.strip(), raw.strip())
    if flags.get("effort"):
        params = apply_effort(cfg.strategy, flags["effort"], params)
    backend_opts = {
        k: v for k, v in (("base_url", flags.get("base_url")), ("n_threads", flags.get("threads"))) if v is not None
    }
    filters = [("blocklist", {"words": list(flags["block"])})] if flags.get("block") else None
    task_opts = {"solve_with": flags["solve_with"]} if flags.get("solve_with") else {}
    return cfg.merged(strategy_params=params, backend_options=backend_opts, filters=filters, task_options=task_opts)


def set_param(params: dict[str, Any], cls: type, key: str, raw: str) -> None:
    """Set ``--param key=raw`` on the strategy, or on its nested sampler / initial strategy (from the flags or
    the config file) when only that one takes ``key``, as with the dedicated flags."""
    nest = next((k for k in ("sampler", "initial") if isinstance(params.get(k), dict)), None)
    if key in {p.name for p in parameters(cls)} or nest is None:
        params[key] = coerce(cls, key, raw)
        return
    inner_name = params[nest].get("strategy")
    inner = make_registries().strategies.get(inner_name)
    if key not in {p.name for p in parameters(inner)}:
        raise ConfigError(f"unknown parameter {key!r} for {getattr(cls, 'name', cls)} or its {nest} {inner_name}")
    params[nest] = {**params[nest], key: coerce(inner, key, raw)}


FLAG_PARAMS = (
    "n",
    "weighted",
    "few_shot",
    "beam_width",
    "subtrees",
    "min_thinking",
    "max_thinking",
    "wait",
    "rounds",
    "sequential",
    "early_stop",
    "policy",
    "budget",
)
"""Strategy parameters with their own flags; one the strategy lacks goes to its --sampler / --initial."""


def strategy_flags(flags: dict[str, Any], name: str, cls: type) -> dict[str, Any]:
    """Strategy parameters from the dedicated flags, with a --sampler / --initial strategy nested."""
    fields = {p.name for p in parameters(cls)}
    nest_key = "sampler" if flags.get("sampler") else "initial" if flags.get("initial") else None
    inner_name = flags.get(nest_key) if nest_key else None
    inner_cls = make_registries().strategies.get(inner_name) if inner_name else None
    inner_fields = {p.name for p in parameters(inner_cls)} if inner_cls else set()
    params: dict[str, Any] = {}
    inner: dict[str, Any] = {}
    for key in FLAG_PARAMS:
        if flags.get(key) is None:
            continue
        if key not in fields | inner_fields:
            raise PonderError(f"strategy {name!r} takes no {key!r}; it takes {', '.join(sorted(fields))}")
        (params if key in fields else inner)[key] = flags[key]
    if nest_key:
        if nest_key not in fields:
            raise PonderError(f"strategy {name!r} takes no {nest_key!r}; it takes {', '.join(sorted(fields))}")
        params[nest_key] = {"strategy": inner_name, **inner}
    return params


@app.command()
def strategies(as_json: Annotated[bool, Opt("--json", help="Print the registry as JSON.")] = False) -> None:
    """List every strategy with its parameters."""
    reg = make_registries().strategies
    data = {name: [p.__dict__ for p in parameters(reg.get(name))] for name in reg.names()}
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    for name, params in data.items():
        rows = [(p["name"], p["type"], repr(p["default"]), p["help"]) for p in params]
        render.show_table(name, ("parameter", "type", "default", "help"), rows, render.stdout())


def main() -> None:
    """Entry point: run the app, turning PonderErrors into a one-line message and exit status 2."""
    try:
        app(standalone_mode=False)
    except PonderError as exc:
        if isinstance(exc, StrategyError) and exc.partial:
            render.print_json({"partial_results": [r.to_dict() for r in exc.partial]})
        render.error(str(exc))
        raise SystemExit(2) from None
    except typer.Abort:
        render.error("aborted")
        raise SystemExit(130) from None
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        raise
