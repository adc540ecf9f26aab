"""A FakeBackend whose k-th call waits until the test lets it go, to observe the server mid-run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ponder.backends.fake import FakeBackend
from ponder.errors import BackendError
from ponder.types import Generation, SamplingParams

if TYPE_CHECKING:
    from ponder.server.runner import InThread

Start = Callable[..., "InThread"]
"""The ``start`` fixture of conftest.py: ``start(backend=None, **state_fields)`` -> a running server. Test
modules import it from here, not from ``conftest`` (another directory's conftest may hold that name)."""


class GatedBackend(FakeBackend):
    """Call number ``block_on`` (1-based) sets ``entered`` and waits for ``release`` (at most 20 s)."""

    def __init__(self, *args: Any, block_on: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.block_on = block_on
        self.entered = threading.Event()
        self.release = threading.Event()
        self._count = 0
        self._lock = threading.Lock()

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        with self._lock:
            self._count += 1
            number = self._count
        if number == self.block_on:
            self.entered.set()
            self.release.wait(20)
        return super().generate(prompts, params, n)


class DownBackend(FakeBackend):
    """Every call raises BackendError (``retryable`` as given), like a model server that is down."""

    def __init__(self, retryable: bool) -> None:
        super().__init__()
        self.retryable = retryable

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        raise BackendError("connection refused", retryable=self.retryable)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
