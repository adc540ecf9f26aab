"""Admission checks on a request before any work: the API key, the body size, and parsing the JSON body.

The body is read and validated here rather than by FastAPI's own body handling, so that every failure
has an OpenAI-style error: 401 for a missing or wrong key (with ``WWW-Authenticate: Bearer``), 413 for a
body over the limit (checked against ``Content-Length`` and again while reading, for chunked bodies),
400 for malformed JSON or a field that fails validation (``param`` names the field).
"""

from __future__ import annotations

import hmac
import json
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from ponder.server.errors import APIError, bad_request, validation_error

M = TypeVar("M", bound=BaseModel)


def check_key(request: Request, api_key: str | None) -> None:
    """401 unless the request carries ``Authorization: Bearer <api_key>`` (no check when api_key is None)."""
    if api_key is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    if not hmac.compare_digest(given.strip().encode(), api_key.encode()):
        raise _unauthorized("incorrect API key provided")


def _unauthorized(message: str) -> APIError:
    return APIError(401, message, "invalid_request_error", None, "invalid_api_key", {"WWW-Authenticate": "Bearer"})


async def read_json(request: Request, model: type[M], limit: int) -> M:
    """The body, at most ``limit`` bytes, parsed as JSON and validated as ``model``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise _too_large(limit)
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise bad_request(f"malformed JSON in the request body: {exc}", None, "invalid_json") from None
    if not isinstance(data, dict):
        raise bad_request(f"the request body must be a JSON object, got {type(data).__name__}", None, "invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(list(exc.errors())) from None


def _too_large(limit: int) -> APIError:
    return APIError(413, f"request body exceeds the limit of {limit} bytes", "invalid_request_error", None, "too_large")
