"""Request arguments and reply parsing for the OpenAI-compatible backend. No I/O happens here.

``request_kwargs`` turns SamplingParams into the keyword arguments of ``completions.create`` or
``chat.completions.create``; ``parse_reply`` turns a response into Completions plus the prompt's usage.

Conventions, for servers that say less than we need:
- Stop strings: at most ``MAX_SERVER_STOPS`` (OpenAI's limit) are sent; all of them are also applied on the
  client by truncating the text at the earliest match, so any number of stop strings works. ``stop_reason``
  is the matched string when the server names it (vLLM's ``stop_reason``) or the client found it, else None.
- ``Completion.n_tokens`` counts tokens the server generated (what was paid for), including any cut off
  client-side. With one choice per response it is ``usage.completion_tokens``; with several it is each
  choice's logprob count, or else the usage total split in proportion to a word estimate. Without usage it
  is the logprob count, ``max_tokens`` for a "length" finish, or about 1.3 tokens per word.
- A reply without usage counts 0 prompt tokens; ``cached_prompt_tokens`` is
  ``usage.prompt_tokens_details.cached_tokens`` when present, else 0.
- finish_reason "length" maps to "length"; "error"/"abort" raise a retryable BackendError; anything else
  ("stop", "content_filter", "tool_calls", None) maps to "stop".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ponder.backends.openai_retry import OpenAIBackendError
from ponder.types import Completion, FinishReason, Generation, SamplingParams, TokenLogprob

MAX_SERVER_STOPS = 4
TOKENS_PER_WORD = 1.3


@dataclass(frozen=True)
class Reply:
    """One response, parsed: its completions in choice order, and the prompt's usage."""

    completions: list[Completion]
    prompt_tokens: int
    cached_prompt_tokens: int


@dataclass(frozen=True)
class _Choice:
    text: str
    finish: str | None
    logprobs: tuple[TokenLogprob, ...] | None
    stop_reason: str | None


def request_kwargs(params: SamplingParams, *, n: int, seed: int | None, logprobs: bool, chat: bool) -> dict[str, Any]:
    """Keyword arguments for one create() call. ``logprobs``: whether to ask for them (and the server can)."""
    kwargs: dict[str, Any] = {"max_tokens": params.max_tokens, "temperature": params.temperature}
    if params.top_p < 1:
        kwargs["top_p"] = params.top_p
    if params.stop:
        kwargs["stop"] = list(params.stop[:MAX_SERVER_STOPS])
    if n > 1:
        kwargs["n"] = n
    if seed is not None:
        kwargs["seed"] = seed
    if logprobs and params.logprobs is not None:
        if chat:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = params.logprobs
        else:
            kwargs["logprobs"] = params.logprobs
    if params.top_k > 0:
        kwargs["extra_body"] = {"top_k": params.top_k}  # not OpenAI API; vLLM / llama.cpp / SGLang accept it
    return kwargs


def parse_reply(response: Any, params: SamplingParams, *, chat: bool) -> Reply:
    """Completions (choice order, client-side stops applied) and usage of one response."""
    raw = sorted(getattr(response, "choices", None) or [], key=lambda c: getattr(c, "index", 0) or 0)
    k = params.logprobs or 0
    choices = [_chat_choice(c, k) if chat else _text_choice(c, k) for c in raw]
    for choice in choices:
        if choice.finish in ("error", "abort"):
            raise OpenAIBackendError(f"server aborted a completion (finish_reason={choice.finish!r})", retryable=True)
    usage = getattr(response, "usage", None)
    counts = _token_counts(choices, usage, params.max_tokens)
    completions = [_finish(c, params, tokens) for c, tokens in zip(choices, counts, strict=True)]
    prompt_tokens, cached = _prompt_usage(usage)
    return Reply(completions, prompt_tokens, cached)


def _text_choice(choice: Any, k: int) -> _Choice:
    lp = getattr(choice, "logprobs", None)
    logprobs = None
    tokens = getattr(lp, "tokens", None) if lp is not None else None
    if tokens is not None:
        values = getattr(lp, "token_logprobs", None) or []
        tops = getattr(lp, "top_logprobs", None) or []
        logprobs = tuple(
            TokenLogprob(tok, _num(values[i] if i < len(values) else None), _top(tops[i] if i < len(tops) else None, k))
            for i, tok in enumerate(tokens)
        )
    return _Choice(getattr(choice, "text", None) or "", getattr(choice, "finish_reason", None), logprobs, _stop(choice))


