"""Core value types shared by every part of ponder.

All types here are frozen dataclasses: plain data, validated on construction, JSON-friendly through
``to_dict``. Nothing here talks to a model; see ``backends`` for that.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ponder.errors import ConfigError

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one completion. Validated on construction; errors show the bad value."""

    temperature: float = 0.8
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass in (0, 1]."""
    top_k: int = 0
    """Keep only the k most likely tokens; 0 disables."""
    max_tokens: int = 1024
    """Maximum number of generated tokens per completion (>= 1)."""
    stop: tuple[str, ...] = ()
    """Strings that end a completion; the stop string itself is not included in the text."""
    seed: int | None = None
    """Base seed; sample i of a prompt uses a seed derived from (seed, i). None = nondeterministic."""
    logprobs: int | None = None
    """None: no logprobs. 0: the sampled token's logprob. k > 0: also the top-k alternatives."""
    first_sample: int = 0
    """The index of this call's first sample among all samples of its prompt: sample i of the call is sample
    ``first_sample + i`` (seed included), so a later batch continues a run exactly where an earlier one stopped."""
    offsets: tuple[int, ...] = ()
    """Per-prompt shifts of those positions: sample i of prompt p is sample ``first_sample + offsets[p] + i``
    (empty: no shift). Chains of one problem that continue side by side in one call so keep their own seeds."""

    def __post_init__(self) -> None:
        if not (isinstance(self.temperature, int | float) and math.isfinite(self.temperature)):
            raise ConfigError(f"temperature must be a finite number, got {self.temperature!r}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0, got {self.top_k!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ConfigError(f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if isinstance(self.stop, str) or not all(isinstance(s, str) and s for s in self.stop):
            raise ConfigError(f"stop must be a tuple of non-empty strings, got {self.stop!r}")
        if self.logprobs is not None and not 0 <= self.logprobs <= 20:
            raise ConfigError(f"logprobs must be None or in [0, 20], got {self.logprobs!r}")
        if not isinstance(self.first_sample, int) or self.first_sample < 0:
            raise ConfigError(f"first_sample must be an integer >= 0, got {self.first_sample!r}")
        if not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in self.offsets):
            raise ConfigError(f"offsets must be integers >= 0, got {self.offsets!r}")

    def replace(self, **changes: Any) -> SamplingParams:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def position(self, index: int, prompt: int = 0) -> int:
        """Which sample of prompt number ``prompt`` of this call its sample ``index`` is."""
        return self.first_sample + (self.offsets[prompt] if self.offsets else 0) + index

    def sample_seed(self, index: int, prompt: int = 0) -> int | None:
        """The seed of sample ``index`` of prompt number ``prompt`` of this call (its sample ``position``), or
        None when unseeded."""
        if self.seed is None:
            return None
        return (self.seed * 1_000_003 + self.position(index, prompt) * 7919) % (2**31 - 1)

    def subset(self, prompts: Sequence[int]) -> SamplingParams:
        """These settings for a call with only the prompts numbered ``prompts`` (their offsets kept)."""
        return self.replace(offsets=tuple(self.offsets[p] for p in prompts)) if self.offsets else self


@dataclass(frozen=True)
class TokenLogprob:
    """The logprob of one generated token and, if asked, its top alternatives."""

    token: str
    logprob: float
    top: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    """One generated continuation of a prompt."""

    text: str
    n_tokens: int
    finish_reason: FinishReason
    """"stop": end of sequence or a stop string; "length": max_tokens reached."""
    logprobs: tuple[TokenLogprob, ...] | None = None
    stop_reason: str | None = None
    """The stop string that ended the completion, if any."""


@dataclass(frozen=True)
class Generation:
    """Completions of one prompt, with what the prompt cost to process."""

    completions: tuple[Completion, ...]
    prompt_tokens: int
    """Tokens in the prompt."""
    cached_prompt_tokens: int = 0
    """Prompt tokens reused from a cache instead of being processed again."""


@dataclass(frozen=True)
class Problem:
    """A question to solve. ``reference`` is the ground truth, seen only by Task grading."""

    question: str
    id: str = ""
    reference: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.question, str) or not self.question.strip():
            raise ConfigError(f"question must be a non-empty string, got {self.question!r}")

    def blind(self) -> Problem:
        """This problem with the reference answer removed (what strategies receive)."""
        return dataclasses.replace(self, reference=None)


@dataclass(frozen=True)
class Candidate:
    """One candidate solution considered by a strategy."""

    text: str
    answer: str | None
    """The extracted final answer; None when none could be extracted (an abstention)."""
    score: float | None = None
    n_tokens: int = 0
    filtered: str | None = None
    """Why a guardrail removed this candidate from selection; None when it was kept."""
    token_logprobs: tuple[float, ...] | None = field(default=None, repr=False, metadata={"json": False})
    """Logprobs of the sampled tokens, when the backend gave them (for confidence scoring; not in JSON)."""


@dataclass(frozen=True)
class Usage:
    """Compute spent: every field is charged by the metering wrapper, never by hand."""

    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    flops: float = 0.0
    wall_seconds: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))

    def __sub__(self, other: Usage) -> Usage:
        return Usage(*(a - b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)))

    @property
    def processed_prompt_tokens(self) -> int:
        """Prompt tokens actually computed (not reused)."""
        return self.prompt_tokens - self.cached_prompt_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class TraceEvent:
    """One thing a strategy did: a kind ("sample", "vote", "filter", ...) and JSON-friendly data."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """Everything a strategy produced for one problem."""

    problem_id: str
    strategy: str
    answer: str | None
    candidates: tuple[Candidate, ...]
    usage: Usage
    trace: tuple[TraceEvent, ...] = ()
    selected: int | None = None
    """Index into ``candidates`` of the chosen one, when a single candidate was chosen."""
    config: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return to_jsonable(self)


def to_jsonable(value: Any) -> Any:
    """Recursively turn dataclasses, mappings and tuples into JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.metadata.get("json", True)
        }
        if isinstance(value, Usage):
            out["processed_prompt_tokens"] = value.processed_prompt_tokens
        return out
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value
