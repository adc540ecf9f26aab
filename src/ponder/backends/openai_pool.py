"""The OpenAI backend's request threads and its closed state.

``Workers.run_all`` runs callables on a thread pool started on first use (``concurrency`` at a time) and
returns their results in order; the first failure cancels what has not started, waits for what has, and
raises a BackendError whose ``spent`` holds the replies that came back. ``close`` stops the pool. Its lock
guards only the pool and the closed flag and is never held across a request, so ``close`` never waits on one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor

from ponder.backends.openai_wire import Reply, spent_of
from ponder.errors import BackendError

CLOSED = "this OpenAI backend is closed"


class Workers:
    """A lazily started thread pool for requests, and whether its backend is closed."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def run_all(self, fns: Sequence[Callable[[], Reply]]) -> list[Reply]:
        """Run ``fns`` (one in the caller's thread, several on the pool), results in order."""
        if len(fns) <= 1:
            return [fn() for fn in fns]
        with self._lock:
            if self._closed:
                raise BackendError(CLOSED)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="ponder-openai")
            pool = self._pool
        futures: list[Future[Reply]] = []
        try:
            futures += [pool.submit(fn) for fn in fns]
            return [f.result() for f in futures]
        except (CancelledError, RuntimeError) as exc:  # the pool was shut down: close() during the call
            if not self._closed:
                raise
            raise BackendError("this OpenAI backend was closed during the call", spent=spent_of(futures)) from exc
        except BackendError as exc:
            raise BackendError(str(exc), retryable=exc.retryable, spent=spent_of(futures)) from exc
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> bool:
        """Mark closed and stop the pool's threads; False when it was closed already."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            return True
