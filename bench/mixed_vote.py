"""Benchmark: reasoning and program-aided samples voting together, the mix chosen on the calibration split.

Two bench.adaptive runs on the same problems, one with reasoning (the default task) and one with
``--task-option solve_with=program``, hold samples of both kinds for the calibration and the held-out
problems. A mix (a program samples, b reasoning samples) is one majority vote over the first a program and
the first b reasoning samples of a question (answers compared by the task's answer key; ties go to the answer
seen first, program samples first). No new sampling: everything is read from the two runs' records.

For each token cap (a fraction of reasoning SC N=16's generated tokens per problem), the mix is chosen on the
calibration problems (the most accurate mix within the cap there, the cheaper on a tie) and then measured on
the held-out problems; and the cheapest mix reaching reasoning SC N=16's calibration accuracy is measured the
same way. So the held-out rows were never used to choose anything.

    .venv/bin/python -m bench.mixed_vote --reasoning-run runs/bench_adaptive_p2c \
        --program-run runs/bench_adaptive_program
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import command_line, machine_line, publish
from ponder.api import get_task
from ponder.eval.aggregate import latest
from ponder.eval.metrics import maj_at_k
from ponder.eval.store import RunStore

TITLE = "Mixed votes: reasoning and program-aided samples together"
CAPS = (0.2, 0.25, 0.33, 0.5)
Samples = dict[str, tuple[list[str | None], list[bool], list[int]]]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--reasoning-run", type=Path, required=True, help="bench.adaptive --runs of the reasoning run")
    ap.add_argument("--program-run", type=Path, required=True, help="bench.adaptive --runs of the program run")
    ap.add_argument("--out", type=Path, default=Path("docs/BENCHMARKS.md"))
    return ap.parse_args(argv)


def samples(run: Path) -> Samples:
    """Per problem and seed ("id/seed"): answer keys, grades and token counts of the samples of the largest SC
    budget, in order."""
    store = RunStore(run)
    records = [r for r in latest(store.records())[0] if r["strategy"] == "self_consistency"]
    top = max(r["budget"] for r in records)
    task = get_task("gsm_symbolic")
    out: Samples = {}
    for r in (r for r in records if r["budget"] == top):
        tokens = [int(c["n_tokens"]) for c in (store.trace(r) or {})["candidates"]]
        keys = [None if a is None else task.answer_key(a) for a in r["candidate_answers"]]
        out[f"{r['problem_id']}/{r['seed']}"] = (keys, list(r["candidate_correct"]), tokens)
    return out


def mixes(program: Samples, reasoning: Samples) -> dict[tuple[int, int], tuple[float, float]]:
    """(a, b): (accuracy, generated tokens per problem) of voting a program and b reasoning samples."""
    ids = sorted(set(program) & set(reasoning))
    most_a, most_b = min(len(program[i][0]) for i in ids), min(len(reasoning[i][0]) for i in ids)
    out = {}
    for a in range(most_a + 1):
        for b in range(most_b + 1):
            if a + b == 0:
                continue
            hits, tokens = [], []
            for i in ids:
                (pk, pc, pt), (rk, rc, rt) = program[i], reasoning[i]
                hits.append(maj_at_k(pk[:a] + rk[:b], pc[:a] + rc[:b], a + b))
                tokens.append(sum(pt[:a]) + sum(rt[:b]))
            out[(a, b)] = (float(np.mean(hits)), float(np.mean(tokens)))
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    parts = {}
    for part in ("calibration", "held_out"):
        reasoning = samples(args.reasoning_run / part)
        parts[part] = {"mixes": mixes(samples(args.program_run / part), reasoning), "problems": len(reasoning)}
    return parts


def _choose(cal: dict[tuple[int, int], tuple[float, float]], cap: float) -> tuple[int, int] | None:
    within = [(acc, -tok, mix) for mix, (acc, tok) in cal.items() if tok <= cap]
    return max(within)[2] if within else None


def render(args: argparse.Namespace, m: dict[str, Any]) -> str:
    cal, held = m["calibration"]["mixes"], m["held_out"]["mixes"]
    n = max(b for _, b in cal)
    sc_cal, sc_held = cal[(0, n)], held[(0, n)]
    rows = []
    for cap in CAPS:
        mix = _choose(cal, cap * sc_cal[1])
        if mix is not None:
            rows.append(_row(f"{cap:g} x SC N={n}'s tokens", mix, cal, held, sc_held))
    reach = [(tok, mix) for mix, (acc, tok) in cal.items() if acc >= sc_cal[0]]
    if reach:
        rows.append(_row(f"cheapest reaching SC N={n}'s {sc_cal[0]:.0%}", min(reach)[1], cal, held, sc_held))
    return (
        f"Samples of `{args.program_run}` (program-aided) and `{args.reasoning_run}` (reasoning), "
        f"{m['calibration']['problems']} calibration and {m['held_out']['problems']} held-out problems; "
        f"{machine_line()}. Reasoning SC N={n}: {sc_cal[0]:.0%} on the calibration problems "
        f"({sc_cal[1]:.0f} tokens), {sc_held[0]:.0%} held out ({sc_held[1]:.0f} tokens). Each mix is chosen on the "
        f"calibration problems and measured on the held-out ones.\n\n"
        "| chosen on calibration | program + reasoning samples | calibration accuracy | held-out accuracy | "
        f"held-out tokens / problem | x SC N={n}'s held-out tokens |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nCommand: `{command_line('bench.mixed_vote')}`"
    )


def _row(label: str, mix: tuple[int, int], cal: Any, held: Any, sc_held: tuple[float, float]) -> str:
    (a, b), (acc, tok) = mix, held[mix]
    return f"| {label} | {a} + {b} | {cal[mix][0]:.0%} | {acc:.0%} | {tok:.0f} | {tok / sc_held[1]:.2f} |"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    publish(args.out, "mixed_vote", TITLE, render(args, measure(args)))


if __name__ == "__main__":
    main()
