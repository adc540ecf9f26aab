"""Adaptive test-time scaling vs self-consistency N=16: tokens needed to reach SC-16's accuracy.

1. Calibrate (``ponder.adaptive.calibrate``) on the gsm_symbolic "calibration" split: self_consistency and
   revisions at budgets 1..16 (plus beam_search / best_of_n with ``--scorer``), a policy per difficulty bin;
   two policies from the same grid: per-question budgets ("max") and mean budgets ("mean").
2. On held-out "test" problems (never calibrated on), run self_consistency and adaptive at every budget
   through the eval runner (records, cache), and measure accuracy and generated tokens per problem.
3. Ratio = tokens per problem of the cheapest adaptive budget whose accuracy reaches SC N=16's, divided by
   SC N=16's tokens per problem ("not reached" when no budget does). The same ratio is given for adaptive
   with the mean-budget policy, with early stopping (its self_consistency choices stop once settled) and for
   self-consistency with early stopping (Adaptive-Consistency; Beta criterion at 0.95, and "unassailable"
   only, which never changes the answer all N samples would give), run on the same held-out problems.

``--split test --offset K`` calibrates on the test split's first ``--limit`` problems instead and holds out
the ``--held-out`` problems from number K on (K >= limit); with ``--cache`` pointing at another run's
generation cache (e.g. bench.eval_scaling's, same model, max tokens and seed), samples already drawn for
the same prompts are replayed instead of generated again (the token counts are those of the samples).

Writes a table and a PNG (accuracy vs tokens) into its section of docs/BENCHMARKS.md (``bench.common``).
A dry run on the fake backend: ``.venv/bin/python -m bench.adaptive --backend fake --limit 8 --held-out 8``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.adaptive_text import fifth_line, seeds_note, validation_table, variant_lines
from bench.common import command_line, machine_line, publish
from ponder.adaptive.calibrate import CalibrationRun, calibrate
from ponder.catalog import make_registries
from ponder.cli.eval_cmd import parse_options
from ponder.errors import ConfigError
from ponder.eval.aggregate import latest
from ponder.eval.config import EvalConfig
from ponder.eval.runner import grid_problems, run_eval
from ponder.eval.store import RunStore

TITLE = "Adaptive test-time scaling: tokens to match self-consistency N=16"
EARLY: dict[str, Any] = {"early_stop": True, "confidence": 0.95}
BASELINE = "self_consistency (baseline run)"
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "adaptive --early-stop": ("adaptive", EARLY),
    "adaptive, mean budgets": ("adaptive", {"budget_kind": "mean"}),
    "adaptive, mean budgets --early-stop": ("adaptive", {**EARLY, "budget_kind": "mean"}),
    "self_consistency --early-stop (beta 0.95)": ("self_consistency", EARLY),
    "self_consistency --early-stop (unassailable)": ("self_consistency", {"early_stop": True, "confidence": None}),
}
"""Runs on the held-out problems besides the grid (label: strategy, parameters added to the strategy's
``--strategy-params``), each in its own directory, replaying the held-out run's samples. ``budget_kind``
picks the adaptive policy: "max" (the default; every question within the budget) or "mean" (the budget is
the mean over questions, see ``adaptive.fit``)."""


def ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=100, help="calibration problems (default 100)")
    ap.add_argument("--split", default="calibration", help="calibration split (default: calibration)")
    ap.add_argument("--held-out", type=int, default=100, help="held-out test problems (default 100)")
    ap.add_argument("--offset", type=int, default=0, help="test problems skipped before the held-out ones")
    ap.add_argument("--backend", default="llamacpp", help="backend (default llamacpp; fake for a dry run)")
    ap.add_argument("--model", default=None, help="model (default: the catalogue's default model)")
    ap.add_argument("--budgets", type=ints, default=[1, 2, 4, 8, 16])
    ap.add_argument("--strategies", default="self_consistency,revisions", help="calibration grid strategies")
    ap.add_argument("--scorer", default=None, help="scorer (needed for best_of_n / beam_search / verifier)")
    ap.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                    help="gsm_symbolic option, e.g. solve_with=program (repeatable; its own section)")  # fmt: skip
    ap.add_argument("--baseline-run", type=Path, default=None,
                    help="held-out directory of another run on the same problems (e.g. a reasoning run); its "
                         "largest self_consistency budget is the target (default: this run's own)")  # fmt: skip
    ap.add_argument("--label", default=None, help="names this run's own section (e.g. mixed), after any task options")
    ap.add_argument("--strategy-params", type=json.loads, default={},
                    help='fixed strategy parameters, JSON, e.g. \'{"best_of_n": {"weighted": true}}\'')  # fmt: skip
    ap.add_argument("--seeds", type=ints, default=[0], help="sampling seeds, each a separate run of every problem")
    ap.add_argument("--probe", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=320)
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    ap.add_argument("--n-ctx", type=int, default=None, help="llama.cpp KV cells")
    ap.add_argument("--chunk-size", type=int, default=16, help="problems batched into one strategy run")
    ap.add_argument("--cache", type=Path, default=None, help="generation cache shared by both runs")
    ap.add_argument("--runs", type=Path, default=Path("runs/bench_adaptive"))
    ap.add_argument("--figure", type=Path, default=Path("docs/figures/adaptive.png"))
    ap.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    args = ap.parse_args(argv)
    try:  # the same parsing as `ponder eval --task-option` (JSON values, comma lists)
        args.task_options = parse_options(
            "--task-option", args.task_option, make_registries().tasks.get("gsm_symbolic")
        )
    except ConfigError as exc:
        ap.error(str(exc))
    named = {s.strip() for s in args.strategies.split(",")} | {"self_consistency"}
    if not isinstance(args.strategy_params, dict) or set(args.strategy_params) - named:
        ap.error(f"--strategy-params must map strategies of the grid ({', '.join(sorted(named))}) to "
                 f"parameters, got {args.strategy_params!r}")  # fmt: skip
    if args.split == "test" and args.offset < args.limit:
        ap.error(f"calibrating on the test split's first {args.limit} problems needs --offset >= {args.limit} "
                 f"so that the held-out problems are others, got --offset {args.offset}")  # fmt: skip
    return args


def _config(args: argparse.Namespace, **changes: Any) -> EvalConfig:
    options: dict[str, Any] = {}
    if args.backend == "llamacpp":
        options = {k: v for k, v in (("n_threads", args.threads), ("n_ctx", args.n_ctx)) if v}
    base: dict[str, Any] = {
        "task": "gsm_symbolic",
        "task_options": args.task_options,
        "backend": args.backend,
        "model": args.model,
        "backend_options": options,
        "budgets": tuple(args.budgets),
        "seeds": tuple(args.seeds),
        "scorer": args.scorer,
        "max_tokens": args.max_tokens,
        "chunk_size": args.chunk_size,
        "cache_path": args.cache,
    }
    return EvalConfig(**{**base, **changes})


def _curve(config: EvalConfig, strategy: str) -> list[dict[str, float]]:
    """Accuracy and generated tokens per problem at each budget of ``strategy`` on ``config``'s problems and
    seeds (its directory may hold others, from runs with another --offset, --held-out or --seeds)."""
    mine, seeds = {p.id for p in grid_problems(config)}, set(config.seeds)
    rows = [
        r
        for r in latest(RunStore(config.out).records())[0]
        if r["strategy"] == strategy and r["problem_id"] in mine and r["seed"] in seeds
    ]
    points = []
    for budget in sorted({r["budget"] for r in rows}):
        mine = [r for r in rows if r["budget"] == budget]
        acc = float(np.mean([r["correct"] for r in mine]))
        tokens = float(np.mean([r["usage"]["completion_tokens"] for r in mine]))
        hits = sum(int((r.get("cache") or {}).get("hits", 0)) for r in mine)
        made = sum(int((r.get("cache") or {}).get("misses", 0)) for r in mine)
        problems = len({r["problem_id"] for r in mine})
        points.append({"budget": budget, "acc": acc, "tokens": tokens, "problems": problems, "hits": hits,
                       "generated": made})  # fmt: skip
    return points


def measure(args: argparse.Namespace) -> dict[str, Any]:
    named = tuple(s.strip() for s in args.strategies.split(","))
    fixed = tuple(dict.fromkeys(["self_consistency", *named]))
    grid = _config(
        args, out=args.runs / "calibration", split=args.split, limit=args.limit, strategies=named,
        strategy_params={k: v for k, v in args.strategy_params.items() if k in named},
    )  # fmt: skip
    paths = {kind: args.runs / ("policy.json" if kind == "max" else f"policy_{kind}.json") for kind in ("max", "mean")}
    policies = {kind: calibrate(CalibrationRun(grid, path, probe=args.probe, budget_kind=kind))
                for kind, path in paths.items()}  # fmt: skip
    held = _config(
        args, out=args.runs / "held_out", split="test", limit=args.held_out, offset=args.offset,
        strategies=(*fixed, "adaptive"),
        strategy_params={**args.strategy_params, "adaptive": {"policy": str(paths["max"])}},
    )  # fmt: skip
    run_eval(held)
    curves = {name: _curve(held, name) for name in held.strategies}
    for label, (strategy, params) in VARIANTS.items():
        params = dict(params)
        if strategy == "adaptive":
            params["policy"] = str(paths[params.pop("budget_kind", "max")])
        variant = _config(
            args, out=args.runs / _slug(label), split="test", limit=args.held_out, offset=args.offset,
            strategies=(strategy,), strategy_params={strategy: {**args.strategy_params.get(strategy, {}), **params}},
            cache_path=args.cache or held.out / "cache.sqlite",  # replays the held-out run's samples
        )  # fmt: skip
        run_eval(variant)
        curves[label] = _curve(variant, strategy)
    sc = curves["self_consistency"]
    target = next((p for p in sc if p["budget"] == max(args.budgets)), sc[-1])
    if args.baseline_run is not None:  # the same problems and seeds, read from the other run's records
        curves[BASELINE] = _curve(dataclasses.replace(held, out=args.baseline_run), "self_consistency")
        target = curves[BASELINE][-1]
    reach = {name: _reach(curves[name], target) for name in ("adaptive", *VARIANTS)}
    return {"curves": curves, "target": target, "reach": reach, "policies": policies, "model": policies["max"].model}


def _slug(label: str) -> str:
    """A directory name for a variant's label."""
    return "".join(c if c.isalnum() else "_" for c in label).strip("_")


