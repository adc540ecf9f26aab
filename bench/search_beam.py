"""Benchmark: step-level beam search (N=8, M=4) on gsm_symbolic with the embedded llama.cpp backend.

On ``--limit`` problems (default 10) it measures:

1. Prompt tokens processed by ponder (``Usage.processed_prompt_tokens``: prompt tokens minus those the
   backend reused from its prefix cache) against a re-prefilling implementation, which processes every
   call's full prompt (``Usage.prompt_tokens``). Target: ponder processes at most 5% of that.
2. Wall time of the same search when the backend is made to re-prefill: a wrapper sends one prompt per
   call and drops the backend's prefix cache (``clear_cache()``) before each. Reported as a ratio.
3. Accuracy against self-consistency at equal generated tokens (self-consistency's ``n`` is chosen from a
   pilot run so its generated tokens match beam search's, scorer tokens included).

It replaces its own section of docs/BENCHMARKS.md (see bench.common) with the figures and the
command that produced them. Run from the repository root:

    .venv/bin/python -m bench.search_beam --limit 10 --model qwen2.5-coder-1.5b
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.beam_calls import CallLog
from bench.common import command_line, machine_line, publish
from ponder.api import get_strategy, get_task, load_backend, make_context, run_chunks
from ponder.catalog import make_registries
from ponder.types import Generation, Message, Problem, Result, SamplingParams, Usage

TITLE = "Step-level beam search: prefix reuse and accuracy"


class Reprefill:
    """A backend wrapper that re-processes every prompt: one prompt per call, prefix cache dropped first."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.model = inner.name, inner.model
        self.capabilities, self.n_params = inner.capabilities, inner.n_params

    def render(self, messages: Sequence[Message]) -> str:
        return str(self.inner.render(messages))

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        out: list[Generation] = []
        for i, prompt in enumerate(prompts):
            self.inner.clear_cache()
            out.extend(self.inner.generate([prompt], params.subset([i]), n))
        return out

    def close(self) -> None:
        """The wrapped backend is closed by its owner."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=10, help="gsm_symbolic problems (default 10)")
    ap.add_argument("--model", default=None, help="model for the backend (catalogue name or GGUF path)")
    ap.add_argument("--backend", default="llamacpp", help="backend name (default llamacpp; fake for a dry run)")
    ap.add_argument("--n", type=int, default=8, help="beams N (default 8)")
    ap.add_argument("--beam-width", type=int, default=4, help="children per beam M (default 4)")
    ap.add_argument("--max-depth", type=int, default=8, help="steps at most (default 8)")
    ap.add_argument("--scorer", default="judge", help="process scorer (default judge)")
    ap.add_argument("--max-tokens", type=int, default=512, help="max tokens of a final completion")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--chunk-size",
        type=int,
        default=1,
        help="problems searched together in one batch (default 1, as `ponder solve` does; a larger chunk "
        "needs a KV cache that holds every live node of every problem at once)",
    )
    ap.add_argument("--skip-reprefill", action="store_true", help="skip the (slow) re-prefilling wall-time run")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all CPUs)")
    ap.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    return ap.parse_args(argv)


def run(
    strategy: Any, problems: Sequence[Problem], backend: Any, args: argparse.Namespace
) -> tuple[list[Result], Usage]:
    """Solve ``problems`` (``--chunk-size`` at a time) and return the Results and the run's total Usage."""
    params = SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens)
    task = get_task("gsm_symbolic")
    ctx = make_context(backend, task, make_registries(), params=params, seed=args.seed, scorer=args.scorer)
    start = time.perf_counter()
    results = run_chunks(strategy, problems, ctx, chunk_size=args.chunk_size)
    wall = time.perf_counter() - start
    usage = ctx.backend.usage
    return results, Usage(
        usage.prompt_tokens, usage.cached_prompt_tokens, usage.completion_tokens, usage.calls, usage.flops, wall
    )


def accuracy(results: Sequence[Result], problems: Sequence[Problem]) -> float:
    task = get_task("gsm_symbolic")
    by_id = {p.id: p for p in problems}
    return sum(task.is_correct(by_id[r.problem_id], r.answer) for r in results) / max(1, len(results))


