"""Run one request's work on its own thread, cancellably.

A strategy is synchronous and may run for minutes, so each request runs it on a thread of its own
(``Job``), named ``ponder-request-<id>``. Cancellation is cooperative: a ``CancelToken`` is checked by the
``Cancellable`` backend view before and after every backend call and by the progress callback, so a
cancelled run stops at its next check and makes no further backend calls (a call already in flight
finishes first; a backend cannot be interrupted mid-call). The job releases its concurrency slot when its
thread ends, not when the response ends, so abandoned work still counts against the limit until it stops.
This module knows nothing of HTTP.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Generic, Protocol, TypeVar

from ponder.backends.base import Backend
from ponder.types import Generation, Message, SamplingParams

T = TypeVar("T")


class Cancelled(Exception):
    """The request's work was cancelled (client gone, timed out, server stopping). Not a PonderError, so
    no strategy mistakes it for a failure it may recover from."""


class CancelToken:
    """A thread-safe cancel flag with the reason it was set."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise Cancelled if the token was cancelled."""
        if self._event.is_set():
            raise Cancelled(self.reason)


class Cancellable:
    """A Backend view that refuses to start, or to hand back, a call once its token is cancelled."""

    def __init__(self, backend: Backend, token: CancelToken) -> None:
        self.inner = backend
        self.token = token
        self.name = backend.name
        self.model = backend.model
        self.capabilities = backend.capabilities
        self.n_params = backend.n_params

    def render(self, messages: Sequence[Message]) -> str:
        return self.inner.render(messages)

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        self.token.check()
        out = self.inner.generate(prompts, params, n)
        self.token.check()
        return out

    def close(self) -> None:
        """Nothing: the shared backend belongs to the server, not to one request."""


class Releasable(Protocol):
    def release(self) -> None: ...


class Job(Generic[T]):
    """``fn(token)`` on a new thread; its outcome lands in ``future``. ``live`` holds the jobs running."""

    def __init__(self, fn: Callable[[CancelToken], T], slot: Releasable, live: set[Any]) -> None:
        self.token = CancelToken()
        self.future: Future[T] = Future()
        self.thread = threading.Thread(target=self._run, name=f"ponder-request-{id(self):x}", daemon=True)
        self._fn, self._slot, self._live = fn, slot, live

    def start(self) -> Job[T]:
        self._live.add(self)
        try:
            self.thread.start()
        except BaseException:
            self._live.discard(self)
            self._slot.release()
            raise
        return self

    def _run(self) -> None:
        try:
            self.future.set_result(self._fn(self.token))
        except BaseException as exc:
            self.future.set_exception(exc)
        finally:
            self._live.discard(self)
            self._slot.release()

    async def result(self, deadline: float, disconnected: Callable[[], Any] | None = None) -> T:
        """The outcome, awaited until ``deadline`` (loop time); cancels the work on timeout, on a client
        disconnect (polled through ``disconnected``) or when the awaiting task itself is cancelled."""
        loop = asyncio.get_running_loop()
        waiter = asyncio.wrap_future(self.future)
        try:
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    self.token.cancel("timed out")
                    raise Cancelled("timed out")
                done, _ = await asyncio.wait({waiter}, timeout=min(0.25, remaining))
                if done:
                    return waiter.result()
                if disconnected is not None and await disconnected():
                    self.token.cancel("client disconnected")
                    raise Cancelled("client disconnected")
        except asyncio.CancelledError:
            self.token.cancel("request task cancelled")
            raise
        finally:
            # nobody awaits the outcome of abandoned work: retrieve it, so asyncio does not log it as lost
            waiter.add_done_callback(lambda f: f.cancelled() or f.exception())


class Ticker:
    """The progress callback of a run: checks the token, counts finished units and, if given, passes
    (done, total) to ``notify`` (called on the worker thread)."""

    def __init__(self, token: CancelToken, total: int, notify: Callable[[int, int], None] | None = None) -> None:
        self.token, self.total, self.notify = token, total, notify
        self.done = 0

    def __call__(self, units: int) -> None:
        self.token.check()
        self.done += units
        self.total = max(self.total, self.done)
        if self.notify is not None:
            self.notify(self.done, self.total)
