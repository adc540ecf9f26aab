"""The concurrency gate: at most ``max_active`` requests run, at most ``max_queue`` wait, the rest get 429.

A request ``enter``s the gate on the event loop and gets a ``Slot``; the slot is released from the worker
thread when the request's work ends (``Slot.release`` is thread-safe and idempotent). Waiting counts
towards the request's timeout: a request still queued at its deadline gets 504. This module does not run
work; see ``worker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from ponder.server.errors import APIError

RETRY_AFTER_BUSY = "1"
"""Seconds a client is asked to wait after a 429."""


class Gate:
    """Counts running and queued requests. Use from one event loop; release from any thread."""

    def __init__(self, max_active: int, max_queue: int) -> None:
        self.max_active = max_active
        self.max_queue = max_queue
        self.active = 0
        self.waiting = 0
        self._sem: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def enter(self, timeout: float) -> Slot:
        """A slot, after waiting at most ``timeout`` seconds; 429 when the queue is full, 504 on timeout."""
        if self._sem is None:
            self._sem, self._loop = asyncio.Semaphore(self.max_active), asyncio.get_running_loop()
        if self._sem.locked() and self.waiting >= self.max_queue:
            raise APIError(
                429,
                f"server busy: {self.active} requests running and {self.waiting} queued; retry later",
                "rate_limit_error",
                None,
                "server_busy",
                {"Retry-After": RETRY_AFTER_BUSY},
            )
        self.waiting += 1
        try:
            async with asyncio.timeout(timeout):
                await self._sem.acquire()
        except TimeoutError:
            raise APIError(504, f"timed out after {timeout:g}s waiting in the queue", "timeout_error") from None
        finally:
            self.waiting -= 1
        self.active += 1
        assert self._loop is not None
        return Slot(self, self._loop)

    def _leave(self) -> None:
        self.active -= 1
        assert self._sem is not None
        self._sem.release()


class Slot:
    """One admitted request's place in the gate."""

    def __init__(self, gate: Gate, loop: asyncio.AbstractEventLoop) -> None:
        self._gate, self._loop = gate, loop
        self._lock = threading.Lock()
        self._released = False

    def release(self) -> None:
        """Give the place back (from any thread; a second call does nothing)."""
        with self._lock:
            if self._released:
                return
            self._released = True
        with contextlib.suppress(RuntimeError):  # a closed loop: the server has stopped, nothing to admit
            self._loop.call_soon_threadsafe(self._gate._leave)