def _chat_choice(choice: Any, k: int) -> _Choice:
    message = getattr(choice, "message", None)
    lp = getattr(choice, "logprobs", None)
    content = getattr(lp, "content", None) if lp is not None else None
    logprobs = None
    if content is not None:
        logprobs = tuple(
            TokenLogprob(t.token, _num(t.logprob), _top({a.token: a.logprob for a in (t.top_logprobs or [])}, k))
            for t in content
        )
    text = getattr(message, "content", None) or ""
    return _Choice(text, getattr(choice, "finish_reason", None), logprobs, _stop(choice))


def _num(value: float | None) -> float:
    return float(value) if value is not None else 0.0  # None only for echoed prompt tokens, never requested


def _top(top: Any, k: int) -> dict[str, float]:
    if not top or k <= 0:
        return {}
    ranked = sorted(((str(t), float(v)) for t, v in dict(top).items()), key=lambda kv: -kv[1])
    return dict(ranked[:k])


def _stop(choice: Any) -> str | None:
    extra = getattr(choice, "model_extra", None) or {}
    value = extra.get("stop_reason")
    return value if isinstance(value, str) else None


def _prompt_usage(usage: Any) -> tuple[int, int]:
    if usage is None:
        return 0, 0
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(cached or 0)


def estimate_tokens(text: str) -> int:
    """A rough token count for a reply without usage or logprobs: about 1.3 tokens per word."""
    return math.ceil(len(text.split()) * TOKENS_PER_WORD)


def _token_counts(choices: Sequence[_Choice], usage: Any, max_tokens: int) -> list[int]:
    total = getattr(usage, "completion_tokens", None) if usage is not None else None
    if total is not None and len(choices) == 1:
        return [int(total)]
    if all(c.logprobs is not None for c in choices):
        return [len(c.logprobs or ()) for c in choices]
    guesses = [max_tokens if c.finish == "length" else estimate_tokens(c.text) for c in choices]
    if total is None or not choices:
        return guesses
    return _split(int(total), guesses)


def _split(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder, so the parts sum to ``total``)."""
    mass = sum(weights)
    if mass == 0:
        weights, mass = [1] * len(weights), len(weights)
    shares = [total * w / mass for w in weights]
    parts = [math.floor(s) for s in shares]
    order = sorted(range(len(shares)), key=lambda i: parts[i] - shares[i])
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _finish(choice: _Choice, params: SamplingParams, n_tokens: int) -> Completion:
    text, logprobs, stop_reason = choice.text, choice.logprobs, choice.stop_reason
    finish: FinishReason = "length" if choice.finish == "length" else "stop"
    hits = [(text.find(s), s) for s in params.stop if s in text]
    if hits:
        cut, stop_reason = min(hits)
        text, finish = text[:cut], "stop"
        logprobs = _cut_logprobs(logprobs, cut)
    if stop_reason is not None and stop_reason not in params.stop:
        stop_reason = None  # vLLM reports a stop token id here too; only stop strings are meaningful
    return Completion(text, n_tokens, finish, logprobs, stop_reason)


def _cut_logprobs(logprobs: tuple[TokenLogprob, ...] | None, cut: int) -> tuple[TokenLogprob, ...] | None:
    """The tokens that start before character ``cut`` of the text."""
    if logprobs is None:
        return None
    kept, offset = [], 0
    for tok in logprobs:
        if offset >= cut:
            break
        kept.append(tok)
        offset += len(tok.token)
    return tuple(kept)


def spent_of(futures: Sequence[Future[Reply]]) -> list[Generation]:
    """The replies of ``futures`` that came back (cancelling those not started, waiting for the others)."""
    for f in futures:
        f.cancel()
    done = [f for f in futures if not f.cancelled() and f.exception() is None]
    return [
        Generation(tuple(r.completions), r.prompt_tokens, r.cached_prompt_tokens) for r in (f.result() for f in done)
    ]


def take(samples: list[list[Completion]], spent: list[list[int]], p: int, reply: Reply, k: int) -> None:
    """Add ``reply``'s first ``k`` completions to prompt ``p``'s samples and its prompt tokens to ``spent``."""
    samples[p].extend(reply.completions[:k])
    spent[p][0] += reply.prompt_tokens
    spent[p][1] += reply.cached_prompt_tokens
