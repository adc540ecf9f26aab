"""Pydantic models of the OpenAI wire format this server speaks (chat completions, completions, models).

Requests follow OpenAI's field names and limits; fields the server does not use (``user``,
``frequency_penalty``, ``tools``, ...) are accepted and ignored, as other OpenAI-compatible servers do.
Two additions: a chat request may carry a ``ponder`` object (sent by the official client as
``extra_body={"ponder": {...}}``), and responses and stream chunks carry a ``ponder`` field with what the
strategy did. Responses are built with these models and dumped with ``dump`` (which leaves out the
optional top-level ``ponder``/``usage`` fields when they are empty). No logic beyond validation lives here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Request):
    """One part of a message's content; only text parts are supported."""

    type: Literal["text"]
    text: str


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The content as one string (text parts joined)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Request):
    include_usage: bool = False


class _Sampling(_Request):
    """Sampling fields shared by both endpoints; None means the server's default."""

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1)

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not all(value):
            raise ValueError("stop strings must be non-empty")
        return value

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)

    def overrides(self) -> dict[str, Any]:
        """The shared sampling fields the request gives (SamplingParams names); the others keep the server's
        defaults."""
        given: dict[str, Any] = {"stop": self.stops() if self.stop is not None else None, "seed": self.seed}
        given |= {"temperature": self.temperature, "top_p": self.top_p}
        return {k: v for k, v in given.items() if v is not None}


class ChatCompletionRequest(_Sampling):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    """OpenAI's newer name for ``max_tokens``; wins when both are given."""
    stream: bool = False
    stream_options: StreamOptions | None = None
    reasoning_effort: str | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    ponder: dict[str, Any] | None = None
    """ponder's options: ``strategy``, ``task``, ``scorer``, ``trace`` and the strategy's parameters."""


class CompletionRequest(_Sampling):
    model: str
    prompt: str | list[str]
    max_tokens: int = Field(16, ge=1)
    """OpenAI's default for this endpoint is 16."""
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = False
    stream: bool = False
    top_k: int = Field(0, ge=0)
    """Not OpenAI's; vLLM, llama.cpp and SGLang accept it, and ponder's openai backend sends it."""


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, int] = Field(default_factory=dict)


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoiceOut(BaseModel):
    index: int
    message: ChatMessageOut
    finish_reason: str
    logprobs: dict[str, Any] | None = None


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoiceOut]
    usage: UsageOut
    ponder: dict[str, Any] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: dict[str, Any] = Field(default_factory=dict)
    finish_reason: str | None = None


class ChatChunkOut(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: UsageOut | None = None
    ponder: dict[str, Any] | None = None


class TextChoiceOut(BaseModel):
    index: int
    text: str
    finish_reason: str
    logprobs: dict[str, Any] | None = None
    stop_reason: str | None = None


class TextCompletionOut(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[TextChoiceOut]
    usage: UsageOut


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


def dump(model: BaseModel) -> dict[str, Any]:
    """``model`` as a JSON-ready dict, without top-level ``ponder``/``usage`` when they are None."""
    out = model.model_dump()
    for key in ("ponder", "usage"):
        if out.get(key, 0) is None:
            del out[key]
    return out
