"""OpenAI-style error responses: ``{"error": {"message", "type", "param", "code"}}`` with the right status.

``APIError`` is what the server's own code raises for a bad request or a refusal (401, 404, 413, 429, 504).
``from_exception`` maps ponder's typed errors onto statuses: a ConfigError or TaskError is the client's
mistake (400); a BackendError is the model server's failure (503 with ``Retry-After`` when retrying may
help, else 502); a timeout is 504. Server failures carry ``x-should-retry`` (the openai client's convention):
"false" for 502 and 504, where a retry would only repeat the same failure or the same long work. Anything
else is a 500 whose details stay in the server log. ``install`` registers handlers so that every error,
including FastAPI's own (unknown route, wrong method), has that body.
This module does not decide what is an error; the routes do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ponder.errors import BackendError, BudgetExhausted, ConfigError, PonderError, StrategyError, TaskError
from ponder.server.worker import Cancelled

log = logging.getLogger("ponder.server")

RETRY_AFTER_BACKEND = "2"
"""Seconds a client is asked to wait after a transient backend failure (503)."""
NO_RETRY = MappingProxyType({"x-should-retry": "false"})
"""Headers of a failure that the same request would only repeat."""


@dataclass
class APIError(Exception):
    """An error answered with ``status`` and an OpenAI-style body."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Top-level fields beside ``error`` (e.g. ``ponder``: the work a failed request finished first)."""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        return {"error": error, **self.extra}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=dict(self.headers))


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def from_exception(exc: BaseException) -> APIError:
    """The APIError that answers ``exc`` (a StrategyError is judged by the error that caused it)."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, StrategyError) and isinstance(exc.__cause__, PonderError):
        return from_exception(exc.__cause__)
    if isinstance(exc, ConfigError | TaskError):
        return APIError(400, str(exc), code="invalid_parameter")
    if isinstance(exc, BudgetExhausted):
        return APIError(400, str(exc), code="budget_exhausted")
    if isinstance(exc, BackendError):
        message = f"backend failed: {exc}"
        if exc.retryable:
            retry = {"Retry-After": RETRY_AFTER_BACKEND, "x-should-retry": "true"}
            return APIError(503, message, "server_error", None, "backend_unavailable", retry)
        return APIError(502, message, "server_error", None, "backend_error", NO_RETRY)
    if isinstance(exc, Cancelled):
        return APIError(504, f"request cancelled: {exc}", "timeout_error", None, "cancelled", NO_RETRY)
    log.error("internal error", exc_info=(type(exc), exc, exc.__traceback__))
    return APIError(500, f"internal server error ({type(exc).__name__})", "server_error", None, "internal_error")


def validation_error(errors: list[Any]) -> APIError:
    """A 400 for a pydantic validation failure: the first problem, with its field path as ``param``."""
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    missing = first.get("type") == "missing"
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
    return bad_request(message, param, "missing_required_parameter" if missing else "invalid_value")


def install(app: FastAPI) -> None:
    """Answer every error the app can raise with an OpenAI-style body."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        return from_exception(exc).response()

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return APIError(exc.status_code, str(exc.detail), kind, None, None, exc.headers or {}).response()

    app.add_exception_handler(APIError, api_error)
    app.add_exception_handler(PonderError, api_error)
    app.add_exception_handler(Cancelled, api_error)  # answered, not re-raised as a crash (as Exception is)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, api_error)
