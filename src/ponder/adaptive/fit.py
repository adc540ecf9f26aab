"""Fit an adaptive Policy from per-problem grid outcomes, validated by cross-validation.

Input: for each calibration problem, its probe's difficulty under every estimator, its oracle pass rate
(for analysis) and, for every grid cell (strategy, budget), whether that cell answered it correctly. A fit
on a set of problems: bin edges are quantiles of the chosen estimator's difficulty, and for each bin and each
total budget B the entry is the cell with the best accuracy among those that fit in B (ties: the cheaper,
then the name). A cell's cost counts the probe: ``max(b, probe)`` for strategies that reuse the probe's
samples (those with a ``sampler`` parameter), ``b + probe`` for the others.

The policy written is fitted on all the problems. Its validation is k-fold cross-validation (Snell et al.
use two folds): the problems are split (seeded shuffle) into ``folds`` groups, and each group is scored by a
policy fitted on the other groups only, so no problem is scored by a fit that saw it. Per budget: the
policy's accuracy (each problem binned by its own probe, answered by the chosen cell), next to the best
single cell chosen on the same fit problems and the oracle policy (bins by the true pass rate, an upper bound
no run can use), with the mean samples each spends per problem. These numbers describe the fitting
procedure on (folds - 1)/folds of the problems; the written policy, fitted on all of them, has more data
behind each choice.

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
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ponder.adaptive.difficulty import ESTIMATORS, bin_of, quantile_edges, spearman
from ponder.adaptive.policy import BUDGET_KINDS, BudgetKind, Entry, Policy
from ponder.errors import ConfigError

__all__ = ["Cell", "Fitting", "ProblemOutcome", "correlations", "fit_policy", "fold_ids", "pick_estimator"]

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


def fold_ids(ids: Sequence[str], folds: int, seed: int) -> list[list[str]]:
    """``folds`` disjoint groups of ``ids`` (a seeded shuffle; sizes differ by at most one)."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"folds must be an integer >= 2, got {folds!r}")
    if len(ids) < folds:
        raise ConfigError(f"{folds}-fold cross-validation needs at least {folds} problems, got {len(ids)}")
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    return [order[k::folds] for k in range(folds)]


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
    folds: int = 2,
    seed: int = 0,
    budget_kind: str = "max",
) -> Policy:
    """A Policy fitted on all ``problems``, validated by ``folds``-fold cross-validation (see the module
    docstring).

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
    groups = fold_ids(list(by_id), folds, seed)  # checked before the fit, which a bad ``folds`` would waste
    how = Fitting(estimator, bins, budget_kind, cells, cost, budgets)
    edges, table = how.fit(list(problems))
    entries = [
        Entry(bin=b, budget=B, strategy=c[0], params=dict(params[c]), accuracy=acc, problems=n)
        for (b, B), (c, acc, n) in sorted(table.items())
    ]
    held = [[by_id[i] for i in group] for group in groups]
    validation = _cross_validate(held, how)
    return Policy(
        **identity,
        budget_kind=cast(BudgetKind, budget_kind),
        estimator=estimator,
        probe=probe,
        edges=edges,
        entries=entries,
        correlations=correlations(problems),
        validation=validation,
        notes=(
            f"fitted on all {len(by_id)} problems; validated by {folds}-fold cross-validation, each problem scored "
            f"by the policy fitted on the other folds (seed {seed})"
        ),
    )


@dataclass(frozen=True)
class Fitting:
    """How a policy is fitted: the estimator, bins, budget kind, grid cells, their cost and the budgets."""

    estimator: str
    bins: int
    kind: str
    cells: Sequence[Cell]
    cost: Callable[[Cell], int]
    budgets: Sequence[int]

    def fit(self, rows: Sequence[ProblemOutcome]) -> tuple[list[float], Table]:
        """Bin edges (quantiles of the estimator's difficulty over ``rows``) and the table fitted on ``rows``."""
        edges = quantile_edges([p.difficulty[self.estimator] for p in rows], self.bins)
        row_bins = [bin_of(p.difficulty[self.estimator], edges) for p in rows]
        return edges, _table(rows, row_bins, len(edges) + 1, self.cells, self.cost, self.budgets, self.kind)

    def oracle(self, rows: Sequence[ProblemOutcome]) -> tuple[list[float], Table]:
        """Like ``fit`` with bins by the true pass rate (an upper bound no run can use), numbered hardest
        first (a low pass rate as bin 0 would read backwards)."""
        edges = quantile_edges([p.pass_rate for p in rows], self.bins)
        row_bins = [oracle_bin(p, edges) for p in rows]
        return edges, _table(rows, row_bins, len(edges) + 1, self.cells, self.cost, self.budgets, self.kind)


def oracle_bin(problem: ProblemOutcome, edges: Sequence[float]) -> int:
    """The oracle bin of ``problem``: by its pass rate, hardest first."""
    return len(edges) - bin_of(problem.pass_rate, edges)


def _cross_validate(groups: Sequence[Sequence[ProblemOutcome]], how: Fitting) -> dict[str, Any]:
    """Every problem scored by the policy fitted on the other groups, next to the best single cell and the
    oracle-bin policy fitted there; per budget, means over all problems (and the mean samples the policy
    and the oracle policy spend per problem)."""
    scored: dict[int, dict[str, list[float]]] = {B: defaultdict(list) for B in how.budgets}
    fixed_cells: dict[int, list[str]] = {B: [] for B in how.budgets}
    for k, held in enumerate(groups):
        fit = [p for j, g in enumerate(groups) if j != k for p in g]
        edges, table = how.fit(fit)
        oracle_edges, oracle_table = how.oracle(fit)
        held_bins = [bin_of(p.difficulty[how.estimator], edges) for p in held]
        held_oracle = [oracle_bin(p, oracle_edges) for p in held]
        for B in how.budgets:
            fixed, _ = _best(fit, how.cells, how.cost, B)
            fixed_cells[B].append(f"{fixed[0]}@{fixed[1]}")
            got = scored[B]
            got["policy"] += [p.correct.get(table[(b, B)][0], 0.0) for p, b in zip(held, held_bins, strict=True)]
            got["policy_samples"] += [how.cost(table[(b, B)][0]) for b in held_bins]
            got["best_fixed"] += [p.correct.get(fixed, 0.0) for p in held]
            got["oracle_bins_policy"] += [
                p.correct.get(oracle_table[(b, B)][0], 0.0) for p, b in zip(held, held_oracle, strict=True)
            ]
            got["oracle_bins_samples"] += [how.cost(oracle_table[(b, B)][0]) for b in held_oracle]
    per_budget = {
        str(B): {
            **{name: float(np.mean(values)) for name, values in scored[B].items()},
            "best_fixed_cell": ", ".join(dict.fromkeys(fixed_cells[B])),
        }
        for B in how.budgets
    }
    sizes = [len(g) for g in groups]
    return {
        "folds": len(groups),
        "fit_problems": sum(sizes) - max(sizes),  # the fewest any fold's policy was fitted on
        "held_out_problems": sum(sizes),
        "accuracy_by_budget": per_budget,
    }
