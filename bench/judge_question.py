"""Benchmark: which question should the step-level judge ask? Quality (AUROC) against cost (tokens per step).

The judge's "continue" style (``ponder.scorers.judge``) closes the policy's turn after the steps so far and
asks one short question about the last step; beam search pays those tokens once per judged step, so a shorter
question means fewer processed prompt tokens. This benchmark measures what a shorter question costs in
judgement:

1. Samples ``--n`` solutions to each of ``--limit`` gsm_symbolic problems of the "calibration" split (not the
   test problems bench.search_beam runs on) from the step prompt every search strategy uses, cuts each at the
   task's step delimiter and grades its final answer.
2. For each question in ``--questions``, scores every step prefix of every solution with the judge (P(Yes)
   from the first reply token) and reports:
   - AUROC of the last step's score against the solution's correctness (how well it ranks whole solutions),
   - AUROC of every prefix's score against its solution's eventual correctness (what beam search's default
     ``agg="last"`` prunes on),
   - the difference from the first question's prefix AUROC, with a 95% bootstrap interval over problems,
   - the prompt tokens the question adds to each judged step (tokenised with the backend).

It replaces its own section of docs/BENCHMARKS.md (see bench.common). Run from the repository root:

    .venv/bin/python -m bench.judge_question --limit 20 --n 8 --model qwen2.5-coder-0.5b --threads 2
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import command_line, machine_line, publish
from ponder.api import get_task, load_backend, make_context
from ponder.catalog import make_registries
from ponder.scorers.judge import JudgeScorer
from ponder.strategies.base import prompts_for
from ponder.types import Problem, SamplingParams

TITLE = "Step-level judge: question wording, quality against tokens"
QUESTIONS = ("Is the last step correct?", "Is this step correct?", "Is it correct?", "Correct?")
"""The published comparison: the judge's question before this benchmark (the base row) and three shorter ones
(the judge's default, ``DEFAULT_CONTINUE_PROMPT``, is now the one this benchmark chose)."""


@dataclass
class Solution:
    """One sampled solution: its problem's index, its steps and whether its final answer is correct."""

    problem: int
    steps: list[str]
    correct: bool


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """P(score of a random positive > score of a random negative), ties counting half (Mann-Whitney U)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def sample_solutions(problems: Sequence[Problem], ctx: Any, n: int) -> list[Solution]:
    """``n`` solutions per problem, cut into steps at the task's delimiter and graded."""
    task = ctx.task
    gens = ctx.backend.generate(prompts_for(problems, ctx), ctx.params, n, tags=[p.id for p in problems])
    out = []
    for i, (problem, gen) in enumerate(zip(problems, gens, strict=True)):
        for c in gen.completions:
            steps = [s for s in c.text.split(task.step_delimiter) if s.strip()]
            correct = task.is_correct(problem, task.extract_answer(c.text))
            out.append(Solution(i, steps or [c.text], correct))
    return out


def judge_all(
    judge: JudgeScorer, problems: Sequence[Problem], prompts: Sequence[str], solutions: Sequence[Solution]
) -> list[list[float]]:
    """Step scores of every solution, one judge call per problem (in ``solutions`` order)."""
    scores: dict[int, list[float]] = {}
    for i, (problem, prompt) in enumerate(zip(problems, prompts, strict=True)):
        mine = [k for k, s in enumerate(solutions) if s.problem == i]
        for k, row in zip(mine, judge.score_steps(problem, [solutions[k].steps for k in mine], prompt), strict=True):
            scores[k] = row
    return [scores[k] for k in range(len(solutions))]


def prefix_auroc(scores: Sequence[Sequence[float]], solutions: Sequence[Solution], keep: Sequence[int]) -> float:
    """AUROC of every step prefix's score against its solution's correctness, over solutions ``keep``."""
    flat = [(s, solutions[k].correct) for k in keep for s in scores[k]]
    return auroc([s for s, _ in flat], [y for _, y in flat])


def bootstrap_diff(
    a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], solutions: Sequence[Solution], reps: int = 1000
) -> tuple[float, float]:
    """95% interval of prefix AUROC(b) - AUROC(a), resampling problems with replacement (seed 0)."""
    rng = random.Random(0)
    by_problem: dict[int, list[int]] = {}
    for k, s in enumerate(solutions):
        by_problem.setdefault(s.problem, []).append(k)
    groups = list(by_problem.values())
    diffs = []
    for _ in range(reps):
        keep = [k for g in rng.choices(groups, k=len(groups)) for k in g]
        d = prefix_auroc(b, solutions, keep) - prefix_auroc(a, solutions, keep)
        if d == d:  # a resample with one class only has no AUROC
            diffs.append(d)
    diffs.sort()
    if not diffs:
        return float("nan"), float("nan")
    return diffs[int(0.025 * len(diffs))], diffs[min(len(diffs) - 1, int(0.975 * len(diffs)))]


