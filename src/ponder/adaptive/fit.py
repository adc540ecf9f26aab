"""Fit an adaptive Policy from per-problem grid outcomes, with held-out validation.

Input: for each calibration problem, its probe's difficulty under every estimator, its oracle pass rate
(for analysis) and, for every grid cell (strategy, budget), whether that cell answered it correctly. The
problems are split (seeded shuffle) into a fit part and a held-out part. On the fit part: bin edges are
quantiles of the chosen estimator's difficulty, and for each bin and each total budget B the entry is the
cell with the best accuracy among those that fit in B (ties: the cheaper, then the name). A cell's cost
counts the probe: ``max(b, probe)`` for strategies that reuse the probe's samples (those with a ``sampler``
parameter), ``b + probe`` for the others. On the held-out part: the policy's accuracy per budget (each
problem binned by its own probe, answered by the chosen cell), next to the best single cell chosen on the
fit part, and next to the oracle policy (bins by the true pass rate, an upper bound no run can use), with the
mean samples each spends per problem.

Two meanings of a budget B (``budget_kind``):

- ``"max"``: every question may spend at most B; each bin gets its most accurate cell costing <= B.
- ``"mean"``: questions spend B *on average* (over the fit problems' bins): one cell per bin, chosen together
  to answer the most fit problems right with ``sum(bin size x cell cost) <= B x problems`` (an exact
  multiple-choice knapsack over the bins; ties: the cheaper). Easy bins can then keep the probe's vote while
  hard ones get more than B, which is what compute-optimal allocation means when compute is counted over a
  whole set of questions (tokens per problem), as in Snell et al.'s comparisons at equal mean compute.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ponder.adaptive.difficulty import ESTIMATORS, bin_of, quantile_edges, spearman
from ponder.adaptive.policy import BUDGET_KINDS, BudgetKind, Entry, Policy
from ponder.errors import ConfigError

__all__ = ["Cell", "ProblemOutcome", "correlations", "fit_policy", "pick_estimator", "split_ids"]

Cell = tuple[str, int]
"""(strategy, grid budget)."""
Table = dict[tuple[int, int], tuple[Cell, float, int]]
"""(bin, total budget) -> (best cell, its fit accuracy in the bin, problems in the bin)."""


@dataclass(frozen=True)
class ProblemOutcome:
    """What calibration measured for one problem."""

    id: str
    difficulty: Mapping[str, float]
    """Difficulty per estimator name, from the probe."""
    pass_rate: float
    """Fraction of the model's sampled answers that are right (oracle; analysis only)."""
    correct: Mapping[Cell, float] = field(default_factory=dict)
    """Per grid cell: 1.0 right, 0.0 wrong (a mean when several seeds ran)."""


def split_ids(ids: Sequence[str], holdout: float, seed: int) -> tuple[list[str], list[str]]:
    """(fit ids, held-out ids): a seeded shuffle, ``holdout`` of them held out (at least one of each)."""
    if not 0 < holdout < 1:
        raise ConfigError(f"holdout must be in (0, 1), got {holdout!r}")
    if len(ids) < 2:
        raise ConfigError(f"calibration needs at least 2 problems to hold some out, got {len(ids)}")
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    held = min(len(order) - 1, max(1, round(holdout * len(order))))
    return order[held:], order[:held]


def correlations(problems: Sequence[ProblemOutcome]) -> dict[str, float | None]:
    """Spearman correlation of each estimator's difficulty with the oracle pass rate (negative = useful)."""
    names = [e for e in ESTIMATORS if all(e in p.difficulty for p in problems)]
    rates = [p.pass_rate for p in problems]
    return {e: spearman([p.difficulty[e] for p in problems], rates) for e in names}


def pick_estimator(rhos: Mapping[str, float | None]) -> str:
    """The estimator whose difficulty is most negatively correlated with the pass rate."""
    usable = {e: r for e, r in rhos.items() if r is not None}
    if not usable:
        return "agreement"
    return min(usable, key=lambda e: (usable[e], list(ESTIMATORS).index(e)))


def _accuracy(rows: Sequence[ProblemOutcome], cell: Cell) -> float:
    return float(np.mean([p.correct.get(cell, 0.0) for p in rows])) if rows else 0.0