def matched_self_consistency(
    problems: Sequence[Problem], backend: Any, args: argparse.Namespace, target_tokens: int
) -> tuple[int, list[Result], Usage]:
    """Self-consistency whose generated tokens match ``target_tokens`` (n from a 2-sample pilot)."""
    _, pilot = run(get_strategy("self_consistency", n=2), problems, backend, args)
    per_sample = pilot.completion_tokens / max(1, 2 * len(problems))
    n = max(1, round(target_tokens / max(1.0, per_sample) / max(1, len(problems))))
    results, usage = run(get_strategy("self_consistency", n=n), problems, backend, args)
    return n, results, usage


def measure(args: argparse.Namespace) -> dict[str, Any]:
    problems = list(get_task("gsm_symbolic").problems(limit=args.limit))
    options = {"n_threads": args.threads} if args.backend == "llamacpp" and args.threads else {}
    backend = load_backend(args.backend, args.model, **options)
    beam = get_strategy("beam_search", n=args.n, beam_width=args.beam_width, max_depth=args.max_depth)
    try:
        log = CallLog(backend, quiet=True)
        results, usage = run(beam, problems, backend, args)
        log.detach()
        out: dict[str, Any] = {"problems": len(problems), "model": backend.model, "beam": usage}
        out["kinds"] = log.totals()
        out["beam_acc"] = accuracy(results, problems)
        out["sc_n"], sc_results, out["sc"] = matched_self_consistency(problems, backend, args, usage.completion_tokens)
        out["sc_acc"] = accuracy(sc_results, problems)
        out["reprefill"] = None
        if not args.skip_reprefill and callable(getattr(backend, "clear_cache", None)):
            _, out["reprefill"] = run(beam, problems, Reprefill(backend), args)
        return out
    finally:
        backend.close()


def render(args: argparse.Namespace, m: dict[str, Any]) -> str:
    beam, sc, slow = m["beam"], m["sc"], m["reprefill"]
    share = beam.processed_prompt_tokens / max(1, beam.prompt_tokens)
    if slow is None:
        wall = "not measured (backend has no `clear_cache()`, or `--skip-reprefill`)"
    else:
        wall = (
            f"{slow.wall_seconds:.1f} s vs {beam.wall_seconds:.1f} s: **{slow.wall_seconds / beam.wall_seconds:.2f}×**"
        )
    command = command_line("bench.search_beam")
    rows = [
        ("prompt tokens sent (= processed by a re-prefilling implementation)", f"{beam.prompt_tokens:,}"),
        ("prompt tokens processed by ponder", f"{beam.processed_prompt_tokens:,} ({share:.1%}; target ≤ 5%)"),
        ("prompt tokens reused from the prefix cache", f"{beam.cached_prompt_tokens:,}"),
        *(
            (f"of which {kind} calls: processed / sent", _share(sent - reused, sent))
            for kind, (sent, reused) in sorted(m.get("kinds", {}).items())
        ),
        ("wall time, re-prefilling vs ponder", wall),
        ("beam search: accuracy / generated tokens", f"{m['beam_acc']:.0%} / {beam.completion_tokens:,}"),
        (
            f"self-consistency n={m['sc_n']}: accuracy / generated tokens",
            f"{m['sc_acc']:.0%} / {sc.completion_tokens:,}",
        ),
        ("backend calls (beam search)", f"{beam.calls:,}"),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (
        f"`beam_search` N={args.n}, M={args.beam_width}, max depth {args.max_depth}, scorer `{args.scorer}`, "
        f"on {m['problems']} `gsm_symbolic` problems ({args.chunk_size} at a time); backend `{args.backend}`, "
        f"model `{m['model']}`, "
        f"T={args.temperature}, seed {args.seed}; {machine_line()}.\n\n"
        f"| measure | value |\n|---|---|\n{table}\n\n"
        f"Generated tokens include the scorer's. Command: `{command}`"
    )


def _share(part: int, whole: int) -> str:
    return f"{part:,} / {whole:,} ({part / max(1, whole):.1%})"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    publish(args.out, "search_beam", TITLE, render(args, measure(args)))


if __name__ == "__main__":
    main()
