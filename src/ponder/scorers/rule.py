"""Rule-based scoring ("rule"): a plain Python function rates each candidate; no model is run.

A rule is ``rule(problem, candidate) -> float`` (higher is better): a callable, a ``"module:function"`` string
imported on construction, or the name of a ready-made rule in ``RULES`` (default ``"has_answer"``). Rules see
blind problems only (no reference answer), like every scorer. A rule that raises, or returns anything but a
finite number, makes the scorer raise ScorerError naming the candidate (the rule's own exception is chained);
ponder's own errors raised inside a rule (a budget running out, a backend failing) pass through unchanged.

``load_callable`` (used for ``"module:function"`` strings) is shared with ``ponder.guardrails``.
"""

from __future__ import annotations

import importlib
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ponder.errors import ConfigError, PonderError, ScorerError
from ponder.types import Candidate, Problem

__all__ = ["RULES", "Rule", "RuleScorer", "has_answer", "load_callable"]

Rule = Callable[[Problem, Candidate], float]


def has_answer(problem: Problem, candidate: Candidate) -> float:
    """1.0 when an answer could be extracted from the candidate, else 0.0 (prefer non-abstentions)."""
    return 0.0 if candidate.answer is None else 1.0


RULES: Mapping[str, Rule] = {"has_answer": has_answer}
"""Ready-made rules, by name."""


def load_callable(spec: Any, who: str, builtins: Mapping[str, Callable[..., Any]] | None = None) -> Callable[..., Any]:
    """``spec`` itself when callable, else the function a ``"module:function"`` string names (dots allowed
    after the colon), else a name from ``builtins``. ConfigError when it cannot be found or is not callable."""
    if callable(spec):
        return spec
    known = dict(builtins or {})
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"{who} must be a callable or a 'module:function' string, got {spec!r}")
    if ":" not in spec:
        if spec in known:
            return known[spec]
        names = f"; built-in: {', '.join(sorted(known))}" if known else ""
        raise ConfigError(f"{who} {spec!r} is not a 'module:function' string{names}")
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{who} {spec!r} cannot be imported: {exc}") from exc
    if not callable(obj):
        raise ConfigError(f"{who} {spec!r} is not callable: {obj!r}")
    return obj  # type: ignore[no-any-return]


def _label(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


class RuleScorer:
    """Scores candidates with a rule function.

    Args:
        backend: unused.
        task: unused.
        rule: a callable ``(problem, candidate) -> float``, a ``"module:function"`` string, or a name in
            ``RULES`` (default ``"has_answer"``).
    """

    name: str = "rule"
    needs_logprobs: bool = False

    def __init__(self, backend: Any = None, task: Any = None, *, rule: Rule | str = "has_answer") -> None:
        self.rule: Rule = load_callable(rule, "rule", RULES)
        self.label = _label(self.rule)

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        """The rule's score of each candidate (validated: a finite number)."""
        return [self._score_one(problem, i, c) for i, c in enumerate(candidates)]

    def _score_one(self, problem: Problem, index: int, candidate: Candidate) -> float:
        try:
            value = self.rule(problem, candidate)
        except PonderError:
            raise
        except Exception as exc:
            raise ScorerError(f"rule {self.label!r} failed on candidate {index}: {exc!r}") from exc
        if isinstance(value, bool):
            return float(value)
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ScorerError(f"rule {self.label!r} must return a finite number, got {value!r} for candidate {index}")
        return float(value)

    def __repr__(self) -> str:
        return f"RuleScorer(rule={self.label!r})"
