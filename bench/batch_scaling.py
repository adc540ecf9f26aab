"""Decode throughput of the embedded llama.cpp backend against the number of sequences decoded together.

One short prompt, sampled ``B`` times in one ``generate`` call for each batch size ``B``; the prompt's KV
state is cached by an untimed warm-up call first, so the timed calls measure decoding (plus sampling).
Aggregate generated tokens per second at ``B`` over that at ``B = 1`` is what batching can buy on this
machine: the ceiling of any batched speed-up whose work is mostly decoding (e.g. ``bench.sc_speed``).
Writes its section of docs/BENCHMARKS.md.

    .venv/bin/python -m bench.batch_scaling --model qwen2.5-coder-1.5b --threads 2
"""

from __future__ import annotations

import argparse
import time

from bench.common import command_line, machine_line, replace_section
from ponder import load_backend
from ponder.models import DEFAULT_MODEL
from ponder.types import Message, SamplingParams

PROMPT = "Count from 1 to 1000, writing each number as an English word, separated by commas."


def ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def measure(backend, sizes: list[int], tokens: int, seed: int) -> list[dict[str, float]]:
    """Per batch size: generated tokens, wall seconds and aggregate tokens/s of one ``generate`` call."""
    prompt = backend.render([Message("user", PROMPT)])
    params = SamplingParams(temperature=0.8, max_tokens=tokens, seed=seed)
    backend.generate([prompt], params.replace(max_tokens=1), n=1)  # caches the prompt's KV state
    rows = []
    for size in sizes:
        start = time.perf_counter()
        [generation] = backend.generate([prompt], params, n=size)
        wall = time.perf_counter() - start
        generated = sum(c.n_tokens for c in generation.completions)
        rows.append({"batch": size, "tokens": generated, "wall": wall, "tps": generated / wall})
        print(f"batch {size:3d}: {generated} tokens in {wall:.1f} s = {generated / wall:.1f} tok/s", flush=True)
    return rows


def render(args: argparse.Namespace, rows: list[dict[str, float]]) -> str:
    base = rows[0]["tps"]
    table = "\n".join(
        f"| {r['batch']} | {r['tokens']} | {r['wall']:.1f} | {r['tps']:.1f} | {r['tps'] / base:.2f} |" for r in rows
    )
    command = command_line("bench.batch_scaling")
    return (
        f"Model `{args.model}`, {args.threads} threads, T=0.8, up to {args.tokens} new tokens per sequence, one "
        f"short prompt whose KV state is cached before timing; {machine_line()}.\n\n"
        f"Command: `{command}`\n\n"
        "| sequences decoded together | generated tokens | wall s | tokens / s | vs 1 sequence |\n"
        f"|---|---|---|---|---|\n{table}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=ints, default=[1, 2, 4, 8, 16])
    ap.add_argument("--tokens", type=int, default=96, help="new tokens per sequence")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/BENCHMARKS.md")
    args = ap.parse_args()
    backend = load_backend("llamacpp", args.model, n_threads=args.threads)
    try:
        rows = measure(backend, args.sizes, args.tokens, args.seed)
    finally:
        backend.close()
    title = f"Batched decoding: throughput vs sequences decoded together ({args.model})"
    replace_section(args.out, f"batch_scaling_{args.model}", title, render(args, rows))


if __name__ == "__main__":
    main()
