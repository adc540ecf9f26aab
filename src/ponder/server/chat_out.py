"""Shaping ``/v1/chat/completions`` responses: the choices and usage a run produced, the ``ponder`` field.

``pick`` chooses the candidate whose text a choice shows (the selected one, else the first holding the winning
answer, else the last; see ``server.chat``); ``summary`` builds the ``ponder`` field; ``chat_body``,
``usage_out`` and ``chat_logprobs`` write OpenAI's shapes. Streaming and ``/v1/completions`` reuse them.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ponder.server.schemas import ChatChoiceOut, ChatCompletionOut, ChatMessageOut, UsageOut
from ponder.tasks.base import Task
from ponder.types import Candidate, Result, TokenLogprob, Usage, to_jsonable


@dataclass(frozen=True)
class Meta:
    """The fields every response and chunk of one request repeats."""

    id: str
    created: int
    model: str

    @staticmethod
    def new(model: str) -> Meta:
        return Meta(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), model)


@dataclass(frozen=True)
class ChoiceOut:
    text: str
    finish_reason: str
    logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass(frozen=True)
class Outcome:
    choices: list[ChoiceOut]
    usage: Usage
    ponder: dict[str, Any] | None = None


def pick(res: Result, task: Task) -> Candidate | None:
    """The candidate whose text answers the request (see the module docstring)."""
    if res.selected is not None:
        return res.candidates[res.selected]
    if res.answer is not None:
        key = task.answer_key(res.answer)
        for cand in res.candidates:
            if cand.answer is not None and task.answer_key(cand.answer) == key:
                return cand
    return res.candidates[-1] if res.candidates else None


def summary(results: list[Result], seeds: tuple[int, ...], full_trace: bool) -> dict[str, Any]:
    """The ``ponder`` field of a response: what each run did."""
    runs = []
    for res in results:
        kinds: dict[str, int] = {}
        for event in res.trace:
            kinds[event.kind] = kinds.get(event.kind, 0) + 1
        runs.append(
            {
                "answer": res.answer,
                "selected": res.selected,
                "candidates": [
                    {"answer": c.answer, "score": c.score, "n_tokens": c.n_tokens, "filtered": c.filtered}
                    for c in res.candidates
                ],
                "trace": to_jsonable(res.trace) if full_trace else kinds,
                "usage": to_jsonable(res.usage),
            }
        )
    strategy = results[0].strategy if results else None
    config = results[0].config if results else {}
    return finite({"strategy": strategy, "config": to_jsonable(config), "seeds": list(seeds), "runs": runs})


def chat_body(outcome: Outcome, meta: Meta) -> ChatCompletionOut:
    """The non-streaming response."""
    choices = [
        ChatChoiceOut(
            index=i,
            message=ChatMessageOut(content=c.text),
            finish_reason=c.finish_reason,
            logprobs=chat_logprobs(c.logprobs),
        )
        for i, c in enumerate(outcome.choices)
    ]
    return ChatCompletionOut(
        id=meta.id,
        created=meta.created,
        model=meta.model,
        choices=choices,
        usage=usage_out(outcome.usage),
        ponder=outcome.ponder,
    )


def usage_out(usage: Usage) -> UsageOut:
    return UsageOut(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details={"cached_tokens": usage.cached_prompt_tokens},
    )


def chat_logprobs(tokens: tuple[TokenLogprob, ...] | None) -> dict[str, Any] | None:
    """OpenAI's chat ``logprobs`` object for a choice's tokens."""
    if tokens is None:
        return None

    def entry(token: str, logprob: float) -> dict[str, Any]:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    return {
        "content": [
            {**entry(t.token, t.logprob), "top_logprobs": [entry(k, v) for k, v in t.top.items()]} for t in tokens
        ]
    }


def finite(value: Any) -> Any:
    """``value`` with NaN and infinite floats replaced by None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
