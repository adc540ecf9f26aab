"""Accuracy and generated tokens per problem-number range, from the records of a bench.adaptive run.

Prints one row per run directory, strategy and budget with the accuracy and mean generated tokens per
problem in each range of problem numbers (the number after the last "-" of a problem id), e.g. to compare a
held-out set's older and freshly drawn halves. Reads records only (no sampling).

    .venv/bin/python -m bench.by_problem runs/bench_adaptive_p2d/held_out \
        runs/bench_adaptive_program80/adaptive___early_stop --ranges 100-139,140-179
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ponder.eval.aggregate import latest
from ponder.eval.store import RunStore


def ranges(text: str) -> list[tuple[int, int]]:
    """``"100-139,140-179"`` -> [(100, 139), (140, 179)] (inclusive)."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.append((int(lo), int(hi)))
    return out


def rows(run: Path, spans: list[tuple[int, int]]) -> list[str]:
    """Markdown rows: run, strategy, budget, then accuracy / tokens per range."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in latest(RunStore(run).records())[0]:
        groups[(r["strategy"], r["budget"])].append(r)
    out = []
    for (strategy, budget), records in sorted(groups.items()):
        cells = []
        for lo, hi in spans:
            mine = [r for r in records if lo <= int(str(r["problem_id"]).rsplit("-", 1)[1]) <= hi]
            acc = np.mean([r["correct"] for r in mine]) if mine else float("nan")
            tokens = np.mean([r["usage"]["completion_tokens"] for r in mine]) if mine else float("nan")
            cells.append(f"{acc:.1%} / {tokens:.0f} ({len(mine)})")
        out.append(f"| {run} | {strategy} | {budget} | " + " | ".join(cells) + " |")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run directories (e.g. RUNS/held_out)")
    ap.add_argument("--ranges", type=ranges, required=True, help="problem-number ranges, e.g. 100-139,140-179")
    args = ap.parse_args(argv)
    head = " | ".join(f"{lo}-{hi}: accuracy / tokens (problems)" for lo, hi in args.ranges)
    print(f"| run | strategy | budget | {head} |\n|---|---|---|" + "---|" * len(args.ranges))
    for run in args.runs:
        print("\n".join(rows(run, args.ranges)))


if __name__ == "__main__":
    main()
