"""Accuracy against budget on gsm_symbolic: self-consistency and best-of-N (``confidence`` scorer), N = 1..16.

Runs ``ponder eval`` (resumable: run the same command again after an interruption and it goes on where it
stopped) and ``ponder report`` into ``--docs`` (report.md, report.html, PNG plots), then writes its section of
docs/BENCHMARKS.md: accuracy with 95% CIs per strategy and budget, and both commands. The generation cache
makes every budget below the largest a replay of the largest one's first samples, and best-of-N a replay of
self-consistency's samples (same prompts, seeds and settings), so the run costs one N=16 sampling per problem
and seed.

    .venv/bin/python -m bench.eval_scaling --limit 100 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import command_line, machine_line, publish
from ponder.models import DEFAULT_MODEL

TITLE = "Accuracy against budget: self-consistency and best-of-N on gsm_symbolic"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=100, help="gsm_symbolic problems (default 100)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", default="1,2,4,8,16")
    ap.add_argument("--backend", default="llamacpp", help="backend (fake for a dry run)")
    ap.add_argument("--model", default=None, help="model (default: ponder's default model)")
    ap.add_argument("--chunk-size", type=int, default=2, help="problems batched into one strategy run")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--n-ctx", type=int, default=16384, help="KV cells of the llama.cpp backend")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--run", type=Path, default=Path("runs/eval_scaling"), help="eval directory (resumable)")
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="generation cache (default: RUN/cache.sqlite); another run's cache "
        "replays its samples, so the records are re-graded by the current code at no generation cost",
    )
    ap.add_argument("--note", default="", help="a sentence added to the published section (how the run was made)")
    ap.add_argument("--docs", type=Path, default=Path("docs/results/eval_scaling"), help="report directory")
    ap.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    return ap.parse_args(argv)


def eval_command(args: argparse.Namespace) -> list[str]:
    ponder = str(Path(sys.executable).with_name("ponder"))
    cmd = [ponder, "eval", "--task", "gsm_symbolic", "--strategies", "self_consistency,best_of_n"]
    cmd += ["--scorer", "confidence", "--budgets", args.budgets, "--seeds", str(args.seeds)]
    cmd += ["--limit", str(args.limit), "--chunk-size", str(args.chunk_size), "--max-tokens", str(args.max_tokens)]
    cmd += ["--backend", args.backend]
    if args.backend == "llamacpp":
        cmd += ["--backend-option", f"n_ctx={args.n_ctx}", "--backend-option", f"n_threads={args.threads}"]
    if args.model:
        cmd += ["--model", args.model]
    if args.cache is not None:
        cmd += ["--cache", str(args.cache)]
    return [*cmd, "--out", str(args.run)]


def table(summary: dict[str, Any]) -> str:
    """Accuracy [95% CI], generated tokens and wall seconds per problem, by strategy and budget."""
    rows = ["| strategy | N | problems x seeds | accuracy [95% CI] | gen tokens / problem | wall s / problem |"]
    rows.append("|---|---|---|---|---|---|")
    for p in summary["points"]:
        if p.get("level") is not None:
            continue
        acc = p["accuracy"]
        rows.append(
            f"| {p['strategy']} | {p['budget']} | {p['problems']}x{p['seeds']} | "
            f"{acc['mean']:.3f} [{acc['low']:.3f}, {acc['high']:.3f}] | {p['completion_tokens']:.0f} | "
            f"{p['wall_seconds']:.1f} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    run_cmd = eval_command(args)
    subprocess.run(run_cmd, check=True)
    ponder = run_cmd[0]
    subprocess.run([ponder, "report", str(args.run), "--out", str(args.docs)], check=True)
    summary = json.loads((args.docs / "summary.json").read_text())
    shown = " ".join(shlex.quote(part) for part in [".venv/bin/ponder", *run_cmd[1:]])
    body = (
        f"{args.limit} `gsm_symbolic` problems x {args.seeds} seed(s), backend `{args.backend}`, model "
        f"`{args.model or DEFAULT_MODEL}`, T=0.8, at most {args.max_tokens} tokens per sample"
        f"{f', {args.threads} threads' if args.backend == 'llamacpp' else ''}; "
        f"{machine_line()}. Wall seconds include the original generation time of samples replayed from the "
        f"cache.{f' {args.note}' if args.note else ''} Full report (plots against budget, tokens, FLOPs and wall "
        "time; maj@k, pass@k): "
        f"[{args.docs}/report.md]({_rel(args.docs)}/report.md).\n\n"
        f"{table(summary)}\n\n"
        f"![accuracy against budget]({_rel(args.docs)}/accuracy_vs_budget.png)\n\n"
        f"Command: `{command_line('bench.eval_scaling')}`, which runs `{shown}` and "
        f"`.venv/bin/ponder report {args.run} --out {args.docs}`."
    )
    publish(args.out, "eval_scaling", TITLE, body)


def _rel(docs: Path) -> str:
    """``docs`` relative to the docs/ folder (where BENCHMARKS.md lives), when it is inside it."""
    return str(docs.relative_to("docs")) if docs.parts and docs.parts[0] == "docs" else str(docs)


if __name__ == "__main__":
    main()
