"""Backend for any OpenAI-compatible HTTP server (vLLM, llama.cpp server, SGLang, TGI, OpenAI itself).

``OpenAIBackend`` speaks ``/v1/completions`` (raw prompt continuation, needed by step-wise search and budget
forcing) or, where a server lacks it, ``/v1/chat/completions``. It detects lazily, once per instance, what
the server can do: which endpoint works (``mode="auto"``), whether it samples ``n`` completions per request
(else n separate requests with seeds ``params.sample_seed(i)``), and whether it returns logprobs (else
completions carry ``logprobs=None``). Any of these can be set instead of detected. Detection sends a few
one-token requests, which are not metered.

Requests run on a thread pool (``concurrency`` at a time; ``openai_pool``) and results come back in order.
Transient failures are retried with backoff (``openai_retry``); anything that still fails raises a
BackendError, never an error string in place of a completion. Reply parsing and its conventions (stop strings
beyond the server's limit of four, token counts without usage) are in ``openai_wire``; chat templates in
``openai_prompts``. This module does not tokenise, meter or cache.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import openai

from ponder.backends.base import Capabilities, check_request
from ponder.backends.openai_pool import CLOSED, Workers
from ponder.backends.openai_prompts import Template, decode_any, decode_chat, encode_chat, jinja_template, render_chatml
from ponder.backends.openai_retry import OpenAIBackendError, RetryPolicy, call_with_retries
from ponder.backends.openai_wire import Reply, parse_reply, request_kwargs, take
from ponder.errors import BackendError, ConfigError
from ponder.types import Completion, Generation, Message, SamplingParams

T = TypeVar("T")

Mode = Literal["completions", "chat"]

UNSUPPORTED_STATUS = frozenset({400, 422})
"""Statuses with which a server rejects a request parameter it does not support."""
NO_ENDPOINT_STATUS = frozenset({400, 404, 405, 422})
"""Statuses with which a server answers a /v1/completions probe when it has no usable such endpoint."""
_PROBE = SamplingParams(temperature=1.0, max_tokens=1)


class OpenAIBackend:
    """An OpenAI-compatible server as a ponder Backend.

    Args:
        model: model id; default env ``PONDER_OPENAI_MODEL``, else the first id listed by ``GET /v1/models``.
        base_url: server URL ending in ``/v1``; default env ``OPENAI_BASE_URL``, else OpenAI's.
        api_key: default env ``OPENAI_API_KEY``, else ``"EMPTY"`` (what local servers expect).
        mode: ``"completions"``, ``"chat"``, or ``"auto"`` (completions if the server has it, else chat).
        concurrency: requests in flight at once.
        max_retries: retries of a transient failure; ``backoff``/``max_backoff`` shape the delays (seconds).
        timeout: seconds per request.
        n_params: the model's parameter count, for FLOPs estimates (0 = unknown).
        native_n, logprobs, continuation: capability overrides; None detects (continuation: completions mode).
        prefix_cache: whether the server reuses prompt prefixes (vLLM prefix caching, llama.cpp's cache).
        chat_template: Jinja chat template used by ``render`` in completions mode (default: ChatML).
    """

    name = "openai"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        mode: Literal["auto", "completions", "chat"] = "auto",
        concurrency: int = 8,
        max_retries: int = 4,
        timeout: float = 120,
        n_params: int = 0,
        native_n: bool | None = None,
        logprobs: bool | None = None,
        continuation: bool | None = None,
        prefix_cache: bool = False,
        chat_template: str | None = None,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        if mode not in ("auto", "completions", "chat"):
            raise ConfigError(f"mode must be 'auto', 'completions' or 'chat', got {mode!r}")
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        if not timeout > 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {timeout!r}")
        if continuation and mode == "chat":
            raise ConfigError("continuation=True needs /v1/completions; it cannot be used with mode='chat'")
        self._policy = RetryPolicy(max_retries, backoff, max_backoff)
        self._template: Template = jinja_template(chat_template) if chat_template else render_chatml
        self._model = model or os.environ.get("PONDER_OPENAI_MODEL") or None
        self._mode: Mode | None = None if mode == "auto" else mode
        self._native_n, self._logprobs, self._continuation = native_n, logprobs, continuation
        self._prefix_cache = prefix_cache
        self.n_params = n_params
        self.concurrency = concurrency
        url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self._client = openai.OpenAI(base_url=url, api_key=key, timeout=timeout, max_retries=0)
        self._lock = threading.RLock()
        """Held while a fact is detected (callers wait for one probe instead of each sending their own)."""
        self._workers = Workers(concurrency)

    # -- lazily detected facts -------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        """The model id (listed from the server on first use when not given)."""
        with self._lock:
            if self._model is None:
                page = self._call(self._client.models.list, "GET /models")
                ids = [m.id for m in getattr(page, "data", None) or []]
                if not ids:
                    raise BackendError(f"the server at {self._client.base_url} lists no models; pass model=")
                self._model = ids[0]
            return self._model

    @property
    def mode(self) -> Mode:
        """The endpoint in use: "completions" or "chat" (probed once in auto mode)."""
        with self._lock:
            if self._mode is None:
                self._mode = "completions" if self._probe_completions() else "chat"
            if self._mode == "chat" and self._continuation:
                raise ConfigError("continuation=True, but the server has no usable /v1/completions")
            return self._mode

    @property
    def capabilities(self) -> Capabilities:
        """What the server can do, detected on first access (a few one-token requests) unless configured."""
        logprobs = self._has_logprobs()
        continuation = self.mode == "completions" if self._continuation is None else self._continuation
        return Capabilities(
            logprobs=logprobs,
            top_logprobs=20 if logprobs else 0,
            native_n=self._has_native_n(),
            continuation=continuation,
            stop_strings=True,
            prefix_cache=self._prefix_cache,
        )

    def _has_native_n(self) -> bool:
        with self._lock:
            if self._native_n is None:
                reply = self._probe(n=2, logprobs=False)
                self._native_n = reply is not None and len(reply.completions) >= 2
            return self._native_n

    def _has_logprobs(self) -> bool:
        with self._lock:
            if self._logprobs is None:
                reply = self._probe(n=1, logprobs=True)
                self._logprobs = reply is not None and all(
                    c.logprobs is not None and (len(c.logprobs) > 0 or not c.text) for c in reply.completions
                )
            return self._logprobs

    def _probe(self, n: int, logprobs: bool) -> Reply | None:
        """A one-token request with ``n`` / logprobs; None when the server rejects the parameter."""
        params = _PROBE.replace(logprobs=1 if logprobs else None)
        payload = self._payload(encode_chat([Message("user", "Hello")]))
        try:
            return self._request(payload, params, n, 0, logprobs)
        except OpenAIBackendError as exc:
            if exc.status in UNSUPPORTED_STATUS:
                return None
            raise

    def _probe_completions(self) -> bool:
        kwargs = request_kwargs(_PROBE, n=1, seed=None, logprobs=False, chat=False)
        try:
            self._call(
                lambda: self._client.completions.create(model=self.model, prompt="Hello", **kwargs),
                "POST /completions (probe)",
            )
        except OpenAIBackendError as exc:
            if exc.status in NO_ENDPOINT_STATUS:
                return False
            raise
        return True

    # -- the Backend protocol --------------------------------------------------------------------------------

    def render(self, messages: Sequence[Message]) -> str:
        """Completions mode: the chat template applied (ChatML unless ``chat_template``), ending with the
        assistant turn's opening. Chat mode: an opaque marker string that ``generate`` decodes to messages."""
        if self.mode == "chat":
            return encode_chat(messages)
        return self._template(messages)

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        """For each prompt, ``n`` completions in order. With native n, one request per prompt carrying ``n``
        and seed ``params.sample_seed(0, p)``; otherwise one request per sample i with ``params.sample_seed(i, p)``
        (so n=1 sends the same seed either way)."""
        check_request(prompts, n, params)
        if self._workers.closed:
            raise BackendError(CLOSED)
        if not prompts:
            return []
        payloads = [self._payload(p) for p in prompts]  # resolves the mode; bad prompts fail before any request
        logprobs = params.logprobs is not None and self._has_logprobs()
        if n > 1 and self._has_native_n():
            jobs = [(p, n, params.sample_seed(0, p)) for p in range(len(prompts))]
        else:
            jobs = [(p, 1, params.sample_seed(i, p)) for p in range(len(prompts)) for i in range(n)]
        replies = self._workers.run_all([self._job(payloads[p], params, k, seed, logprobs) for p, k, seed in jobs])
        samples: list[list[Completion]] = [[] for _ in prompts]
        spent = [[0, 0] for _ in prompts]  # prompt tokens, cached prompt tokens: every request processes the prompt
        for (p, _, _), reply in zip(jobs, replies, strict=True):
            take(samples, spent, p, reply, len(reply.completions))
        self._top_up(payloads, params, n, logprobs, samples, spent)
        return [Generation(tuple(s[:n]), *spent[p]) for p, s in enumerate(samples)]

    def _top_up(
        self,
        payloads: list[dict[str, Any]],
        params: SamplingParams,
        n: int,
        logprobs: bool,
        samples: list[list[Completion]],
        spent: list[list[int]],
    ) -> None:
        """Fill in samples a server silently dropped (fewer choices than ``n``) with one request each."""
        missing = [(p, i) for p, got in enumerate(samples) for i in range(len(got), n)]
        fns = [self._job(payloads[p], params, 1, params.sample_seed(i, p), logprobs) for p, i in missing]
        for (p, _), reply in zip(missing, self._workers.run_all(fns), strict=True):
            take(samples, spent, p, reply, 1)

    def _payload(self, prompt: str) -> dict[str, Any]:
        """The prompt part of a request: ``messages`` in chat mode, ``prompt`` in completions mode."""
        if self.mode == "chat":
            return {"messages": decode_chat(prompt)}
        return {"prompt": decode_any(prompt, self._template)}

    def _job(
        self, payload: dict[str, Any], params: SamplingParams, n: int, seed: int | None, logprobs: bool
    ) -> Callable[[], Reply]:
        return lambda: self._request(payload, params, n, seed, logprobs)

    def _request(
        self, payload: dict[str, Any], params: SamplingParams, n: int, seed: int | None, logprobs: bool
    ) -> Reply:
        """One create() call (with retries), parsed. Never returns an empty reply."""
        chat = "messages" in payload
        kwargs = {**request_kwargs(params, n=n, seed=seed, logprobs=logprobs, chat=chat), **payload}
        create: Callable[..., Any]
        if chat:
            create, what = self._client.chat.completions.create, "POST /chat/completions"
        else:
            create, what = self._client.completions.create, "POST /completions"
        model = self.model
        response = self._call(lambda: create(model=model, **kwargs), what)
        reply = parse_reply(response, params, chat=chat)
        if not reply.completions:
            raise BackendError(f"{what} returned no choices", retryable=True)
        return reply

    def _call(self, fn: Callable[[], T], what: str) -> T:
        """``fn`` with retries; on a closed backend, or one closed while ``fn`` ran (the HTTP client then raises
        RuntimeError), a BackendError saying so."""
        if self._workers.closed:
            raise BackendError(f"{CLOSED} ({what})")
        try:
            return call_with_retries(fn, self._policy, what)
        except RuntimeError as exc:
            if self._workers.closed:
                raise BackendError(f"this OpenAI backend was closed during {what}") from exc
            raise

    def close(self) -> None:
        """Stop the worker threads and close the HTTP client. Safe to call twice."""
        if self._workers.close():
            self._client.close()

    @property
    def identity(self) -> str:
        """The model and the server serving it (see ``backends.base.identity_of``)."""
        return f"{self.model}@{self._client.base_url}"

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self._model!r}, base_url={str(self._client.base_url)!r})"
