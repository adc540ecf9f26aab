"""Validation helpers for search strategy parameters: errors name the strategy, the field and the bad value."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ponder.errors import ConfigError


def int_at_least(who: str, field: str, value: object, low: int) -> None:
    """ConfigError unless ``value`` is an integer >= ``low`` (booleans are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{who} {field} must be an integer >= {low}, got {value!r}")


def one_of(who: str, field: str, value: object, choices: Sequence[str]) -> None:
    """ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{who} {field} must be one of {', '.join(choices)}; got {value!r}")


def number(who: str, field: str, value: object, low: float | None = None) -> None:
    """ConfigError unless ``value`` is a finite real number (>= ``low`` when given)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or (low is not None and value < low)
    ):
        bound = "" if low is None else f" >= {low}"
        raise ConfigError(f"{who} {field} must be a finite number{bound}, got {value!r}")
