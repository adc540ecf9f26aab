"""Text pieces of bench.adaptive's section: validation table, seeds note, the 1/5 line, early-stop lines."""

from __future__ import annotations

import argparse
from typing import Any


def validation_table(policies: dict[str, Any]) -> str:
    """Calibration's own cross-validation, for each policy: the policy, the best single cell, oracle bins,
    with the mean samples per problem the policies spend (the best cell spends its budget)."""
    lines = ["| budget | policy | accuracy | mean samples | best fixed (cell) | oracle bins | oracle bins' samples |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for kind, policy in policies.items():
        rows = policy.validation.get("accuracy_by_budget", {})
        for budget, v in sorted(rows.items(), key=lambda kv: int(kv[0])):
            lines.append(
                f"| {budget} | {kind} | {v['policy']:.0%} | {v['policy_samples']:.1f} | "
                f"{v['best_fixed']:.0%} ({v['best_fixed_cell']}) | {v['oracle_bins_policy']:.0%} | "
                f"{v['oracle_bins_samples']:.1f} |"
            )
    some = next(iter(policies.values())).validation
    folds, n_fit, n = some.get("folds"), some.get("fit_problems"), some.get("held_out_problems")
    return (
        f"Calibration's validation ({folds}-fold cross-validation on the {n} calibration problems: each scored "
        f"by the policy fitted on the other {n_fit}; the policy used on the test problems is fitted on all {n}; "
        "budgets per question (max) or as a mean over questions (mean); best fixed cells of each fold):\n\n"
        + "\n".join(lines)
    )


def seeds_note(args: argparse.Namespace) -> str:
    """How many seeds each problem ran with, when more than one (rows average them)."""
    if len(args.seeds) == 1:
        return ""
    seeds = ", ".join(map(str, args.seeds))
    return f", each with seeds {seeds} in both parts (accuracies and tokens average the {len(args.seeds)} runs)"


def fifth_line(m: dict[str, Any]) -> str:
    """What the issue's target spend (1/5 of SC N=16's tokens per problem) buys: the best row within it."""
    cap = m["target"]["tokens"] / 5
    within = [(p["acc"], -p["tokens"], name, p) for name, pts in m["curves"].items() for p in pts if p["tokens"] <= cap]
    if not within:
        return f"No row spends at most 1/5 of SC N={m['target']['budget']}'s tokens ({cap:.0f} per problem)."
    acc, _, name, p = max(within, key=lambda w: w[:2])
    n = m["target"]["budget"]
    return (
        f"Within 1/5 of SC N={n}'s tokens ({cap:.0f} per problem) the most accurate row is `{name}` at budget "
        f"{p['budget']}: {acc:.0%} ({p['tokens']:.0f} tokens), against SC N={n}'s {m['target']['acc']:.0%}."
    )


def variant_lines(m: dict[str, Any]) -> str:
    """One line per early-stopping run: the tokens it needs to reach the same accuracy, as a ratio."""
    lines = []
    for name in (n for n in m["reach"] if n != "adaptive"):
        best, ratio = m["reach"][name]
        said = "not reached"
        if best is not None and ratio is not None:
            said = f"{ratio:.2f} x (budget {best['budget']}: {best['acc']:.0%}, {best['tokens']:.0f} tokens)"
        lines.append(f"- `{name}`: {said}")
    return "\n".join(lines)
