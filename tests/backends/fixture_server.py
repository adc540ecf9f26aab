"""A small, real OpenAI-compatible HTTP server for tests (stdlib only, background thread, 127.0.0.1, port 0).

Serves ``GET /v1/models``, ``POST /v1/completions`` and ``POST /v1/chat/completions``. Replies are pure
functions of (prompt, seed, choice index) (see ``reply_text``), so tests can compute what to expect and check
determinism. Tokens are whitespace-led pieces, as in the fake backend. ``Knobs`` make it misbehave the ways
real servers do; ``requests``, ``count`` and ``max_in_flight`` record what it received.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

_TOKEN = re.compile(r"\s*\S+|\s+")
MAX_STOPS = 4


@dataclass
class Knobs:
    """How the server behaves. Change fields at any time; handlers read them per request."""

    fail_first: int = 0
    """The first K POST requests fail with ``fail_status``."""
    fail_status: int = 503
    retry_after: str | None = "0"
    """Retry-After header sent with those failures (None: no header)."""
    should_retry: str | None = None
    """x-should-retry header sent with those failures (None: no header)."""
    error_400: str | None = None
    """When set, every POST gets HTTP 400 with this message in an OpenAI-style error body."""
    n: Literal["ok", "reject", "ignore"] = "ok"
    """n > 1: honour it, reply 400 "n>1 not supported", or silently return one choice."""
    logprobs: Literal["ok", "reject", "ignore"] = "ok"
    completions: bool = True
    """False: /v1/completions answers 404."""
    usage: bool = True
    cached_tokens: int | None = 2
    """Reported as usage.prompt_tokens_details.cached_tokens (None: no details)."""
    stop_reason: bool = True
    """Name the matched stop string in the choice, as vLLM does."""
    delay: float = 0.0
    """Seconds each POST sleeps before replying."""
    gate: threading.Event | None = None
    """When set, each POST waits (10 s at most) for this event before replying."""
    models: tuple[str, ...] = ("test-model",)


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def reply_text(prompt: str, seed: int | None, index: int) -> str:
    """The full reply to ``prompt`` for ``seed`` and choice ``index`` (before max_tokens and stop strings)."""
    tag = hashlib.sha256(f"{prompt}|{seed}|{index}".encode()).hexdigest()[:8]
    return f"Step one {tag}.\n\nStep two.\n\nThe answer is {int(tag, 16) % 100}."


def chat_key(messages: list[dict[str, Any]]) -> str:
    """The prompt string a chat request's replies are keyed on."""
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def token_logprob(position: int) -> float:
    return -round(0.1 * (position + 1), 3)


@dataclass
class Request:
    path: str
    body: dict[str, Any]


