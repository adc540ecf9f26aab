"""The rule scorer: callables, "module:function" strings, ready-made rules, and its errors."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ponder.errors import BudgetExhausted, ConfigError, ScorerError
from ponder.scorers.rule import RuleScorer, has_answer
from ponder.types import Candidate, Problem

PROBLEM = Problem("What is 6 * 7?", id="q1")
CANDIDATES = [Candidate("It is \\boxed{42}.", "42"), Candidate("No idea.", None)]


def test_default_rule_is_has_answer() -> None:
    assert RuleScorer(None, None).score(PROBLEM, CANDIDATES) == [1.0, 0.0]
    assert RuleScorer(None, None, rule="has_answer").rule is has_answer


def test_a_callable_sees_problem_and_candidate() -> None:
    seen = []

    def rule(problem: Problem, candidate: Candidate) -> float:
        seen.append((problem.id, candidate.answer))
        return len(candidate.text) / 10

    assert RuleScorer(None, None, rule=rule).score(PROBLEM, CANDIDATES) == [1.7, 0.8]
    assert seen == [("q1", "42"), ("q1", None)]


def test_module_function_string_is_imported() -> None:
    scorer = RuleScorer(None, None, rule="ponder.scorers.rule:has_answer")
    assert scorer.score(PROBLEM, CANDIDATES) == [1.0, 0.0]
    assert RuleScorer(None, None, rule="math:isfinite").rule is math.isfinite


@pytest.mark.parametrize(
    ("rule", "match"),
    [
        ("no_such_module_xyz:f", "no_such_module_xyz"),
        ("math:no_such_function", "no_such_function"),
        ("math:pi", "not callable"),
        ("hasanswer", "built-in: has_answer"),
        (42, "42"),
    ],
)
def test_bad_rules_are_config_errors(rule: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RuleScorer(None, None, rule=rule)  # type: ignore[arg-type]


def test_a_failing_rule_is_a_scorer_error_with_the_cause_chained() -> None:
    def rule(problem: Problem, candidate: Candidate) -> float:
        return 1 / len(candidate.answer or "")

    with pytest.raises(ScorerError, match="failed on candidate 1") as info:
        RuleScorer(None, None, rule=rule).score(PROBLEM, CANDIDATES)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def _const(value: object) -> Any:
    return lambda problem, candidate: value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.5", None])
def test_non_finite_or_non_numbers_are_scorer_errors(value: object) -> None:
    with pytest.raises(ScorerError, match="finite number"):
        RuleScorer(None, None, rule=_const(value)).score(PROBLEM, CANDIDATES)


def test_bools_and_ints_become_floats() -> None:
    assert RuleScorer(None, None, rule=lambda p, c: c.answer == "42").score(PROBLEM, CANDIDATES) == [1.0, 0.0]
    assert RuleScorer(None, None, rule=lambda p, c: 3).score(PROBLEM, CANDIDATES[:1]) == [3.0]


def test_ponder_errors_pass_through() -> None:
    def rule(problem: Problem, candidate: Candidate) -> float:
        raise BudgetExhausted("out of tokens")

    with pytest.raises(BudgetExhausted):
        RuleScorer(None, None, rule=rule).score(PROBLEM, CANDIDATES)
