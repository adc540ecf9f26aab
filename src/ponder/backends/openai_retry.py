"""Retries and error translation for the OpenAI-compatible backend.

Every request of ``OpenAIBackend`` runs through ``call_with_retries``: transient failures (connection errors,
timeouts, HTTP 408/409/429/5xx) are retried with exponential backoff plus jitter, honouring the server's
``Retry-After`` / ``retry-after-ms`` headers and its ``x-should-retry`` verdict (as the openai client does:
a ponder server says "false" for its 504 timeouts and permanent 502s, where a retry would only burn the same
work again); whatever still fails becomes an ``OpenAIBackendError`` (a ``BackendError``) carrying the HTTP
status and the server's own message. The openai client's built-in
retries are switched off so that this is the one place that retries. This module builds no requests and
parses no replies (see ``openai_wire``).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import openai

from ponder.errors import BackendError, ConfigError

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 409, 429})
"""HTTP statuses worth retrying, besides every 5xx."""
MAX_RETRY_AFTER = 60.0
"""Longest wait, in seconds, accepted from a server's Retry-After header."""


class OpenAIBackendError(BackendError):
    """A request to an OpenAI-compatible server failed. ``status`` is the HTTP status (None: no response)."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry transient failures."""

    max_retries: int = 4
    """Retries after the first attempt (0 = try once)."""
    backoff: float = 0.5
    """Delay before the first retry, in seconds; doubles on every further retry."""
    max_backoff: float = 8.0
    """Cap on the exponential delay, in seconds."""

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ConfigError(f"backoff and max_backoff must be >= 0, got {self.backoff!r}, {self.max_backoff!r}")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based). A server's Retry-After wins."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        base = min(self.max_backoff, self.backoff * 2**attempt)
        return base * (0.5 + random.random() / 2)  # "equal jitter": spread retries of concurrent requests


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same request again may succeed."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        verdict = exc.response.headers.get("x-should-retry", "").strip().lower()
        if verdict in ("true", "false"):
            return verdict == "true"
        return exc.status_code in TRANSIENT_STATUS or exc.status_code >= 500
    return False


def retry_after(exc: BaseException) -> float | None:
    """The wait a server asked for in its Retry-After (or retry-after-ms) header, in seconds, if any."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    return parse_retry_after(exc.response.headers)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Parse ``retry-after-ms`` (milliseconds) or ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def server_message(exc: openai.APIError) -> str:
    """The server's own error message (OpenAI ``{"error": {"message": ...}}`` or vLLM-style bodies)."""
    body = exc.body
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
    if isinstance(body, str) and body.strip():
        return body.strip()
    return exc.message


def to_backend_error(exc: openai.APIError, what: str, attempts: int) -> OpenAIBackendError:
    """A typed BackendError for a failed request, after ``attempts`` tries."""
    status = getattr(exc, "status_code", None)
    transient = is_transient(exc)
    tries = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if transient else ""
    where = f"HTTP {status}" if status is not None else type(exc).__name__
    message = f"{what} failed{tries} ({where}): {server_message(exc)}"
    return OpenAIBackendError(message, retryable=transient, status=status)


def call_with_retries(
    fn: Callable[[], T], policy: RetryPolicy, what: str, *, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Call ``fn``, retrying transient openai errors per ``policy``; raise OpenAIBackendError when done."""
    attempt = 0
    while True:
        try:
            return fn()
        except openai.APIError as exc:
            if not is_transient(exc) or attempt >= policy.max_retries:
                raise to_backend_error(exc, what, attempt + 1) from exc
            sleep(policy.delay(attempt, retry_after(exc)))
            attempt += 1