@dataclass
class FixtureServer:
    """Start with ``start()`` (or as a context manager); ``url`` is the base URL ending in /v1."""

    knobs: Knobs = field(default_factory=Knobs)
    requests: list[Request] = field(default_factory=list)
    max_in_flight: int = 0
    _in_flight: int = 0
    _posts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None

    def start(self) -> FixtureServer:
        handler = type("Handler", (_Handler,), {"fixture": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FixtureServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def count(self, path: str | None = None) -> int:
        """Requests received (to ``path``, e.g. "/v1/completions", when given)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.requests if r.path == path]

    def reset(self) -> None:
        """Forget the requests seen so far (knobs and fail counters stay)."""
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    # -- called by the handler ------------------------------------------------------------------------------

    def enter(self, path: str, body: dict[str, Any]) -> int:
        with self._lock:
            self.requests.append(Request(path, body))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self._posts += 1
            return self._posts

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that gave up (timeout tests) closed the socket; nothing to report
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fixture: FixtureServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            return self._error(404, f"no route {self.path}")
        self.fixture.enter(self.path, {})
        self.fixture.leave()
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fixture"} for m in self.fixture.knobs.models]
        self._send(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        number = self.fixture.enter(self.path, body)
        try:
            if self.fixture.knobs.gate is not None:
                self.fixture.knobs.gate.wait(10)
            if self.fixture.knobs.delay:
                time.sleep(self.fixture.knobs.delay)
            status, reply, headers = _answer(self.fixture.knobs, self.path, body, number)
            self._send(status, reply, headers)
        finally:
            self.fixture.leave()

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, _error_body(status, message), headers)

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _answer(knobs: Knobs, path: str, body: dict[str, Any], number: int) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, extra headers) for POST request number ``number`` (1-based)."""
    chat = path == "/v1/chat/completions"
    if not chat and (path != "/v1/completions" or not knobs.completions):
        return 404, _error_body(404, f"no route {path}"), {}
    if number <= knobs.fail_first:
        headers = {"Retry-After": knobs.retry_after} if knobs.retry_after is not None else {}
        if knobs.should_retry is not None:
            headers["x-should-retry"] = knobs.should_retry
        return knobs.fail_status, _error_body(knobs.fail_status, "server overloaded, try again"), headers
    problem = _reject(knobs, body)
    if problem:
        return 400, _error_body(400, problem), {}
    prompt = chat_key(body["messages"]) if chat else str(body["prompt"])
    n = 1 if knobs.n == "ignore" else int(body.get("n") or 1)
    want = _asks_logprobs(body) and knobs.logprobs == "ok"
    k = int(body.get("top_logprobs") or 0) if chat else int(body.get("logprobs") or 0)
    stops = body.get("stop") or []
    stops = [stops] if isinstance(stops, str) else stops
    choices = [_choice(prompt, body, i, stops, k if want else None, chat) for i in range(n)]
    reply: dict[str, Any] = {
        "id": f"fx-{number}",
        "object": "chat.completion" if chat else "text_completion",
        "created": 0,
        "model": body.get("model"),
        "choices": choices,
    }
    if knobs.usage:
        completion = sum(len(tokenize(c["message"]["content"] if chat else c["text"])) for c in choices)
        usage: dict[str, Any] = {"prompt_tokens": len(tokenize(prompt)), "completion_tokens": completion}
        usage["total_tokens"] = usage["prompt_tokens"] + completion
        if knobs.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": min(knobs.cached_tokens, usage["prompt_tokens"])}
        reply["usage"] = usage
    if not knobs.stop_reason:
        for c in choices:
            c.pop("stop_reason")
    return 200, reply, {}


def _asks_logprobs(body: dict[str, Any]) -> bool:
    value = body.get("logprobs")  # completions: an int (0 is a request); chat: a bool
    return value is not None and value is not False


def _reject(knobs: Knobs, body: dict[str, Any]) -> str | None:
    if knobs.error_400 is not None:
        return knobs.error_400
    if "model" not in body or body["model"] not in knobs.models:
        return f"The model `{body.get('model')}` does not exist."
    if knobs.n == "reject" and int(body.get("n") or 1) > 1:
        return "n>1 not supported"
    if knobs.logprobs == "reject" and _asks_logprobs(body):
        return "logprobs are not supported by this server"
    stops = body.get("stop") or []
    if not isinstance(stops, str) and len(stops) > MAX_STOPS:
        return f"'stop' accepts at most {MAX_STOPS} sequences, got {len(stops)}"
    return None


def _choice(
    prompt: str, body: dict[str, Any], index: int, stops: list[str], k: int | None, chat: bool
) -> dict[str, Any]:
    tokens = tokenize(reply_text(prompt, body.get("seed"), index))
    max_tokens = int(body.get("max_tokens") or 16)
    finish, stop_reason = "stop", None
    if len(tokens) > max_tokens:
        tokens, finish = tokens[:max_tokens], "length"
    text = "".join(tokens)
    hits = [(text.find(s), s) for s in stops if s in text]
    if hits:
        cut, stop_reason = min(hits)
        text, finish = text[:cut], "stop"
        tokens = tokenize(text)
    out: dict[str, Any] = {"index": index, "finish_reason": finish, "stop_reason": stop_reason, "logprobs": None}
    if chat:
        out["message"] = {"role": "assistant", "content": text}
    else:
        out["text"] = text
    if k is not None:
        out["logprobs"] = _chat_logprobs(tokens, k) if chat else _text_logprobs(tokens, k)
    return out


def _alternatives(token: str, position: int, k: int) -> list[tuple[str, float]]:
    lp = token_logprob(position)
    return [(token, lp)] + [(f" alt{m}", lp - 1.0 - m) for m in range(k - 1)] if k > 0 else []


def _text_logprobs(tokens: list[str], k: int) -> dict[str, Any]:
    offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
    return {
        "tokens": tokens,
        "token_logprobs": [token_logprob(i) for i in range(len(tokens))],
        "top_logprobs": [dict(_alternatives(t, i, k)) for i, t in enumerate(tokens)],
        "text_offset": offsets,
    }


def _chat_logprobs(tokens: list[str], k: int) -> dict[str, Any]:
    content = [
        {
            "token": t,
            "logprob": token_logprob(i),
            "bytes": list(t.encode()),
            "top_logprobs": [{"token": a, "logprob": v, "bytes": None} for a, v in _alternatives(t, i, k)],
        }
        for i, t in enumerate(tokens)
    ]
    return {"content": content}
