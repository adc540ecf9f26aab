"""The Backend protocol: batched, prefix-sharing text generation.

A backend turns rendered prompts (plain strings, the chat template already applied by ``render``) into
completions. Every call takes a batch of prompts and returns, per prompt, a Generation holding ``n``
completions plus what the prompt cost (tokens, and tokens reused from a cache). Step-wise generation is
the same call with a prompt that extends an earlier one and ``stop=("\\n\\n",)``; backends reuse their
cache for the shared part. Backends do not meter or enforce budgets: see ``ponder.budget``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ponder.errors import ConfigError
from ponder.types import Generation, Message, SamplingParams


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. Strategies and scorers degrade gracefully where a flag is False."""

    logprobs: bool = False
    """Per-token logprobs of generated tokens."""
    top_logprobs: int = 0
    """How many alternatives per position it can return (0 = none)."""
    native_n: bool = False
    """Samples n completions per prompt in one request, sharing the prompt's processing."""
    continuation: bool = True
    """Accepts a raw prompt string and continues it (needed for step-wise search and budget forcing)."""
    stop_strings: bool = True
    """Honours stop strings."""
    prefix_cache: bool = False
    """Reuses processing of a prompt prefix seen before."""


@runtime_checkable
class Backend(Protocol):
    """A text generator. Implementations: llamacpp (embedded), openai (HTTP), fake (scripted)."""

    name: str
    """Registry name of the backend kind, e.g. "llamacpp"."""
    model: str
    """The model identifier it serves."""
    capabilities: Capabilities
    n_params: int
    """Parameter count of the model, for FLOPs estimates (0 when unknown)."""

    def render(self, messages: Sequence[Message]) -> str:
        """Apply the model's chat template, ending with the assistant turn's opening."""
        raise NotImplementedError  # protocol

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        """For each prompt p, ``n`` completions; sample i is the prompt's sample ``params.position(i, p)`` with
        seed ``params.sample_seed(i, p)`` (``first_sample`` plus the prompt's entry of ``offsets``, if any)."""
        raise NotImplementedError  # protocol

    def close(self) -> None:
        """Release resources (model memory, connections). Safe to call twice."""
        raise NotImplementedError  # protocol


class Wrapper:
    """Base of backends that wrap another (metering, caching): model facts and rendering come from ``inner``.

    Subclasses implement ``generate`` (and whatever else they add); ``close`` closes the inner backend.
    """

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def identity(self) -> str:
        return identity_of(self.inner)

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    @property
    def n_params(self) -> int:
        return self.inner.n_params

    def render(self, messages: Sequence[Message]) -> str:
        return self.inner.render(messages)


def identity_of(backend: Any) -> str:
    """What makes ``backend``'s samples its own: its ``identity`` when it has one (e.g. an HTTP backend's
    model and server URL, since two servers can serve different weights under one model name), else its
    model. Generation caches and eval configurations key on it."""
    return str(getattr(backend, "identity", None) or backend.model)


def check_request(prompts: Sequence[str], n: int, params: SamplingParams | None = None) -> None:
    """Raise ConfigError unless ``prompts`` is a sequence of strings (not one string), ``n`` an int >= 1 and
    ``params.offsets`` empty or one per prompt."""
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise ConfigError("prompts must be a sequence of strings")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, got {n!r}")
    if params is not None and params.offsets and len(params.offsets) != len(prompts):
        raise ConfigError(f"params.offsets has {len(params.offsets)} entries for {len(prompts)} prompts")