def question_tokens(backend: Any, judge: JudgeScorer, prompt: str, steps: Sequence[str]) -> int | None:
    """Prompt tokens the judge's turn change and question add after a step (None without a tokenizer)."""
    tokenize = getattr(backend, "tokenize", None)
    if not callable(tokenize):
        return None
    body = prompt + "".join(step + judge.delimiter for step in steps)
    return len(tokenize(body + judge.turn)) - len(tokenize(body))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    task = get_task("gsm_symbolic")
    problems = list(task.problems(split="calibration", limit=args.limit))
    options = {"n_threads": args.threads} if args.backend == "llamacpp" and args.threads else {}
    backend = load_backend(args.backend, args.model, **options)
    try:
        params = SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens)
        ctx = make_context(backend, task, make_registries(), params=params, seed=args.seed)
        prompts = prompts_for(problems, ctx)
        solutions = sample_solutions(problems, ctx, args.n)
        rows = []
        for question in args.questions:
            judge = JudgeScorer(ctx.backend, task, continue_prompt=question, step_style="continue")
            scores = judge_all(judge, problems, prompts, solutions)
            rows.append((question, scores, question_tokens(backend, judge, prompts[0], solutions[0].steps)))
        return {"model": backend.model, "problems": len(problems), "solutions": solutions, "rows": rows}
    finally:
        backend.close()


def render(args: argparse.Namespace, m: dict[str, Any]) -> str:
    solutions: list[Solution] = m["solutions"]
    labels = [s.correct for s in solutions]
    every = list(range(len(solutions)))
    base = m["rows"][0][1]
    lines = []
    for question, scores, tokens in m["rows"]:
        last = auroc([row[-1] for row in scores], labels)
        prefix = prefix_auroc(scores, solutions, every)
        low, high = bootstrap_diff(base, scores, solutions)
        diff = f"{prefix - prefix_auroc(base, solutions, every):+.3f} [{low:+.3f}, {high:+.3f}]"
        lines.append(f"| `{question}` | {'?' if tokens is None else tokens} | {last:.3f} | {prefix:.3f} | {diff} |")
    steps = sum(len(s.steps) for s in solutions)
    return (
        f"{len(solutions)} solutions ({args.n} per problem, T={args.temperature}, seed {args.seed}) to "
        f"{m['problems']} `gsm_symbolic` calibration problems, {sum(labels)} correct, {steps} steps; judged "
        f"by the policy itself (`judge`, continue style); backend `{args.backend}`, model `{m['model']}`; "
        f"{machine_line()}.\n\n"
        "| question | tokens added per judged step | AUROC, last step vs solution correct | "
        "AUROC, every prefix vs solution correct | prefix AUROC minus the first row's [95% CI] |\n"
        "|---|---|---|---|---|\n" + "\n".join(lines) + f"\n\nCommand: `{command_line('bench.judge_question')}`"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=20, help="gsm_symbolic calibration problems (default 20)")
    ap.add_argument("--n", type=int, default=8, help="solutions per problem (default 8)")
    ap.add_argument("--model", default=None, help="model for the backend (catalogue name or GGUF path)")
    ap.add_argument("--backend", default="llamacpp", help="backend name (default llamacpp; fake for a dry run)")
    ap.add_argument("--questions", nargs="+", default=list(QUESTIONS), help="questions to compare (first = base)")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all CPUs)")
    ap.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    publish(args.out, "judge_question", TITLE, render(args, measure(args)))


if __name__ == "__main__":
    main()