def _best(
    rows: Sequence[ProblemOutcome], cells: Sequence[Cell], cost: Callable[[Cell], int], budget: int
) -> tuple[Cell, float]:
    fitting = [c for c in cells if cost(c) <= budget]
    if not fitting:
        cheapest = min(cost(c) for c in cells)
        fitting = [c for c in cells if cost(c) == cheapest]
    best = max(fitting, key=lambda c: (_accuracy(rows, c), -cost(c)))  # first of equals: cells are sorted
    return best, _accuracy(rows, best)


Groups = list[list[ProblemOutcome]]
"""The fit problems of each bin (bin i at index i; a bin may be empty)."""


def _entries(
    groups: Groups, rows: Sequence[ProblemOutcome], cells: Sequence[Cell], cost: Callable[[Cell], int], budget: int
) -> Table:
    """The best cell within ``budget`` for every bin (a bin with no fit problems: over all of ``rows``)."""
    out: Table = {}
    for b, group in enumerate(groups):
        mine = group or list(rows)
        cell, acc = _best(mine, cells, cost, budget)
        out[(b, budget)] = (cell, acc, len(mine))
    return out


def _spread(
    groups: Groups, rows: Sequence[ProblemOutcome], cells: Sequence[Cell], cost: Callable[[Cell], int], budget: int
) -> Table | None:
    """One cell per bin, most fit problems right with mean cost <= ``budget``; None when even the cheapest
    cells cost more. A bin with no fit problems gets the best single cell within ``budget`` (it costs the fit
    problems nothing)."""
    states: dict[int, tuple[float, tuple[Cell, ...]]] = {0: (0.0, ())}  # spent -> (right, picks)
    for group in groups:
        options = [(c, cost(c) * len(group), sum(r.correct.get(c, 0.0) for r in group)) for c in cells]
        if not group:
            options = [(_best(rows, cells, cost, budget)[0], 0, 0.0)]
        nxt: dict[int, tuple[float, tuple[Cell, ...]]] = {}
        for spent, (right, picks) in states.items():
            for cell, extra, gain in options:
                total = spent + extra
                if total <= budget * len(rows) and (total not in nxt or right + gain > nxt[total][0]):
                    nxt[total] = (right + gain, (*picks, cell))
        states = nxt
    if not states:
        return None
    _, (_, picks) = max(states.items(), key=lambda kv: (kv[1][0], -kv[0]))
    mine = [group or list(rows) for group in groups]
    chosen = enumerate(zip(mine, picks, strict=True))
    return {(b, budget): (cell, _accuracy(m, cell), len(m)) for b, (m, cell) in chosen}


def _table(
    rows: Sequence[ProblemOutcome],
    bins: Sequence[int],
    n_bins: int,
    cells: Sequence[Cell],
    cost: Callable[[Cell], int],
    budgets: Sequence[int],
    kind: str,
) -> Table:
    """The entries for every (bin, budget) under ``kind`` ("max" or "mean", see the module docstring); below
    every cell's cost a "mean" budget falls back to the "max" choice (each bin's cheapest best cell)."""
    groups = [[r for r, rb in zip(rows, bins, strict=True) if rb == b] for b in range(n_bins)]
    out: Table = {}
    for budget in budgets:
        spread = _spread(groups, rows, cells, cost, budget) if kind == "mean" else None
        out.update(spread or _entries(groups, rows, cells, cost, budget))
    return out


def _score(rows: Sequence[ProblemOutcome], bins: Sequence[int], table: Table, B: int) -> float:
    return float(np.mean([r.correct.get(table[(b, B)][0], 0.0) for r, b in zip(rows, bins, strict=True)]))


def _spent(bins: Sequence[int], table: Table, B: int, cost: Callable[[Cell], int]) -> float:
    """Mean samples per problem the table's choices at budget ``B`` cost for problems in ``bins``."""
    return float(np.mean([cost(table[(b, B)][0]) for b in bins]))


