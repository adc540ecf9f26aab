"""A scripted, deterministic backend for tests and ``--backend fake``.

A script maps (prompt, sample index, seed) to a reply: a string, or a FakeReply carrying scripted logprobs.
Tokens are whitespace-delimited pieces, so token counts, ``max_tokens`` and stop strings behave like a real
backend's. It keeps the prompts it has seen and reports the longest token prefix shared with an earlier
prompt as cached, like a real prefix cache. It loads no model and does no I/O.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ponder.backends.base import Capabilities, check_request
from ponder.errors import BackendError
from ponder.types import Completion, Generation, Message, SamplingParams, TokenLogprob

_TOKEN = re.compile(r"\s*\S+|\s+")


@dataclass(frozen=True)
class FakeReply:
    """A scripted reply with optional per-token logprob and top-alternative maps (one per token)."""

    text: str
    logprob: float = -0.1
    """Logprob given to every generated token unless ``top`` says otherwise."""
    top: Sequence[Mapping[str, float]] = field(default_factory=tuple)
    """For token i, its alternatives' logprobs; the first entry's value is also the token's own logprob."""


Script = Callable[[str, int, int | None], "str | FakeReply"]


def tokenize(text: str) -> list[str]:
    """The fake tokenizer: whitespace-led pieces that concatenate back to ``text``."""
    return _TOKEN.findall(text)


def default_script(prompt: str, index: int, seed: int | None) -> str:
    """A stand-in model: reasons briefly and answers 42 most of the time (deterministic per seed)."""
    rng = random.Random(f"{prompt}|{index}|{seed}")
    answer = rng.choice(["42", "42", "42", "41", "7"])
    return f"Let's think step by step.\n\nThe numbers combine to {answer}.\n\nThe answer is \\boxed{{{answer}}}."


def cycle(replies: Sequence[str | FakeReply]) -> Script:
    """A script that gives sample i the reply ``replies[i % len(replies)]`` whatever the prompt."""
    return lambda prompt, index, seed: replies[index % len(replies)]


class FakeBackend:
    """Deterministic scripted backend. ``fail_on_call`` makes call k (1-based) raise BackendError."""

    name = "fake"

    def __init__(
        self,
        script: Script | Sequence[str | FakeReply] | None = None,
        *,
        model: str | None = "fake",
        n_params: int = 1_000_000,
        fail_on_call: int | None = None,
    ) -> None:
        if script is None:
            script = default_script
        self.script: Script = script if callable(script) else cycle(list(script))
        self.model = model or "fake"  # load_backend passes model=None
        self.n_params = n_params
        self.fail_on_call = fail_on_call
        self.capabilities = Capabilities(
            logprobs=True, top_logprobs=20, native_n=True, continuation=True, stop_strings=True, prefix_cache=True
        )
        self.calls: list[tuple[tuple[str, ...], SamplingParams, int]] = []
        self._seen: list[list[str]] = []

    def render(self, messages: Sequence[Message]) -> str:
        parts = [f"<|{m.role}|>\n{m.content}\n" for m in messages]
        return "".join(parts) + "<|assistant|>\n"

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        self.calls.append((tuple(prompts), params, n))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise BackendError(f"fake backend scripted to fail on call {self.fail_on_call}", retryable=False)
        check_request(prompts, n, params)
        out = []
        for p, prompt in enumerate(prompts):
            tokens = tokenize(prompt)
            cached = max((_common(tokens, seen) for seen in self._seen), default=0)
            self._seen.append(tokens)
            completions = tuple(self._complete(prompt, i, params, p) for i in range(n))
            out.append(Generation(completions, prompt_tokens=len(tokens), cached_prompt_tokens=cached))
        return out

    def _complete(self, prompt: str, index: int, params: SamplingParams, p: int) -> Completion:
        reply = self.script(prompt, params.position(index, p), params.sample_seed(index, p))
        if isinstance(reply, str):
            reply = FakeReply(reply)
        pieces = tokenize(reply.text)
        finish, stop_reason = "stop", None
        if len(pieces) > params.max_tokens:
            pieces, finish = pieces[: params.max_tokens], "length"
        text = "".join(pieces)
        hit = _first_stop(text, params.stop)
        if hit is not None:
            cut, stop_reason = hit
            text, finish = text[:cut], "stop"
            pieces = tokenize(text)
        logprobs = None
        if params.logprobs is not None:
            logprobs = tuple(self._logprob(reply, i, tok, params.logprobs) for i, tok in enumerate(pieces))
        return Completion(text, len(pieces), finish, logprobs, stop_reason)  # type: ignore[arg-type]

    @staticmethod
    def _logprob(reply: FakeReply, i: int, token: str, k: int) -> TokenLogprob:
        if i < len(reply.top) and reply.top[i]:
            top = dict(reply.top[i])
            return TokenLogprob(token, next(iter(top.values())), dict(list(top.items())[:k]))
        return TokenLogprob(token, reply.logprob, {token: reply.logprob} if k else {})

    def close(self) -> None:
        self._seen.clear()


def _common(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _first_stop(text: str, stops: Sequence[str]) -> tuple[int, str] | None:
    hits = [(text.find(s), s) for s in stops if s in text]
    return min(hits) if hits else None
