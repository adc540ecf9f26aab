"""The evaluation grid: task x strategy x budget x seed, each cell a configuration with a stable hash.

"Budget" is one integer per cell, mapped to the strategy's own budget parameter by ``BUDGET_PARAM``:

| strategy          | budget sets    | adjusted so the budget is valid                                     |
|-------------------|----------------|---------------------------------------------------------------------|
| self_consistency  | n              |                                                                     |
| best_of_n         | n              |                                                                     |
| beam_search       | n              | beam_width -> the largest divisor of n not above it (n=2, M=4: M=2) |
| lookahead         | n              | as beam_search                                                      |
| revisions         | n              | sequential -> the largest divisor of n not above it; parallel=None  |
| self_refine       | rounds         |                                                                     |
| reflexion         | attempts       |                                                                     |
| deliberate        | passes         |                                                                     |
| budget_forcing    | max_thinking   | min_thinking -> at most max_thinking                                |
| mcts              | simulations    |                                                                     |
| tree_of_thought   | breadth        |                                                                     |
| forest_of_thought | trees          |                                                                     |
| adaptive          | budget         |                                                                     |

A strategy with no entry (cot, or a plugin) is a ConfigError unless ``budget_params`` names its parameter
(``--budget-param name=field``). Adjusted parameters are recorded, so every record says what really ran.

A cell's ``config`` hash covers everything that changes its outcome: task and task options, split,
strategy and all its parameters (defaults included), scorer and options, backend, model, sampling
temperature and max_tokens, and the seed. It leaves out what does not: workers, chunk size, the cache,
the problem limit (so raising ``--limit`` later only runs the new problems). A cell's ``series`` hash is
the same without the budget and the seed: one line in a plot.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ponder.errors import ConfigError

__all__ = ["BUDGET_PARAM", "Cell", "budget_settings", "config_hash", "make_cells"]

BUDGET_PARAM: Mapping[str, str] = {
    "self_consistency": "n",
    "best_of_n": "n",
    "beam_search": "n",
    "lookahead": "n",
    "revisions": "n",
    "self_refine": "rounds",
    "reflexion": "attempts",
    "deliberate": "passes",
    "budget_forcing": "max_thinking",
    "mcts": "simulations",
    "tree_of_thought": "breadth",
    "forest_of_thought": "trees",
    "adaptive": "budget",
}
"""The parameter each strategy's budget sets (see the module docstring's table)."""


def _largest_divisor(n: int, at_most: int) -> int:
    return max(d for d in range(1, min(n, at_most) + 1) if n % d == 0)


def budget_settings(
    strategy: str,
    budget: int,
    fixed: Mapping[str, Any],
    extra: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The strategy parameters of one cell: ``fixed`` with the budget parameter set (and adjusted).

    ``defaults`` are the strategy's own defaults, read for the parameters an adjustment caps."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ConfigError(f"a budget must be an integer >= 1, got {budget!r}")
    table = {**BUDGET_PARAM, **(extra or {})}
    if strategy not in table:
        raise ConfigError(
            f"strategy {strategy!r} has no budget parameter in BUDGET_PARAM; name one with "
            f"--budget-param {strategy}=FIELD (for a single sample use self_consistency with budget 1)"
        )
    name = table[strategy]
    if name in fixed:
        raise ConfigError(f"--param {strategy}.{name}={fixed[name]!r} clashes with the budget, which sets {name}")
    params = {**fixed, name: budget}
    known = {**(defaults or {}), **fixed}
    if strategy in ("beam_search", "lookahead"):
        params["beam_width"] = _largest_divisor(budget, int(known.get("beam_width", 4)))
    elif strategy == "revisions":
        params["sequential"] = _largest_divisor(budget, int(known.get("sequential", 4)))
        params["parallel"] = None
    elif strategy == "budget_forcing":
        params["min_thinking"] = min(int(known.get("min_thinking", 0)), budget)
    return params


def config_hash(identity: Mapping[str, Any]) -> str:
    """A short stable hash of a JSON-friendly mapping (16 hex digits of sha256 over canonical JSON)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Cell:
    """One configuration of the grid."""

    task: str
    strategy: str
    budget: int
    seed: int
    params: Mapping[str, Any]
    """The strategy's parameters as given to it (budget parameter set, adjustments applied)."""
    identity: Mapping[str, Any]
    """Everything the ``config`` hash covers, with the strategy's full parameters (defaults included)."""
    config: str
    series: str
    label: str
    """A readable name of the series: strategy, scorer and fixed parameters."""
    fixed: Mapping[str, Any] = field(default_factory=dict)


def make_cells(
    common: Mapping[str, Any],
    strategies: tuple[str, ...],
    budgets: tuple[int, ...],
    seeds: tuple[int, ...],
    fixed: Mapping[str, Mapping[str, Any]],
    full_params: Callable[[str, dict[str, Any]], dict[str, Any]],
    defaults: Callable[[str], Mapping[str, Any]],
    extra: Mapping[str, str] | None = None,
) -> list[Cell]:
    """Every cell, strategy by strategy, seed by seed, the largest budget first (so smaller budgets replay
    its cached samples). ``common`` holds the identity fields shared by all cells (task, backend, ...);
    ``full_params(strategy, params)`` gives a strategy's complete parameters (validating them) and
    ``defaults(strategy)`` its default parameters."""
    cells = []
    for strategy in strategies:
        own = dict(fixed.get(strategy, {}))
        series_identity = {**common, "strategy": strategy, "fixed": own}
        if extra and extra.get(strategy, BUDGET_PARAM.get(strategy)) != BUDGET_PARAM.get(strategy):
            series_identity["budget_param"] = extra[strategy]  # only then, so other series keep their hashes
        series = config_hash(series_identity)
        label = _label(strategy, common.get("scorer"), own)
        for seed in seeds:
            for budget in sorted(budgets, reverse=True):
                params = budget_settings(strategy, budget, own, extra, defaults(strategy))
                identity = {**common, "strategy": strategy, "params": full_params(strategy, params), "seed": seed}
                cells.append(
                    Cell(
                        common["task"],
                        strategy,
                        budget,
                        seed,
                        params,
                        identity,
                        config_hash(identity),
                        series,
                        label,
                        own,
                    )
                )
    return cells


def uses_scorer(strategy: str, fixed: Mapping[str, Any]) -> bool:
    """Whether a series of ``strategy`` with the fixed parameters ``fixed`` can call the run's scorer: not when
    the strategy says it never does (``uses_scorer = False``) and no sampler strategy is fixed."""
    from ponder.catalog import make_registries  # local: the catalogue imports every strategy

    try:
        cls = make_registries().strategies.get(strategy)
    except ConfigError:
        return True  # a plugin not installed here: assume it does
    return bool(getattr(cls, "uses_scorer", True)) or bool(fixed.get("sampler"))


def _label(strategy: str, scorer: Any, fixed: Mapping[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in sorted(fixed.items())]
    if scorer and uses_scorer(strategy, fixed):
        parts.insert(0, f"scorer={scorer}")
    return f"{strategy} ({', '.join(parts)})" if parts else strategy


def drop_unused_scorer(strategy: str, label: str) -> str:
    """``label`` without its "scorer=..." part when the series cannot use a scorer (labels of records written
    before ``_label`` left it out)."""
    head = f"{strategy} (scorer="
    if not (label.startswith(head) and label.endswith(")")):
        return label
    rest = label[len(strategy) + 2 : -1].split(", ")[1:]
    if any(part.startswith("sampler=") for part in rest) or uses_scorer(strategy, {}):
        return label
    return f"{strategy} ({', '.join(rest)})" if rest else strategy