def fit_policy(
    problems: Sequence[ProblemOutcome],
    params: Mapping[Cell, Mapping[str, Any]],
    *,
    estimator: str,
    probe: int,
    budgets: Sequence[int],
    reuses: Callable[[str], bool],
    identity: Mapping[str, Any],
    bins: int = 5,
    holdout: float = 0.5,
    seed: int = 0,
    budget_kind: str = "max",
) -> Policy:
    """A Policy fitted on part of ``problems`` and validated on the rest (see the module docstring).

    ``params[cell]`` are the strategy parameters the cell ran with; ``identity`` holds model, task, scorer.
    ``budget_kind``: "max" (every question within the budget) or "mean" (the budget on average)."""
    if budget_kind not in BUDGET_KINDS:
        raise ConfigError(f"budget_kind must be one of {', '.join(BUDGET_KINDS)}, got {budget_kind!r}")
    cells = sorted(params)
    if not cells:
        raise ConfigError("calibration found no grid outcomes to fit a policy on")

    def cost(cell: Cell) -> int:
        return max(cell[1], probe) if reuses(cell[0]) else cell[1] + probe

    by_id = {p.id: p for p in problems}
    fit_ids, held_ids = split_ids(list(by_id), holdout, seed)
    fit, held = [by_id[i] for i in fit_ids], [by_id[i] for i in held_ids]
    edges = quantile_edges([p.difficulty[estimator] for p in fit], bins)
    fit_bins = [bin_of(p.difficulty[estimator], edges) for p in fit]
    table = _table(fit, fit_bins, len(edges) + 1, cells, cost, budgets, budget_kind)
    entries = [
        Entry(bin=b, budget=B, strategy=c[0], params=dict(params[c]), accuracy=acc, problems=n)
        for (b, B), (c, acc, n) in sorted(table.items())
    ]
    validation = _validate(fit, held, edges, estimator, table, cells, cost, budgets, (bins, budget_kind))
    return Policy(
        **identity,
        budget_kind=cast(BudgetKind, budget_kind),
        estimator=estimator,
        probe=probe,
        edges=edges,
        entries=entries,
        correlations=correlations(problems),
        validation=validation,
        notes=f"fitted on {len(fit)} problems, validated on {len(held)} held-out problems (seed {seed})",
    )


def _validate(
    fit: Sequence[ProblemOutcome],
    held: Sequence[ProblemOutcome],
    edges: Sequence[float],
    estimator: str,
    table: Table,
    cells: Sequence[Cell],
    cost: Callable[[Cell], int],
    budgets: Sequence[int],
    how: tuple[int, str],
) -> dict[str, Any]:
    """Held-out accuracy per budget: the policy, the best single cell (chosen on fit) and the oracle policy
    (``how``: bins, budget kind), and the mean samples per problem the policy and the oracle policy spend."""
    bins, kind = how
    held_bins = [bin_of(p.difficulty[estimator], edges) for p in held]
    oracle_edges = quantile_edges([p.pass_rate for p in fit], bins)
    # Oracle bins are numbered hardest first (low pass rate = bin 0 would read backwards): invert.
    n_oracle = len(oracle_edges) + 1
    fit_oracle = [n_oracle - 1 - bin_of(p.pass_rate, oracle_edges) for p in fit]
    oracle_table = _table(fit, fit_oracle, n_oracle, cells, cost, budgets, kind)
    held_oracle = [n_oracle - 1 - bin_of(p.pass_rate, oracle_edges) for p in held]
    per_budget = {}
    for B in budgets:
        fixed, _ = _best(fit, cells, cost, B)
        per_budget[str(B)] = {
            "policy": _score(held, held_bins, table, B),
            "policy_samples": _spent(held_bins, table, B, cost),
            "best_fixed": float(np.mean([p.correct.get(fixed, 0.0) for p in held])),
            "best_fixed_cell": f"{fixed[0]}@{fixed[1]}",
            "oracle_bins_policy": _score(held, held_oracle, oracle_table, B),
            "oracle_bins_samples": _spent(held_oracle, oracle_table, B, cost),
        }
    return {
        "fit_problems": len(fit),
        "held_out_problems": len(held),
        "oracle_pass_rate_edges": oracle_edges,
        "accuracy_by_budget": per_budget,
    }
