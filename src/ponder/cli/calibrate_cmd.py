"""``ponder calibrate``: run a strategy x budget grid on a calibration split and fit an adaptive policy.

Registered in ``cli/main.py`` with ``app.command()(calibrate)``. The grid runs through the eval runner into
``--runs`` (default: the policy path with ``.runs``), so an interrupted calibration resumes and its
generation cache is reused. Prints how well each difficulty estimator tracks the oracle pass rate
(Spearman), the held-out accuracy of the policy per budget, and the entries; writes the policy JSON.

    ponder calibrate --task gsm_symbolic --limit 200 --budgets 1,2,4,8,16,32 --scorer judge \\
        --strategies self_consistency,best_of_n,beam_search,revisions --out policy.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ponder.adaptive.calibrate import CalibrationRun, calibrate
from ponder.adaptive.policy import Policy
from ponder.cli import eval_render, render
from ponder.cli.eval_cmd import build_config

__all__ = ["calibrate_cmd", "show_policy"]

Opt = typer.Option


def calibrate_cmd(
    out: Annotated[Path, Opt("--out", "-o", help="Where to write the policy JSON.")],
    task: Annotated[str, Opt(help="Task to calibrate on.")] = "gsm_symbolic",
    strategies: Annotated[str, Opt(help="Comma-separated strategies.")] = "self_consistency,best_of_n",
    budgets: Annotated[str, Opt(help="Comma-separated budgets (samples); A..B doubles: 1..32 = 1,2,4,8,16,32.")] = (
        "1,2,4,8,16"
    ),
    limit: Annotated[int | None, Opt(help="Calibration problems (first N of the split; 0 = all).")] = 200,
    split: Annotated[str, Opt(help="Task split to calibrate on (gsm_symbolic: calibration).")] = "calibration",
    offset: Annotated[int, Opt(help="Problems of the split skipped before the first one used.")] = 0,
    runs: Annotated[Path | None, Opt(help="Eval directory for the grid (default OUT.runs).")] = None,
    cache: Annotated[Path | None, Opt(help="Generation cache file (default RUNS/cache.sqlite).")] = None,
    estimator: Annotated[str, Opt(help="agreement, entropy, verifier, or auto (best Spearman).")] = "auto",
    probe: Annotated[int, Opt(help="Probe samples per question.")] = 4,
    bins: Annotated[int, Opt(help="Difficulty bins (quantiles).")] = 5,
    folds: Annotated[int, Opt(help="Cross-validation folds (each scored by a policy fitted on the others).")] = 2,
    budget_kind: Annotated[
        str, Opt(help="max: every question within a budget; mean: the budget is the mean over questions.")
    ] = "max",
    scorer: Annotated[str | None, Opt(help="Scorer (best_of_n/beam_search need one; enables verifier).")] = None,
    backend: Annotated[str, Opt(help="Backend: llamacpp, openai, fake.")] = "llamacpp",
    model: Annotated[str | None, Opt(help="Model: catalogue name, GGUF path or server model id.")] = None,
    chunk_size: Annotated[int, Opt(help="Problems batched together into one strategy run.")] = 16,
    temperature: Annotated[float, Opt(help="Sampling temperature.")] = 0.8,
    max_tokens: Annotated[int, Opt(help="Max generated tokens per sample.")] = 1024,
    task_option: Annotated[list[str] | None, Opt(help="Task option key=value (repeatable).")] = None,
    scorer_option: Annotated[list[str] | None, Opt(help="Scorer option key=value (repeatable).")] = None,
    backend_option: Annotated[list[str] | None, Opt(help="Backend option key=value (repeatable).")] = None,
    param: Annotated[list[str] | None, Opt("--param", "-p", help="Strategy parameter STRATEGY.KEY=VALUE.")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the policy as JSON.")] = False,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Fit an adaptive policy (difficulty bin x budget -> strategy) on a calibration split."""
    flags = {
        "out": runs or out.with_suffix(".runs"),
        "task": task,
        "strategies": strategies,
        "budgets": budgets,
        "seeds": 1,
        "limit": limit,
        "offset": offset,
        "split": split,
        "scorer": scorer,
        "backend": backend,
        "model": model,
        "workers": 1,
        "chunk_size": chunk_size,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "no_cache": False,
        "cache": cache,
        "task_option": task_option,
        "scorer_option": scorer_option,
        "backend_option": backend_option,
        "param": param,
        "budget_param": None,
    }
    run = CalibrationRun(build_config(flags), out, estimator, probe, bins, folds=folds, budget_kind=budget_kind)
    with eval_render.eval_progress(not quiet) as hooks:
        policy = calibrate(run, hooks=hooks)
    if as_json:
        print(json.dumps(policy.model_dump(), indent=2))
        return
    show_policy(policy)
    eval_render.note(f"policy written to {out}")


def show_policy(policy: Policy) -> None:
    """Tables: estimator correlations, held-out accuracy per budget, the entries."""
    console = render.stdout()
    rows = [
        (name, "-" if rho is None else f"{rho:+.3f}", "<- used" if name == policy.estimator else "")
        for name, rho in policy.correlations.items()
    ]
    render.show_table(
        "Spearman(difficulty, oracle pass rate); more negative predicts better", ("estimator", "rho", ""), rows, console
    )
    per_budget = policy.validation.get("accuracy_by_budget", {})
    budget_rows = [
        (
            b,
            _spend(v["policy"], v.get("policy_samples")),
            f"{v['best_fixed']:.3f} ({v['best_fixed_cell']})",
            _spend(v["oracle_bins_policy"], v.get("oracle_bins_samples")),
        )
        for b, v in per_budget.items()
    ]
    title = (
        f"Cross-validated accuracy ({policy.validation.get('held_out_problems', '?')} problems, each scored by a "
        f"policy fitted on the other folds; "
        f"{policy.budget_kind} budgets; [mean samples per problem])"
    )
    render.show_table(title, ("budget", "policy", "best single strategy", "oracle-bin policy"), budget_rows, console)
    entry_rows = [
        (
            str(e.bin),
            str(e.budget),
            e.strategy,
            _short(e.params),
            "-" if e.accuracy is None else f"{e.accuracy:.3f}",
            str(e.problems),
        )
        for e in policy.entries
    ]
    edges = ", ".join(f"{x:.3f}" for x in policy.edges)
    render.show_table(
        f"Policy ({policy.estimator} edges: {edges or 'none'})",
        ("bin", "budget", "strategy", "params", "fit acc", "problems"),
        entry_rows,
        console,
    )


def _spend(accuracy: float, samples: float | None) -> str:
    """Accuracy, and the mean samples spent when the policy file has them (files before they were added do not)."""
    return f"{accuracy:.3f}" + ("" if samples is None else f" [{samples:.1f}]")


def _short(params: dict[str, object]) -> str:
    keys = ("n", "beam_width", "sequential", "parallel", "weighted", "select")
    return ", ".join(f"{k}={params[k]}" for k in keys if params.get(k) is not None)
