"""Benchmark: budget forcing's accuracy vs thinking budget, and self-refine vs self-consistency per token.

On ``--limit`` gsm_symbolic problems (default 20), with the embedded llama.cpp backend by default:

1. The s1 curve, small: ``budget_forcing`` at each ``--budgets`` value of max_thinking (min_thinking =
   ``--min-fraction`` x max_thinking, at most ``--wait`` waits), greedy by default. Reported: accuracy,
   mean thinking + answer tokens generated per problem, mean waits, and how thinking ended.
2. Self-refine vs self-consistency at equal generated tokens: ``self_refine`` at each ``--rounds`` value
   and ``self_consistency`` at each ``--sc-n`` value, plotted as accuracy against mean generated tokens per
   problem on one axis, so points at equal x compare equal compute.

It writes a PNG (``--figure``) and replaces its own section of docs/BENCHMARKS.md (see bench.common)
with the tables and the command. Run from the repository root:

    .venv/bin/python -m bench.depth_budget_forcing --limit 20 --model qwen2.5-coder-1.5b

A dry run on the fake backend (no model, seconds): ``--backend fake --limit 3 --out /tmp/b.md``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import command_line, machine_line, publish
from ponder.api import get_strategy, get_task, load_backend, make_context, run_chunks
from ponder.catalog import make_registries
from ponder.types import Problem, Result, SamplingParams

TITLE = "Depth: budget forcing curve; self-refine vs self-consistency at equal tokens"


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=20, help="gsm_symbolic problems (default 20)")
    ap.add_argument("--model", default=None, help="model for the backend (catalogue name or GGUF path)")
    ap.add_argument("--backend", default="llamacpp", help="backend name (default llamacpp; fake for a dry run)")
    ap.add_argument("--budgets", type=ints, default=[64, 128, 256, 512, 1024], help="max_thinking values")
    ap.add_argument("--min-fraction", type=float, default=0.5, help="min_thinking = this x max_thinking")
    ap.add_argument("--wait", type=int, default=2, help="most waits per problem (k)")
    ap.add_argument("--bf-temperature", type=float, default=0.0, help="budget forcing temperature (0 = greedy)")
    ap.add_argument("--rounds", type=ints, default=[1, 2, 3], help="self_refine rounds values")
    ap.add_argument("--sc-n", type=ints, default=[1, 2, 4, 8], help="self_consistency n values")
    ap.add_argument("--temperature", type=float, default=0.7, help="self-refine / self-consistency temperature")
    ap.add_argument("--max-tokens", type=int, default=512, help="max tokens per sample / draft / revision")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", type=Path, default=Path("docs/figures/depth_budget_forcing.png"))
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all CPUs)")
    ap.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    return ap.parse_args(argv)


def run_point(strategy: Any, problems: Sequence[Problem], backend: Any, temperature: float, args: Any) -> dict:
    """Solve all problems with ``strategy`` in one batch; accuracy, tokens per problem, wall time."""
    task = get_task("gsm_symbolic")
    params = SamplingParams(temperature=temperature, max_tokens=args.max_tokens)
    ctx = make_context(backend, task, make_registries(), params=params, seed=args.seed)
    start = time.perf_counter()
    results = run_chunks(strategy, problems, ctx, chunk_size=max(1, len(problems)))
    wall = time.perf_counter() - start
    by_id = {p.id: p for p in problems}
    correct = sum(task.is_correct(by_id[r.problem_id], r.answer) for r in results)
    count = max(1, len(results))
    return {
        "acc": correct / count,
        "tokens": ctx.backend.usage.completion_tokens / count,
        "wall": wall,
        "results": results,
    }


def forcing_stats(results: Sequence[Result]) -> dict[str, Any]:
    """Mean thinking tokens and waits, and how often thinking ended each way."""
    events = [e.data for r in results for e in r.trace if e.kind == "force_answer"]
    ends: dict[str, int] = {}
    for e in events:
        ends[e["reason"]] = ends.get(e["reason"], 0) + 1
    n = max(1, len(events))
    return {
        "thinking": sum(e["thinking_tokens"] for e in events) / n,
        "waits": sum(e["waits"] for e in events) / n,
        "ends": ", ".join(f"{k} {v}" for k, v in sorted(ends.items())),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    problems = list(get_task("gsm_symbolic").problems(limit=args.limit))
    options = {"n_threads": args.threads} if args.backend == "llamacpp" and args.threads else {}
    backend = load_backend(args.backend, args.model, **options)
    out: dict[str, Any] = {"problems": len(problems), "model": backend.model or args.backend}
    out |= {"bf": [], "sr": [], "sc": []}
    try:
        for budget in args.budgets:
            strategy = get_strategy(
                "budget_forcing", max_thinking=budget, min_thinking=int(args.min_fraction * budget), wait=args.wait
            )
            point = run_point(strategy, problems, backend, args.bf_temperature, args)
            out["bf"].append({"budget": budget, **point, **forcing_stats(point["results"])})
        for rounds in args.rounds:
            point = run_point(get_strategy("self_refine", rounds=rounds), problems, backend, args.temperature, args)
            out["sr"].append({"rounds": rounds, **point})
        for n in args.sc_n:
            point = run_point(get_strategy("self_consistency", n=n), problems, backend, args.temperature, args)
            out["sc"].append({"n": n, **point})
        return out
    finally:
        backend.close()


def plot(m: dict[str, Any], path: Path) -> None:
    """Two panels: accuracy vs thinking budget; accuracy vs generated tokens (self-refine, self-consistency)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot([p["budget"] for p in m["bf"]], [p["acc"] for p in m["bf"]], "o-", label="budget forcing")
    left.set(xscale="log", xlabel="max thinking tokens", ylabel="accuracy", title="Budget forcing", ylim=(0, 1))
    for key, label in (("sr", "self-refine (rounds)"), ("sc", "self-consistency (n)")):
        right.plot([p["tokens"] for p in m[key]], [p["acc"] for p in m[key]], "o-", label=label)
    right.set(xscale="log", xlabel="generated tokens per problem", ylabel="accuracy", ylim=(0, 1))
    right.set_title("Equal tokens")
    right.legend()
    fig.suptitle(f"{m['model']}, {m['problems']} gsm_symbolic problems")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render(args: argparse.Namespace, m: dict[str, Any]) -> str:
    bf = "\n".join(
        f"| {p['budget']} | {int(args.min_fraction * p['budget'])} | {p['acc']:.0%} | {p['thinking']:.0f} | "
        f"{p['tokens']:.0f} | {p['waits']:.2f} | {p['ends']} | {p['wall']:.0f} |"
        for p in m["bf"]
    )
    eq = "\n".join(
        [
            f"| self_refine rounds={p['rounds']} | {p['acc']:.0%} | {p['tokens']:.0f} | {p['wall']:.0f} |"
            for p in m["sr"]
        ]
        + [f"| self_consistency n={p['n']} | {p['acc']:.0%} | {p['tokens']:.0f} | {p['wall']:.0f} |" for p in m["sc"]]
    )
    command = command_line("bench.depth_budget_forcing")
    return (
        f"{m['problems']} `gsm_symbolic` problems; backend `{args.backend}`, model `{m['model']}`, seed {args.seed}; "
        f"{machine_line()}. Figure: `{args.figure}`.\n\n"
        f"Budget forcing (T={args.bf_temperature}, at most {args.wait} waits; tokens are per problem):\n\n"
        "| max thinking | min thinking | accuracy | thinking tokens | generated tokens | waits | thinking ended | "
        f"wall s |\n|---|---|---|---|---|---|---|---|\n{bf}\n\n"
        f"Equal tokens (T={args.temperature}, max_tokens={args.max_tokens}; compare rows with similar tokens):\n\n"
        f"| strategy | accuracy | generated tokens / problem | wall s |\n|---|---|---|---|\n{eq}\n\n"
        f"Command: `{command}`"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    m = measure(args)
    plot(m, args.figure)
    publish(args.out, "depth_budget_forcing", TITLE, render(args, m))


if __name__ == "__main__":
    main()
