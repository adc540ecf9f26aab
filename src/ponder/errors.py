"""Typed exceptions. Every error ponder raises on purpose is a PonderError with a message for a person."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class PonderError(Exception):
    """Base class of ponder's errors."""


class ConfigError(PonderError, ValueError):
    """A bad name, parameter or configuration value. The message shows the bad value."""


class BackendError(PonderError):
    """A backend failed. ``retryable`` says whether trying again may help; ``spent`` holds the generations
    (``ponder.types.Generation``) it finished and paid for before failing, so that metering can charge them."""

    def __init__(self, message: str, *, retryable: bool = False, spent: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.spent = tuple(spent)


class BudgetExhausted(PonderError):
    """A compute budget cap was reached. ``partial`` holds whatever was computed before it."""

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial


class ScorerError(PonderError):
    """A scorer could not score."""


class TaskError(PonderError):
    """A task could not load or read a problem (bad file, malformed row)."""


class ModelError(PonderError):
    """A model could not be fetched, verified or loaded."""


class StrategyError(PonderError):
    """A strategy failed part-way. ``partial`` holds the results computed before the failure."""

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial
