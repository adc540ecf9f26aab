"""ponder: test-time scaling for language models.

Spend more compute at inference (breadth, depth, search) and measure what it buys. The public API:
``solve``, ``load_backend``, ``get_strategy``, ``get_task``, the core types and the errors.
"""

from ponder.api import get_strategy, get_task, load_backend, solve
from ponder.budget import Budget
from ponder.errors import (
    BackendError,
    BudgetExhausted,
    ConfigError,
    ModelError,
    PonderError,
    ScorerError,
    StrategyError,
    TaskError,
)
from ponder.types import Candidate, Completion, Message, Problem, Result, SamplingParams, Usage

__all__ = [
    "BackendError",
    "Budget",
    "BudgetExhausted",
    "Candidate",
    "Completion",
    "ConfigError",
    "Message",
    "ModelError",
    "PonderError",
    "Problem",
    "Result",
    "SamplingParams",
    "ScorerError",
    "StrategyError",
    "TaskError",
    "Usage",
    "get_strategy",
    "get_task",
    "load_backend",
    "solve",
]
