"""Benchmark: what a better verifier could buy on bench.adaptive's held-out samples (no new sampling).

bench.adaptive asks for SC N=16's accuracy at 1/5 of its tokens. This benchmark asks whether any way of choosing
among the samples could get there, on the very samples that run drew: for the first k samples of each
held-out problem (k = the run's budgets), the accuracy of

- majority vote (maj@k, first answer seen wins a tie),
- best-of-k by the model's confidence (the scores the run's best_of_n recorded: vanilla = highest score,
  weighted = answer with the largest summed score),
- best-of-k by the model's own outcome judge (``judge``, P(Yes)), scored here for the first ``--judge-k``
  samples (the only part that runs the model),
- a perfect verifier (any of the first k correct),
- a perfect verifier that also stops a question at its first correct sample ("perfect, stopping": at most k
  samples; its mean samples and tokens per question).

It also gives each scorer's AUROC against correctness (over all judged samples, and within problems: correct
vs wrong samples of the same question, which is what selection needs), the judge's cost, and for each selector
the fewest samples per question (and tokens, as a ratio to SC N=16's) at which it reaches SC N=16's accuracy.

Run from the repository root after bench.adaptive (it reads that run's held-out directory and replays nothing):

    .venv/bin/python -m bench.verifier_ceiling --run runs/bench_adaptive_p2c/held_out --judge-k 8 --threads 2
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import command_line, machine_line, publish
from bench.judge_question import auroc
from ponder.api import get_task, load_backend, make_context
from ponder.catalog import make_registries
from ponder.eval.aggregate import latest
from ponder.eval.metrics import maj_at_k
from ponder.eval.store import RunStore
from ponder.scorers.judge import JudgeScorer
from ponder.types import Candidate, Usage

TITLE = "Verifier ceiling: what choosing better among the same samples could buy"


@dataclass
class Row:
    """One held-out problem's samples, in the order drawn: answers, grades, lengths and scores."""

    problem_id: str
    texts: list[str]
    keys: list[str | None]
    correct: list[bool]
    tokens: list[int]
    sc_correct: bool
    scores: dict[str, list[float]] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=Path("runs/bench_adaptive/held_out"), help="held-out run directory")
    ap.add_argument("--judge-k", type=int, default=4, help="samples per problem the judge scores (0: no judge)")
    ap.add_argument("--backend", default=None, help="judge backend (default: the run's)")
    ap.add_argument("--model", default=None, help="judge model (default: the run's)")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    ap.add_argument("--n-ctx", type=int, default=None, help="llama.cpp KV cells")
    ap.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    return ap.parse_args(argv)


def load(run: Path) -> tuple[dict[str, Any], list[Row], str]:
    """The run's configuration (its budgets: every budget it has records of), one Row per problem from its
    largest self_consistency budget, and its model."""
    store = RunStore(run)
    records = latest(store.records())[0]
    config = {**store.runs()[-1]["config"], "budgets": sorted({r["budget"] for r in records})}
    top = max(r["budget"] for r in records if r["strategy"] == "self_consistency")
    by_id = {(r["problem_id"], r["seed"]): r for r in records if r["budget"] == top and r["strategy"] == "best_of_n"}
    rows = []
    for r in sorted(records, key=lambda r: r["problem_id"]):
        if r["strategy"] != "self_consistency" or r["budget"] != top:
            continue
        cands = (store.trace(r) or {})["candidates"]
        row = Row(r["problem_id"], [c["text"] for c in cands], r["candidate_keys"], r["candidate_correct"],
                  [int(c["n_tokens"]) for c in cands], bool(r["correct"]))  # fmt: skip
        bon = by_id.get((r["problem_id"], r["seed"]))
        scored = (store.trace(bon) or {})["candidates"] if bon else []
        if [c["text"] for c in scored] == row.texts and all(c["score"] is not None for c in scored):
            row.scores[bon["params"].get("scorer") or config["scorer"]] = [float(c["score"]) for c in scored]
        rows.append(row)
    return config, rows, str(records[0]["model"])


