"""What one server instance holds: the backend, the registries, its limits, and the work in flight.

``create_app(state)`` serves exactly one ``ServerState``; nothing lives at module level, so several
servers (tests, a benchmark) can run in one process. The state owns neither the backend's lifetime nor
a thread pool: the caller closes the backend after the server stops; each request's work runs on a
thread of its own (see ``worker``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ponder.backends.base import Backend
from ponder.catalog import Registries, make_registries
from ponder.errors import ConfigError
from ponder.server.limits import Gate
from ponder.types import SamplingParams


@dataclass(frozen=True)
class Limits:
    """Admission and size limits. Validated on construction; errors show the bad value."""

    max_concurrency: int = 4
    """Requests whose strategies run at once."""
    max_queue: int = 16
    """Requests that may wait for a running slot; beyond that a request gets 429 with Retry-After."""
    timeout: float = 600.0
    """Seconds a request may take, queueing included; then its work is cancelled and it gets 504."""
    max_body_bytes: int = 1_048_576
    """Largest request body accepted; larger gets 413."""
    max_n: int = 16
    """Largest ``n`` (choices per request) accepted."""

    def __post_init__(self) -> None:
        for name in ("max_concurrency", "max_body_bytes", "max_n"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.max_queue, int) or self.max_queue < 0:
            raise ConfigError(f"max_queue must be an integer >= 0, got {self.max_queue!r}")
        if not self.timeout > 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {self.timeout!r}")


@dataclass
class ServerState:
    """Everything a server instance serves with."""

    backend: Backend
    """The one backend every request shares (it must be safe to call from several threads)."""
    limits: Limits = field(default_factory=Limits)
    api_key: str | None = None
    """When set, every ``/v1`` request needs ``Authorization: Bearer <api_key>``."""
    task: str = "math"
    """Task that prompts the model and extracts answers, unless a request names another."""
    default_strategy: str = "self_consistency"
    """Strategy used when a request asks for ponder (a ``ponder`` field or ``reasoning_effort``) but names none."""
    default_scorer: str = "judge"
    """Scorer given to strategies that cannot run without one, when the request names none."""
    params: SamplingParams = field(default_factory=SamplingParams)
    """Sampling defaults for what a request leaves out (temperature, max_tokens)."""
    registries: Registries = field(default_factory=make_registries)
    model_id: str = ""
    """The base model's id as listed by ``/v1/models``; default: the backend's ``model``."""
    gate: Gate = field(init=False)
    live: set[Any] = field(init=False, default_factory=set)
    """Jobs whose threads are running (see ``worker.Job``)."""

    def __post_init__(self) -> None:
        self.model_id = self.model_id or self.backend.model
        self.gate = Gate(self.limits.max_concurrency, self.limits.max_queue)
