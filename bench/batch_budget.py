"""A global token budget for a batch: adaptive with ``--total-budget-tokens`` against fixed budgets.

For each token budget per problem T (``--per-problem``), runs ``adaptive`` over the held-out problems as one
batch with ``total_budget_tokens = T x problems`` (``ponder eval --total-budget-tokens``): every problem is
probed, the tokens left are split over the problems (``adaptive.allocate``: by the policy's calibrated
accuracy per token), and each problem runs the policy's choice for its share. Reports accuracy and
generated tokens per problem (never above T), and how the samples went: per difficulty bin, its problems
and the mean samples they were allotted. Next to it, from a run of the same problems (``--reference-run``,
e.g. bench.adaptive's held-out directory), self-consistency and adaptive at fixed per-question budgets.

Replays a generation cache (``--cache``) so the samples are those of the reference run when it drew them.

    .venv/bin/python -m bench.batch_budget --task-option solve_with=program \
        --policy runs/bench_adaptive_program80/policy.json --reference-run runs/bench_adaptive_program80/held_out \
        --offset 100 --held-out 120 --per-problem 300,450,673,900 --cache runs/bench_adaptive_program_cache.sqlite

A dry run on the fake backend: ``.venv/bin/python -m bench.batch_budget --backend fake --held-out 8 --out /tmp/b.md``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.adaptive import ints
from bench.common import command_line, machine_line, publish
from ponder.catalog import make_registries
from ponder.cli.eval_cmd import parse_options
from ponder.errors import ConfigError
from ponder.eval.aggregate import latest
from ponder.eval.config import EvalConfig
from ponder.eval.runner import grid_problems, run_eval
from ponder.eval.store import RunStore

TITLE = "Batch budget: adaptive with a global token budget"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--held-out", type=int, default=100, help="test problems in the batch (default 100)")
    ap.add_argument("--offset", type=int, default=0, help="test problems skipped before them")
    ap.add_argument("--per-problem", type=ints, default=[300, 600], help="token budgets per problem (T)")
    ap.add_argument("--budget", type=int, default=12, help="the most samples any one problem may get")
    ap.add_argument("--policy", default=None, help="adaptive policy file (default: the built-in policy)")
    ap.add_argument("--reference-run", type=Path, default=None, help="eval directory of the same problems")
    ap.add_argument("--backend", default="llamacpp", help="backend (default llamacpp; fake for a dry run)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--n-ctx", type=int, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="generation cache to replay")
    ap.add_argument("--runs", type=Path, default=Path("runs/bench_batch_budget"))
    ap.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    args = ap.parse_args(argv)
    try:
        args.task_options = parse_options(
            "--task-option", args.task_option, make_registries().tasks.get("gsm_symbolic")
        )
    except ConfigError as exc:
        ap.error(str(exc))
    return args


def _config(args: argparse.Namespace, per_problem: int) -> EvalConfig:
    options = {k: v for k, v in (("n_threads", args.threads), ("n_ctx", args.n_ctx)) if v}
    params = {"adaptive": {"policy": args.policy}} if args.policy else {}
    return EvalConfig(
        task="gsm_symbolic", task_options=args.task_options, backend=args.backend, model=args.model,
        backend_options=options if args.backend == "llamacpp" else {}, split="test", limit=args.held_out,
        offset=args.offset, strategies=("adaptive",), budgets=(args.budget,), strategy_params=params,
        max_tokens=args.max_tokens, cache_path=args.cache, out=args.runs / f"t{per_problem}",
        total_budget_tokens=per_problem * args.held_out, chunk_size=args.held_out,  # one batch, one cap
    )  # fmt: skip


def _samples(trace: dict[str, Any] | None) -> tuple[int, int] | None:
    """(difficulty bin, samples the problem was allotted) from an adaptive record's trace."""
    events = {e.get("kind"): e.get("data", {}) for e in (trace or {}).get("trace", [])}
    if "difficulty" not in events or "policy" not in events:
        return None
    return int(events["difficulty"]["bin"]), int(events["policy"]["budget"])


def measure_one(args: argparse.Namespace, per_problem: int) -> dict[str, Any]:
    cfg = _config(args, per_problem)
    run_eval(cfg)
    mine = {p.id for p in grid_problems(cfg)}
    store = RunStore(cfg.out)
    rows = [r for r in latest(store.records())[0] if r["problem_id"] in mine]
    by_bin: dict[int, list[int]] = {}
    for got in (_samples(store.trace(r)) for r in rows):
        if got is not None:
            by_bin.setdefault(got[0], []).append(got[1])
    return {
        "per_problem": per_problem,
        "problems": len(rows),
        "acc": float(np.mean([r["correct"] for r in rows])),
        "tokens": float(np.mean([r["usage"]["completion_tokens"] for r in rows])),
        "bins": {b: (len(v), float(np.mean(v))) for b, v in sorted(by_bin.items())},
    }


def reference(args: argparse.Namespace) -> list[str]:
    """Rows of the reference run: self-consistency and adaptive at each fixed budget."""
    if args.reference_run is None:
        return []
    mine = {p.id for p in grid_problems(_config(args, 1))}
    records = [r for r in latest(RunStore(args.reference_run).records())[0] if r["problem_id"] in mine]
    out = []
    for strategy in ("self_consistency", "adaptive"):
        for budget in sorted({r["budget"] for r in records if r["strategy"] == strategy}):
            got = [r for r in records if r["strategy"] == strategy and r["budget"] == budget]
            acc = np.mean([r["correct"] for r in got])
            tokens = np.mean([r["usage"]["completion_tokens"] for r in got])
            out.append(f"| {strategy} | {budget} per problem | {acc:.0%} | {tokens:.0f} |")
    return out


def render(args: argparse.Namespace, points: list[dict[str, Any]], ref: list[str]) -> str:
    rows = "\n".join(
        f"| {p['per_problem']} | {p['acc']:.0%} | {p['tokens']:.0f} | "
        + "; ".join(f"bin {b}: {n} problems, {mean:.1f} samples" for b, (n, mean) in p["bins"].items())
        + " |"
        for p in points
    )
    options = "".join(f", task option `{k}={v}`" for k, v in sorted(args.task_options.items()))
    policy = f"`{args.policy}`" if args.policy else "the built-in default"
    held = f"test problems {args.offset} to {args.offset + args.held_out - 1}"
    table = ""
    if ref:
        table = (
            f"\n\nThe same problems at fixed per-question budgets (`{args.reference_run}`):\n\n"
            "| strategy | budget | accuracy | generated tokens / problem |\n|---|---|---|---|\n" + "\n".join(ref)
        )
    return (
        f"Backend `{args.backend}`{options}; policy {policy}; {held}, one batch; at most {args.budget} samples "
        f"per problem; {machine_line()}.\n\n"
        "| tokens per problem (T) | accuracy | generated tokens / problem | samples allotted per difficulty bin "
        f"(0 = easiest; probe included) |\n|---|---|---|---|\n{rows}{table}\n\n"
        f"Command: `{command_line('bench.batch_budget')}`"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    points = [measure_one(args, t) for t in args.per_problem]
    publish(args.out, "batch_budget", TITLE, render(args, points, reference(args)))


if __name__ == "__main__":
    main()