def judge(args: argparse.Namespace, config: dict[str, Any], rows: list[Row]) -> tuple[Usage, str]:
    """Scores each row's first ``--judge-k`` samples with the judge (into ``row.scores["judge"]``): its usage
    and model."""
    task = get_task(config["task"], **config["task_options"])
    count = config["offset"] + config["limit"]
    problems = {p.id: p for p in task.problems(config["split"], count)}
    options = dict(config["backend_options"])
    options.update({k: v for k, v in (("n_threads", args.threads), ("n_ctx", args.n_ctx)) if v})
    backend = load_backend(args.backend or config["backend"], args.model or config["model"], **options)
    try:
        ctx = make_context(backend, task, make_registries())
        scorer = JudgeScorer(ctx.backend, task)
        for row in rows:
            cands = [Candidate(text=t, answer=a) for t, a in zip(row.texts[: args.judge_k], row.keys, strict=False)]
            row.scores["judge"] = scorer.score(problems[row.problem_id], cands)
        return ctx.backend.meter.usage, str(backend.model)
    finally:
        backend.close()


def best(row: Row, scorer: str, k: int) -> bool:
    """Vanilla best-of-k: the highest-scored of the first k samples (the first on a tie) is correct."""
    scores = row.scores[scorer][:k]
    return row.correct[int(np.argmax(scores))]


def weighted(row: Row, scorer: str, k: int) -> bool:
    """Weighted best-of-k: the answer with the largest summed score among the first k samples is correct."""
    total: dict[str, float] = {}
    for key, score in zip(row.keys[:k], row.scores[scorer][:k], strict=True):
        if key is not None:
            total[key] = total.get(key, 0.0) + score
    if not total:
        return False
    top = max(total, key=lambda a: total[a])
    return row.correct[row.keys.index(top)]


def stopping(row: Row, k: int) -> tuple[bool, int, int]:
    """A perfect verifier that stops at the first correct sample, at most k: (solved, samples, tokens)."""
    first = next((i for i, c in enumerate(row.correct[:k]) if c), None)
    used = k if first is None else first + 1
    return first is not None, used, sum(row.tokens[:used])


def selectors(rows: list[Row]) -> dict[str, tuple[Callable[[Row, int], bool], int]]:
    """Name: (is the choice among the first k samples correct, the largest k it can be asked)."""
    n = len(rows[0].keys)
    out: dict[str, tuple[Callable[[Row, int], bool], int]] = {
        "majority": (lambda r, k: maj_at_k(r.keys, r.correct, k), n)
    }
    for scorer in sorted({s for r in rows for s in r.scores}):
        if all(scorer in r.scores for r in rows):
            top = min(len(r.scores[scorer]) for r in rows)
            out[f"{scorer} (best)"] = (lambda r, k, s=scorer: best(r, s, k), top)
            out[f"{scorer} (weighted)"] = (lambda r, k, s=scorer: weighted(r, s, k), top)
    out["perfect"] = (lambda r, k: any(r.correct[:k]), n)
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    config, rows, model = load(args.run)
    usage, judge_model = judge(args, config, rows) if args.judge_k > 0 else (None, None)
    ks = [k for k in config["budgets"] if k <= len(rows[0].keys)]
    table = {name: {k: float(np.mean([f(r, k) for r in rows])) for k in ks if k <= top}
             for name, (f, top) in selectors(rows).items()}  # fmt: skip
    stops = {k: [stopping(r, k) for r in rows] for k in ks}
    spend = {k: (float(np.mean([s[1] for s in v])), float(np.mean([s[2] for s in v]))) for k, v in stops.items()}
    return {
        "config": config, "rows": rows, "model": model, "judge_model": judge_model, "table": table,
        "spend": spend, "ks": ks, "usage": usage, "n": len(rows[0].keys), "aurocs": aurocs(rows),
        "target": float(np.mean([r.sc_correct for r in rows])),
        "sc_tokens": float(np.mean([sum(r.tokens) for r in rows])),
    }  # fmt: skip


