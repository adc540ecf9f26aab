"""Run the app with uvicorn: in the foreground (``ponder serve``) or on a background thread (tests, benchmarks).

``InThread`` binds its own socket first, so port 0 gives a free port whose URL is known before the first
request; leaving the ``with`` block stops the server (running work is cancelled, see ``app``). Neither
closes the backend.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from ponder.server.app import create_app
from ponder.server.state import ServerState


def serve(state: ServerState, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve ``state`` until interrupted (Ctrl-C)."""
    uvicorn.run(create_app(state), host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10)


class InThread:
    """A server on a background thread: ``with InThread(state) as srv: srv.url`` (e.g. http://127.0.0.1:41234)."""

    def __init__(self, state: ServerState, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.state = state
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(create_app(state), log_level=log_level, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, name="ponder-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> InThread:
        self._thread.start()
        end = time.monotonic() + 10
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > end:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self._thread.join(15)
        self._sock.close()