def _reach(curve: list[dict[str, float]], target: dict[str, float]) -> tuple[dict[str, float] | None, float | None]:
    """The cheapest point of ``curve`` at least as accurate as ``target``, and its tokens over target's."""
    reached = [p for p in curve if p["acc"] >= target["acc"]]
    best = min(reached, key=lambda p: p["tokens"]) if reached else None
    return best, (best["tokens"] / target["tokens"] if best and target["tokens"] else None)


def plot(m: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, points in m["curves"].items():
        label = "adaptive (calibrated policy)" if name == "adaptive" else name
        ax.plot([p["tokens"] for p in points], [p["acc"] for p in points], "o-", label=label)
    base = " (baseline run)" if BASELINE in m["curves"] else ""
    ax.axhline(m["target"]["acc"], color="grey", linestyle=":", label=f"SC N={m['target']['budget']}{base}")
    ax.set(xscale="log", xlabel="generated tokens per problem", ylabel="accuracy", ylim=(0, 1))
    low, high = ax.get_xlim()  # plain-number ticks within the data (log minor labels collide)
    ax.set_xticks([t for t in (50, 100, 200, 500, 1000, 2000, 5000, 10000) if low <= t <= high])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_title(f"{m['model']}, held-out gsm_symbolic")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render(args: argparse.Namespace, m: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {name} | {p['budget']} | {p['acc']:.0%} | {p['tokens']:.0f} | {p['generated']} | {p['hits']} |"
        for name, points in m["curves"].items()
        for p in points
    )
    best, found = m["reach"]["adaptive"]
    ratio = "not reached" if found is None else f"{found:.2f} x"
    reach = (
        "" if best is None else f" (adaptive budget {best['budget']}: {best['acc']:.0%}, {best['tokens']:.0f} tokens)"
    )
    policy = m["policies"]["max"]
    first = m["curves"].get(BASELINE, m["curves"]["self_consistency"])[0]
    if m["target"]["acc"] <= first["acc"]:
        reach += (
            f". Caution: SC N={m['target']['budget']} is no more accurate than SC N={first['budget']} "
            f"({first['acc']:.0%}) on these problems, so this ratio says nothing about adaptive's savings"
        )
    rhos = ", ".join(f"{k} {v:+.2f}" for k, v in policy.correlations.items() if v is not None) or "n/a"
    command = command_line("bench.adaptive")
    held = f" (numbers {args.offset} to {args.offset + args.held_out - 1})" if args.offset else ""
    grid = args.strategies + (f", {json.dumps(args.strategy_params)}" if args.strategy_params else "")
    return (
        f"Model `{m['model']}`, backend `{args.backend}`{_options(args)}; calibrated on {args.limit} "
        f"`{args.split}` problems "
        f"({grid}), measured on {m['target']['problems']} held-out `test` problems{held}{seeds_note(args)}; "
        f"{machine_line()}. Figure: `{args.figure}`.{_baseline(args)}\n\n"
        f"**Tokens adaptive needs to reach SC N={m['target']['budget']} accuracy ({m['target']['acc']:.0%}): "
        f"{ratio}**{reach}.\n\n{variant_lines(m)}\n\n{fifth_line(m)}\n\n"
        f"Estimator: `{policy.estimator}` (Spearman of estimated difficulty with the oracle pass rate on the "
        f"calibration problems, negative = predictive: {rhos}).\n\n"
        f"Held-out problems (tokens per problem count replayed samples at their original length):\n\n"
        f"| strategy | budget | accuracy | generated tokens / problem | samples generated | samples replayed "
        f"from the cache |\n|---|---|---|---|---|---|\n{rows}\n\n"
        f"{validation_table(m['policies'])}\n\n"
        f"Command: `{command}`"
    )


def _baseline(args: argparse.Namespace) -> str:
    """Where the target comes from, when it is another run's self-consistency."""
    if args.baseline_run is None:
        return ""
    return (f" The target is self-consistency at the largest budget of `{args.baseline_run}` (same problems and "
            f"seeds, its default task options), shown as `{BASELINE}`.")  # fmt: skip


def _options(args: argparse.Namespace) -> str:
    """The task options of the run, for the caption."""
    return "".join(f", task option `{k}={v}`" for k, v in sorted(args.task_options.items()))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    m = measure(args)
    plot(m, args.figure)
    named = [f"{k}={v}" for k, v in sorted(args.task_options.items())] + ([args.label] if args.label else [])
    tail = "".join(f", {n}" for n in named)
    key = "adaptive" + "".join("_" + n.replace("=", "_") for n in named)
    publish(args.out, key, TITLE + tail, render(args, m))


if __name__ == "__main__":
    main()