def aurocs(rows: list[Row]) -> dict[str, tuple[float, float, int]]:
    """Per scorer: AUROC over all its scored samples, AUROC within problems, and the samples scored."""
    out = {}
    for scorer in sorted({s for r in rows for s in r.scores}):
        scored = [(r.scores[scorer], r.correct[: len(r.scores[scorer])]) for r in rows if scorer in r.scores]
        flat = [(s, y) for scores, ys in scored for s, y in zip(scores, ys, strict=True)]
        wins = pairs = 0.0
        for scores, ys in scored:
            for s, y in zip(scores, ys, strict=True):
                for s2, y2 in zip(scores, ys, strict=True):
                    if y and not y2:
                        wins, pairs = wins + (s > s2) + 0.5 * (s == s2), pairs + 1
        overall = auroc([s for s, _ in flat], [y for _, y in flat])
        out[scorer] = (overall, wins / pairs if pairs else float("nan"), len(flat))
    return out


def _reach(m: dict[str, Any], name: str, stop: bool = False) -> str:
    """The fewest samples per question at which ``name`` reaches SC N=16's accuracy, with its token ratio
    (``stop``: the perfect verifier stopping at each question's first correct sample)."""
    acc, label = m["table"][name], f"{name}, stopping" if stop else name
    hit = next((k for k, a in acc.items() if a >= m["target"]), None)
    if hit is None:
        return f"- {label}: not within {max(acc)} samples ({max(acc.values()):.0%} at best)"
    samples, tokens = m["spend"][hit] if stop else (hit, float(np.mean([sum(r.tokens[:hit]) for r in m["rows"]])))
    said = f"at most {hit} samples, {samples:.2f} on average" if stop else f"{hit} samples"
    return f"- {label}: {said}, {tokens:.0f} tokens = {tokens / m['sc_tokens']:.2f} x"


def render(args: argparse.Namespace, m: dict[str, Any]) -> str:
    config, ks, n = m["config"], m["ks"], m["n"]
    head = "| selector | " + " | ".join(f"k={k}" for k in ks) + " |\n|---|" + "---|" * len(ks)
    lines = [f"| {name} | " + " | ".join(f"{acc[k]:.0%}" if k in acc else "–" for k in ks) + " |"
             for name, acc in m["table"].items()]  # fmt: skip
    spent = " | ".join(f"{m['spend'][k][0]:.2f}" for k in ks)
    lines.append(f"| perfect, stopping at the first correct: mean samples | {spent} |")
    scored = "; ".join(f"`{s}` {a:.2f} overall, {w:.2f} within problems ({c} samples)"
                       for s, (a, w, c) in m["aurocs"].items())  # fmt: skip
    cost = ""
    if m["usage"] is not None:
        judged = sum(len(r.scores["judge"]) for r in m["rows"])
        u = m["usage"]
        cost = (f" The judge (`{m['judge_model']}`) scored the first {args.judge_k} samples of each problem: "
                f"{u.prompt_tokens / judged:.0f} prompt tokens per judged sample, "
                f"{u.processed_prompt_tokens / judged:.0f} of them processed "
                f"(the rest reused from the cache), {u.wall_seconds / judged:.1f} s each.")  # fmt: skip
    reach = "\n".join([*(_reach(m, name) for name in m["table"]), _reach(m, "perfect", stop=True)])
    problems = len({r.problem_id for r in m["rows"]})
    seeds = f", {len(m['rows']) // problems} seeds each" if len(m["rows"]) > problems else ""
    where = f"{config['split']} problems {config['offset']} to {config['offset'] + problems - 1}{seeds}"
    return (
        f"The {n} samples per problem of `{args.run}` ({problems} held-out `{config['task']}` {where}, "
        f"T={config['temperature']}, at most {config['max_tokens']} tokens each), model "
        f"`{m['model']}`; {machine_line()}. Accuracy of choosing among each problem's first k samples, in the "
        f"order drawn; SC N={n} (the run's self-consistency record) is {m['target']:.0%} at "
        f"{m['sc_tokens']:.0f} generated tokens per problem.\n\n{head}\n" + "\n".join(lines) + "\n\n"
        f"AUROC of the scores against correctness: {scored or 'no scorer'}.{cost}\n\n"
        f"Fewest samples per question at which each selector reaches SC N={n}'s {m['target']:.0%} "
        f"(generated tokens of those samples as a ratio to SC N={n}'s):\n\n{reach}\n\n"
        f"Command: `{command_line('bench.verifier_ceiling')}`"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    m = measure(args)
    publish(args.out, "verifier_ceiling", TITLE, render(args, m))


if __name__ == "__main__":
    main()
