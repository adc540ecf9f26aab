"""Self-consistency N=16 on arithmetic word problems: ponder's batched shared-prefix path vs the naive loop.

The naive way (what most tutorials show): a Python loop that calls llama-cpp-python's ``Llama`` 16 times per
problem. ``Llama`` keeps the last sequence's KV cache, so with ``--naive-reset`` (the default) the cache is
reset before each call and every call processes the prompt again, as the naive method is defined; pass
``--no-naive-reset`` to let it reuse the prompt from the previous call. Both sides use the same GGUF file,
thread count, chat prompt, sampling settings and token cap, and run interleaved problem by problem so
machine noise hits both alike. Writes its section of docs/BENCHMARKS.md.

    .venv/bin/python -m bench.sc_speed --limit 10 --n 16
"""

from __future__ import annotations

import argparse
import time

from bench.common import replace_section
from ponder import load_backend
from ponder.api import make_context, run_chunks
from ponder.catalog import make_registries
from ponder.models import DEFAULT_MODEL, resolve
from ponder.strategies.base import prompts_for
from ponder.strategies.self_consistency import SelfConsistency
from ponder.tasks.gsm_symbolic import GSMSymbolicTask
from ponder.types import Problem, SamplingParams


def naive(llm, prompt: str, task, n: int, params: SamplingParams, reset: bool) -> tuple[str | None, int]:
    """N separate completion calls; returns the majority answer and generated tokens."""
    answers, tokens = [], 0
    for i in range(n):
        if reset:
            llm.reset()
        out = llm(
            prompt,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.sample_seed(i),
        )
        tokens += out["usage"]["completion_tokens"]
        answers.append(task.extract_answer(out["choices"][0]["text"]))
    votes: dict[str, int] = {}
    for a in answers:
        if a is not None:
            votes[task.answer_key(a)] = votes.get(task.answer_key(a), 0) + 1
    return (max(votes, key=lambda k: votes[k]) if votes else None), tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=320)
    ap.add_argument("--naive-reset", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--out", default="docs/BENCHMARKS.md")
    args = ap.parse_args()

    import llama_cpp

    task = GSMSymbolicTask(seed=0)
    problems = list(task.problems("test", limit=args.limit))
    params = SamplingParams(temperature=0.8, max_tokens=args.max_tokens, seed=0)
    backend = load_backend("llamacpp", args.model, n_threads=args.threads)
    path, _ = resolve(args.model)
    llm = llama_cpp.Llama(str(path), n_ctx=4096, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
    ctx = make_context(backend, task, make_registries(), params=params)
    rows, totals = [], {"ponder": 0.0, "naive": 0.0, "ponder_tok": 0, "naive_tok": 0, "ponder_ok": 0, "naive_ok": 0}
    for problem in problems:
        blind = Problem(problem.question, id=problem.id)
        t0 = time.perf_counter()
        [res] = run_chunks(SelfConsistency(n=args.n), [blind], ctx, 1)
        t1 = time.perf_counter()
        prompt = prompts_for([blind], ctx)[0]
        answer, naive_tok = naive(llm, prompt, task, args.n, params, args.naive_reset)
        t2 = time.perf_counter()
        ok_p, ok_n = task.is_correct(problem, res.answer), task.is_correct(problem, answer)
        totals["ponder"] += t1 - t0
        totals["naive"] += t2 - t1
        totals["ponder_tok"] += res.usage.completion_tokens
        totals["naive_tok"] += naive_tok
        totals["ponder_ok"] += ok_p
        totals["naive_ok"] += ok_n
        rows.append(f"| {problem.id} | {t1 - t0:.1f} | {t2 - t1:.1f} | {(t1 - t0) / (t2 - t1):.2f} | {ok_p} | {ok_n} |")
        print(rows[-1], flush=True)
    write_report(args, problems, rows, totals)


def write_report(args: argparse.Namespace, problems: list, rows: list[str], t: dict) -> None:
    k = len(problems)
    body = [
        f"Self-consistency N={args.n} on {k} gsm_symbolic problems (seed 0, test split), model `{args.model}`, "
        f"{args.threads} threads, T=0.8, max {args.max_tokens} tokens per sample; naive loop resets the "
        f"KV cache before each call: {args.naive_reset}.",
        "",
        f"Command: `.venv/bin/python -m bench.sc_speed --limit {args.limit} --n {args.n} --model {args.model} "
        f"--threads {args.threads} --max-tokens {args.max_tokens}`",
        "",
        "| | ponder (batched, shared prefix) | naive loop |",
        "|---|---|---|",
        f"| wall time (s) | {t['ponder']:.1f} | {t['naive']:.1f} |",
        f"| generated tokens | {t['ponder_tok']} | {t['naive_tok']} |",
        f"| generated tokens / s | {t['ponder_tok'] / t['ponder']:.1f} | {t['naive_tok'] / t['naive']:.1f} |",
        f"| accuracy | {t['ponder_ok']}/{k} | {t['naive_ok']}/{k} |",
        "",
        f"**Wall-time ratio ponder / naive: {t['ponder'] / t['naive']:.2f}** "
        f"(per generated token: {(t['ponder'] / t['ponder_tok']) / (t['naive'] / t['naive_tok']):.2f}).",
        "",
        "| problem | ponder s | naive s | ratio | ponder correct | naive correct |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    replace_section(args.out, "sc_speed", "Self-consistency: batched shared prefix vs naive loop", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
