"""``ponder calibrate``: run the grid over a calibration split with the eval runner, then fit a Policy.

1. The grid (strategies x budgets, seed 0) runs through ``eval.runner.run_eval`` into ``runs`` (resumable,
   with its generation cache), like ``ponder eval``.
2. The probe runs there too, as one more cell: self_consistency at budget ``probe`` (best_of_n when a
   scorer is given, so the probe's samples are scored). With the seed shared, its samples are the first
   samples of the grid's self_consistency cells, so the cache usually serves it for free.
3. From the records: each problem's probe difficulty under every estimator (``adaptive.difficulty``), its
   oracle pass rate (right answers among the samples of the largest self_consistency cell, or of every
   cell without one), and which cells got it right; ``adaptive.fit`` fits and validates the policy.

What it does not do: grade (``task.is_correct`` in the runner does), or pick hyperparameters other than
those the grid ran (fixed ones come from ``strategy_params``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ponder.adaptive.difficulty import ESTIMATORS, difficulty
from ponder.adaptive.fit import Cell, ProblemOutcome, correlations, fit_policy, pick_estimator
from ponder.adaptive.policy import BUDGET_KINDS, Policy, save_policy, task_label
from ponder.backends.base import Backend
from ponder.catalog import make_registries
from ponder.errors import ConfigError
from ponder.eval.aggregate import latest
from ponder.eval.config import EvalConfig
from ponder.eval.runner import Hooks, grid_problems, run_eval
from ponder.eval.store import RunStore

__all__ = ["CalibrationRun", "calibrate", "outcomes"]


@dataclass(frozen=True)
class CalibrationRun:
    """What ``ponder calibrate`` is asked to do."""

    grid: EvalConfig
    """The grid to run (its ``out`` is the runs directory); seeds other than 0 are averaged."""
    policy_out: Path
    estimator: str = "auto"
    """A name from ``adaptive.difficulty.ESTIMATORS``, or "auto": the best Spearman correlation."""
    probe: int = 4
    bins: int = 5
    folds: int = 2
    """Cross-validation folds: each fold's problems are scored by a policy fitted on the others only (the
    policy written is fitted on all problems)."""
    split_seed: int = 0
    budget_kind: str = "max"
    """What the policy's budgets bound: "max" (every question) or "mean" (the mean over questions)."""

    def __post_init__(self) -> None:
        if self.budget_kind not in BUDGET_KINDS:
            raise ConfigError(f"budget_kind must be one of {', '.join(BUDGET_KINDS)}, got {self.budget_kind!r}")
        if self.estimator != "auto" and self.estimator not in ESTIMATORS:
            raise ConfigError(f"estimator must be auto or one of {', '.join(ESTIMATORS)}, got {self.estimator!r}")
        for name, least in (("probe", 1), ("bins", 1), ("folds", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"{name} must be an integer >= {least}, got {value!r}")

    @property
    def probe_strategy(self) -> str:
        return "best_of_n" if self.grid.scorer else "self_consistency"


def calibrate(run: CalibrationRun, *, backend: Backend | None = None, hooks: Hooks | None = None) -> Policy:
    """Run the grid and the probe (resuming what is done), fit the policy, write it to ``run.policy_out``."""
    run_eval(run.grid, backend=backend, hooks=hooks)
    probe_cfg = dataclasses.replace(
        run.grid, strategies=(run.probe_strategy,), budgets=(run.probe,), seeds=(0,), strategy_params={}
    )
    run_eval(probe_cfg, backend=backend, hooks=hooks)
    problems, params, model = outcomes(run)
    rhos = correlations(problems)
    estimator = pick_estimator(rhos) if run.estimator == "auto" else run.estimator
    reg = make_registries()

    def reuses(strategy: str) -> bool:
        return "sampler" in {f.name for f in dataclasses.fields(reg.strategies.get(strategy))}

    task = task_label(run.grid.task, run.grid.task_options.get("solve_with"))
    identity = {"model": model, "task": task, "scorer": run.grid.scorer}
    policy = fit_policy(
        problems,
        params,
        estimator=estimator,
        probe=run.probe,
        budgets=sorted(run.grid.budgets),
        reuses=reuses,
        identity=identity,
        bins=run.bins,
        folds=run.folds,
        seed=run.split_seed,
        budget_kind=run.budget_kind,
    )
    save_policy(policy, run.policy_out)
    return policy


def outcomes(run: CalibrationRun) -> tuple[list[ProblemOutcome], dict[Cell, dict[str, Any]], str]:
    """Per-problem outcomes, the parameters of each cell, and the model name, read from the runs directory
    (records of the grid's own problems only)."""
    store = RunStore(run.grid.out)
    wanted = set(run.grid.strategies)
    mine = {p.id for p in grid_problems(run.grid)}  # the directory may also hold other problems' records
    strategies = wanted | {run.probe_strategy}
    newest, _ = latest(store.records())  # a strategy's records from before its defaults changed are superseded
    rows = [r for r in newest if r.get("strategy") in strategies and r["problem_id"] in mine]
    probe_rows = {
        r["problem_id"]: r
        for r in rows
        if r["strategy"] == run.probe_strategy and r["budget"] == run.probe and r["seed"] == 0
    }
    correct: dict[str, dict[Cell, list[float]]] = defaultdict(lambda: defaultdict(list))
    params: dict[Cell, dict[str, Any]] = {}
    for r in rows:
        if r["strategy"] in wanted and r["budget"] in run.grid.budgets and r["seed"] in run.grid.seeds:
            cell = (str(r["strategy"]), int(r["budget"]))
            correct[r["problem_id"]][cell].append(1.0 if r["correct"] else 0.0)
            params.setdefault(cell, dict(r["params"]))
    ids = sorted(set(probe_rows) & set(correct))
    if not ids:
        raise ConfigError(f"no calibration records in {str(run.grid.out)!r} (did every problem fail? see errors.jsonl)")
    rates = _pass_rates(rows, wanted, run.grid.budgets)
    out = []
    for pid in ids:
        probe = probe_rows[pid]
        keys = list(probe["candidate_keys"])
        scores = _scores(store, probe) if run.grid.scorer else None
        found = {e: difficulty(e, keys, scores) for e in ESTIMATORS if e != "verifier" or scores}
        cells = {c: float(np.mean(v)) for c, v in correct[pid].items()}
        out.append(ProblemOutcome(pid, found, rates.get(pid, 0.0), cells))
    model = str(next(iter(probe_rows.values())).get("model") or run.grid.model or "unknown")
    return out, params, model


def _pass_rates(rows: list[dict[str, Any]], wanted: set[str], budgets: tuple[int, ...]) -> dict[str, float]:
    """Oracle pass rate per problem: right answers among the largest self_consistency cell's samples (all
    grid candidates when self_consistency did not run)."""
    sc = [r for r in rows if r["strategy"] == "self_consistency" and r["budget"] in budgets]
    top = max((r["budget"] for r in sc), default=None)
    pool = [r for r in sc if r["budget"] == top] if top is not None else [r for r in rows if r["strategy"] in wanted]
    got: dict[str, list[bool]] = defaultdict(list)
    for r in pool:
        got[r["problem_id"]].extend(bool(c) for c in r.get("candidate_correct") or [])
    return {pid: float(np.mean(v)) for pid, v in got.items() if v}


def _scores(store: RunStore, record: Mapping[str, Any]) -> list[float] | None:
    trace = store.trace(dict(record))
    if trace is None:
        return None
    scores = [c.get("score") for c in trace.get("candidates", [])]
    return [float(s) for s in scores if s is not None] or None
