"""Reasoning effort: ``low | medium | high`` mapped to documented budgets per strategy.

Used by the CLI's ``--effort`` and the server's OpenAI-style ``reasoning_effort``. ``apply_effort`` fills in
a strategy's budget parameters for a level; parameters the user gave explicitly always win. A nested
sampler or initial strategy given as ``{"strategy": name, ...}`` gets the same level. Strategies without
an entry (e.g. cot) are returned unchanged, and keys a strategy does not take are skipped, so entries for
strategies still being written cannot break a run.

| strategy          | low                    | medium                    | high                       |
|-------------------|------------------------|---------------------------|----------------------------|
| self_consistency  | n=1                    | n=4                       | n=16                       |
| best_of_n         | n=2                    | n=4                       | n=16                       |
| mixed             | n=2                    | n=6                       | n=12                       |
| self_refine       | rounds=1               | rounds=2                  | rounds=4                   |
| reflexion         | attempts=2             | attempts=3                | attempts=5                 |
| deliberate        | passes=1               | passes=2                  | passes=3                   |
| revisions         | n=4, sequential=2      | n=16, sequential=4        | n=64, sequential=8         |
| budget_forcing    | max=256, min=0, wait=0 | max=1024, min=256, wait=1 | max=4096, min=1024, wait=2 |
| beam_search       | n=4, beam_width=2      | n=8, beam_width=4         | n=16, beam_width=4         |
| lookahead         | n=4, beam_width=2      | n=8, beam_width=4         | n=16, beam_width=4         |
| tree_of_thought   | breadth=2              | breadth=3                 | breadth=5                  |
| forest_of_thought | trees=2                | trees=3                   | trees=5                    |
| mcts              | simulations=8          | simulations=32            | simulations=128            |

mixed keeps its ``first`` (4 program-aided samples by default): low is program-aided only, medium and high
add 2 and 8 reasoning samples. As a sampler its ``n`` is unused (the composing strategy's budget counts).
budget_forcing: max = max_thinking, min = min_thinking (tokens).
Revisions splits n as sqrt(N) x sqrt(N)-ish (Snell et al. found the best ratio depends on difficulty).
The search-strategy rows (beam_search and below) are first guesses, to be tuned by their authors; a key
their class does not take is skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ponder.errors import ConfigError, PonderError

EFFORT_LEVELS: tuple[str, ...] = ("low", "medium", "high")
"""The levels, cheapest first."""


def _levels(low: dict[str, Any], medium: dict[str, Any], high: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"low": low, "medium": medium, "high": high}


EFFORT_BUDGETS: Mapping[str, Mapping[str, Mapping[str, Any]]] = {
    "self_consistency": _levels({"n": 1}, {"n": 4}, {"n": 16}),
    "best_of_n": _levels({"n": 2}, {"n": 4}, {"n": 16}),
    "mixed": _levels({"n": 2}, {"n": 6}, {"n": 12}),
    "self_refine": _levels({"rounds": 1}, {"rounds": 2}, {"rounds": 4}),
    "reflexion": _levels({"attempts": 2}, {"attempts": 3}, {"attempts": 5}),
    "deliberate": _levels({"passes": 1}, {"passes": 2}, {"passes": 3}),
    "revisions": _levels(
        {"n": 4, "sequential": 2, "parallel": None},
        {"n": 16, "sequential": 4, "parallel": None},
        {"n": 64, "sequential": 8, "parallel": None},
    ),
    "budget_forcing": _levels(
        {"max_thinking": 256, "min_thinking": 0, "wait": 0},
        {"max_thinking": 1024, "min_thinking": 256, "wait": 1},
        {"max_thinking": 4096, "min_thinking": 1024, "wait": 2},
    ),
    "beam_search": _levels({"n": 4, "beam_width": 2}, {"n": 8, "beam_width": 4}, {"n": 16, "beam_width": 4}),
    "lookahead": _levels({"n": 4, "beam_width": 2}, {"n": 8, "beam_width": 4}, {"n": 16, "beam_width": 4}),
    "tree_of_thought": _levels({"breadth": 2}, {"breadth": 3}, {"breadth": 5}),
    "forest_of_thought": _levels({"trees": 2}, {"trees": 3}, {"trees": 5}),
    "mcts": _levels({"simulations": 8}, {"simulations": 32}, {"simulations": 128}),
}
"""Budget parameters per strategy and level (see the module docstring's table)."""


def effort_budget(strategy_name: str, level: str) -> dict[str, Any]:
    """The budget parameters ``level`` sets for ``strategy_name`` ({} when it has no entry)."""
    if level not in EFFORT_LEVELS:
        raise ConfigError(f"effort must be one of {', '.join(EFFORT_LEVELS)}, got {level!r}")
    return dict(EFFORT_BUDGETS.get(strategy_name, {}).get(level, {}))


def apply_effort(strategy_name: str, level: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with ``level``'s budget for ``strategy_name`` filled in; explicit params win.

    Nested strategies given as ``{"strategy": name, ...}`` (samplers, an initial strategy) get the same
    level. Budget keys the strategy's class does not take are skipped.

    >>> apply_effort("self_consistency", "high", {})
    {'n': 16}
    >>> apply_effort("self_consistency", "high", {"n": 3})
    {'n': 3}
    """
    budget = effort_budget(strategy_name, level)
    known = _fields(strategy_name)
    if known is not None:
        budget = {k: v for k, v in budget.items() if k in known}
    out = {**_reconcile(strategy_name, budget, params), **params}
    for key, value in params.items():
        if isinstance(value, Mapping) and "strategy" in value:
            inner = {k: v for k, v in value.items() if k != "strategy"}
            out[key] = {"strategy": value["strategy"], **apply_effort(str(value["strategy"]), level, inner)}
    return out


def _reconcile(strategy_name: str, budget: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The level's budget adjusted so it cannot clash with what the user set explicitly."""
    if strategy_name == "revisions" and {"n", "sequential", "parallel"} & set(params):
        rest = {k: v for k, v in budget.items() if k not in ("n", "sequential", "parallel")}
        return {**rest, **_split(budget, params)}
    if strategy_name == "budget_forcing" and "min_thinking" in budget:
        top = params.get("max_thinking", budget.get("max_thinking"))
        if isinstance(top, int):
            budget = {**budget, "min_thinking": min(budget["min_thinking"], top)}
        low = params.get("min_thinking")
        if isinstance(low, int) and "max_thinking" not in params and isinstance(top, int) and low > top:
            budget = {**budget, "max_thinking": low}  # the user's floor wins over the level's ceiling
    return budget


def _split(budget: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """revisions: about the level's total n, split as the user's fixed fields say: the other factor is
    n / the given one, rounded (at least 1), and n their product (the user's n wins outright)."""
    if "n" in params:
        return {}
    if "parallel" in params and "sequential" in params:
        return {"n": None}  # n = parallel x sequential
    given = "parallel" if "parallel" in params else "sequential"
    other = "sequential" if given == "parallel" else "parallel"
    fixed = params[given]
    if not isinstance(fixed, int) or isinstance(fixed, bool) or fixed < 1:
        return {"n": budget["n"], other: None}  # revisions names the bad value
    factor = max(1, round(budget["n"] / fixed))
    return {"n": fixed * factor, other: factor}


def _fields(strategy_name: str) -> set[str] | None:
    """The parameter names of a strategy, or None when its class cannot be loaded (yet)."""
    from ponder.catalog import make_registries  # local: catalog imports nothing from here, avoid a cycle

    try:
        cls = make_registries().strategies.get(strategy_name)
    except (PonderError, ImportError):
        return None
    return {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else None
