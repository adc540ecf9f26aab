"""ponder's OpenAI-compatible server (optional extra ``server``: FastAPI + uvicorn).

``create_app(ServerState(backend, ...))`` builds the app; ``ponder serve`` runs it with uvicorn. Modules:
``app`` (routes), ``schemas`` (wire format), ``routing`` (model string -> strategy), ``chat`` and
``completions`` (the two endpoints' logic), ``streaming`` (SSE), ``worker`` (cancellable work threads),
``limits`` (concurrency gate), ``inbound`` (API key, body size, JSON), ``errors`` (OpenAI-style errors),
``state`` (what one server holds). Nothing is configured at module level.
"""

from __future__ import annotations

from ponder.server.app import create_app
from ponder.server.state import Limits, ServerState

__all__ = ["Limits", "ServerState", "create_app"]
