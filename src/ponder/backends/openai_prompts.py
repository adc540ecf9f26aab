"""Prompt rendering for the OpenAI-compatible backend: chat templates and the chat-mode message marker.

An HTTP server does not tell us its model's chat template, so in completions mode ``OpenAIBackend.render``
applies one of its own: ChatML by default (right for Qwen-family and other ChatML models, a reasonable guess
elsewhere), or a Jinja template given as a string (Hugging Face ``chat_template`` conventions: ``messages``,
``add_generation_prompt``, ``bos_token``, ``eos_token``; needs the ``jinja2`` package).

In chat mode there is no template to apply: ``render`` returns ``CHAT_MARKER`` followed by the messages as
JSON, and ``decode_chat`` turns that back into a message list for ``/v1/chat/completions``. Such a prompt
cannot be continued by appending text (chat mode has ``continuation=False``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ponder.errors import ConfigError
from ponder.types import Message

CHAT_MARKER = "<|ponder-chat-messages|>"
"""Prefix of a prompt rendered in chat mode; the JSON message list follows it."""

Template = Callable[[Sequence[Message]], str]


def render_chatml(messages: Sequence[Message]) -> str:
    """ChatML: ``<|im_start|>role\\ncontent<|im_end|>\\n`` per message, then the assistant turn's opening."""
    turns = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"


def jinja_template(source: str) -> Template:
    """A renderer for a Hugging Face style Jinja chat template (compiled once; errors raise ConfigError)."""
    try:
        from jinja2 import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("chat_template needs the jinja2 package: pip install jinja2") from exc

    def raise_exception(message: str) -> None:
        raise ConfigError(f"chat template error: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    try:
        template = env.from_string(source)
    except TemplateError as exc:
        raise ConfigError(f"bad chat_template: {exc}") from exc

    def render(messages: Sequence[Message]) -> str:
        rows = [{"role": m.role, "content": m.content} for m in messages]
        try:
            return template.render(messages=rows, add_generation_prompt=True, bos_token="", eos_token="")
        except TemplateError as exc:
            raise ConfigError(f"chat_template failed to render: {exc}") from exc

    return render


def encode_chat(messages: Sequence[Message]) -> str:
    """A chat-mode prompt: the marker and the messages as JSON."""
    return CHAT_MARKER + json.dumps([{"role": m.role, "content": m.content} for m in messages], ensure_ascii=False)


def decode_chat(prompt: str) -> list[dict[str, Any]]:
    """The messages of a chat-mode prompt; a plain string (no marker) becomes one user message."""
    if not prompt.startswith(CHAT_MARKER):
        return [{"role": "user", "content": prompt}]
    body = prompt[len(CHAT_MARKER) :]
    try:
        messages, end = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"malformed chat-mode prompt: {exc}") from exc
    if body[end:]:
        raise ConfigError(
            "this OpenAI backend runs in chat mode and cannot continue a prompt "
            f"(text was appended after the rendered messages: {body[end:][:40]!r}); "
            "check capabilities.continuation, or use mode='completions' with a server that has /v1/completions"
        )
    return list(messages)


def decode_any(prompt: str, template: Template) -> str:
    """A completions-mode prompt: a chat-mode prompt (rendered before the mode was known) is re-rendered."""
    if not prompt.startswith(CHAT_MARKER):
        return prompt
    return template([Message(m["role"], m["content"]) for m in decode_chat(prompt)])
