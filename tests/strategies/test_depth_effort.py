"""Reasoning effort: documented budgets per strategy, explicit parameters win, nested samplers follow."""

from __future__ import annotations

import pytest

from ponder.api import get_strategy
from ponder.catalog import STRATEGIES, make_registries
from ponder.errors import ConfigError, PonderError
from ponder.strategies.effort import EFFORT_BUDGETS, EFFORT_LEVELS, apply_effort, effort_budget


def test_levels_map_to_budgets():
    assert EFFORT_LEVELS == ("low", "medium", "high")
    assert [apply_effort("self_consistency", level, {})["n"] for level in EFFORT_LEVELS] == [1, 4, 16]
    assert apply_effort("budget_forcing", "medium", {}) == {"max_thinking": 1024, "min_thinking": 256, "wait": 1}


def test_explicit_parameters_win():
    assert apply_effort("self_consistency", "high", {"n": 3, "temperature": 0.5}) == {"n": 3, "temperature": 0.5}
    assert apply_effort("budget_forcing", "high", {"max_thinking": 100, "min_thinking": 10}) == {
        "max_thinking": 100,
        "min_thinking": 10,
        "wait": 2,
    }


def test_a_users_max_thinking_caps_the_levels_minimum():
    params = apply_effort("budget_forcing", "high", {"max_thinking": 40})
    assert params == {"max_thinking": 40, "min_thinking": 40, "wait": 2}
    get_strategy("budget_forcing", **params)


def test_revisions_split_is_kept_whole():
    assert get_strategy("revisions", **apply_effort("revisions", "high", {})).parallel == 8
    assert apply_effort("revisions", "high", {"n": 8}) == {"n": 8}, "a user's n is not mixed with the level's split"


def test_nested_strategies_get_the_same_level():
    params = apply_effort("self_consistency", "low", {"sampler": {"strategy": "budget_forcing", "wait": 3}})
    assert params == {
        "n": 1,
        "sampler": {"strategy": "budget_forcing", "max_thinking": 256, "min_thinking": 0, "wait": 3},
    }
    strategy = get_strategy("self_consistency", **params)
    assert strategy.sampler.max_thinking == 256  # type: ignore[attr-defined]


def test_strategies_without_an_entry_are_unchanged():
    assert apply_effort("cot", "high", {"few_shot": 2}) == {"few_shot": 2}
    assert effort_budget("cot", "low") == {}


def test_unknown_level_is_refused():
    with pytest.raises(ConfigError, match="effort must be one of low, medium, high, got 'max'"):
        apply_effort("self_consistency", "max", {})


def test_every_entry_names_a_registered_strategy():
    assert set(EFFORT_BUDGETS) <= set(STRATEGIES)


@pytest.mark.parametrize("name", sorted(EFFORT_BUDGETS))
@pytest.mark.parametrize("level", EFFORT_LEVELS)
def test_every_level_builds_a_valid_strategy(name, level):
    try:
        make_registries().strategies.get(name)
    except (PonderError, ImportError):
        pytest.skip(f"{name} is not importable yet")
    get_strategy(name, **apply_effort(name, level, {}))


@pytest.mark.parametrize(
    ("level", "mine", "split"),
    [
        ("high", {"parallel": 2}, (64, 2, 32)),
        ("high", {"sequential": 8}, (64, 8, 8)),
        ("high", {"parallel": 2, "sequential": 3}, (6, 2, 3)),
        ("medium", {"parallel": 3}, (15, 3, 5)),  # 16 does not divide by 3: the nearest whole split
        ("medium", {"sequential": 3}, (15, 5, 3)),
        ("low", {"sequential": 8}, (8, 1, 8)),  # more attempts than the level's n: one chain of them
    ],
)
def test_a_partial_revisions_split_keeps_about_the_levels_total(level, mine, split):
    r = get_strategy("revisions", **apply_effort("revisions", level, mine))
    assert (r.n, r.parallel, r.sequential) == split


def test_a_users_min_thinking_raises_the_levels_maximum():
    b = get_strategy("budget_forcing", **apply_effort("budget_forcing", "medium", {"min_thinking": 2000}))
    assert (b.min_thinking, b.max_thinking) == (2000, 2000)
