"""``/v1/completions``: raw prompt continuation straight from the underlying backend, in OpenAI's format.

This is what lets one ponder use another as its backend: ponder's ``openai`` backend continues raw
prompts through this endpoint (step-wise search, budget forcing). Each prompt string gets ``n`` samples
from one ``Backend.generate`` call; choice ``p * n + i`` is sample ``i`` of prompt ``p``. ``temperature``,
``top_p``, ``top_k``, ``max_tokens`` (OpenAI's default 16), ``stop``, ``seed`` and ``logprobs`` pass
through to SamplingParams; ``usage`` is charged by the metering wrapper and reports cached prompt tokens
in ``prompt_tokens_details.cached_tokens``. Not supported (400): token-id prompts, ``echo``, ``stream``
and strategies (``ponder:...`` models are served on ``/v1/chat/completions``).
"""

from __future__ import annotations

from typing import Any

from ponder.budget import Metered
from ponder.errors import ConfigError
from ponder.server.chat_out import Meta, usage_out
from ponder.server.errors import bad_request
from ponder.server.routing import PREFIX, parse_model
from ponder.server.schemas import CompletionRequest, TextChoiceOut, TextCompletionOut
from ponder.server.state import ServerState
from ponder.server.worker import Cancellable, CancelToken
from ponder.types import Generation, SamplingParams, TokenLogprob, Usage


def plan_completion(state: ServerState, req: CompletionRequest) -> tuple[list[str], SamplingParams]:
    """The prompts and sampling parameters of a request (APIError when it cannot be served)."""
    if req.model.startswith(PREFIX):
        raise bad_request("strategies are served on /v1/chat/completions, not /v1/completions", "model")
    parse_model(state, req.model)
    for name in ("echo", "stream"):
        if getattr(req, name):
            raise bad_request(f"{name}=true is not supported on /v1/completions", name, "unsupported_parameter")
    prompts = [req.prompt] if isinstance(req.prompt, str) else list(req.prompt)
    if not prompts:
        raise bad_request("prompt must not be empty", "prompt")
    if req.n * len(prompts) > state.limits.max_n:
        raise bad_request(
            f"n x prompts must be <= {state.limits.max_n} (samples per request), got {req.n} x {len(prompts)}", "n"
        )
    changes = {"max_tokens": req.max_tokens, "logprobs": req.logprobs, "top_k": req.top_k, **req.overrides()}
    try:
        return prompts, state.params.replace(**changes)
    except ConfigError as exc:
        raise bad_request(str(exc)) from None


def generate(
    state: ServerState, prompts: list[str], params: SamplingParams, n: int, token: CancelToken
) -> tuple[list[Generation], Usage]:
    """Run on a worker thread: the backend's generations and what they cost."""
    backend = Metered(Cancellable(state.backend, token))
    generations = backend.generate(prompts, params, n)
    return generations, backend.usage


def completion_body(generations: list[Generation], usage: Usage, meta: Meta) -> TextCompletionOut:
    choices = [
        TextChoiceOut(
            index=index,
            text=c.text,
            finish_reason=c.finish_reason,
            logprobs=text_logprobs(c.logprobs),
            stop_reason=c.stop_reason,
        )
        for index, c in enumerate(c for g in generations for c in g.completions)
    ]
    return TextCompletionOut(
        id=meta.id.replace("chatcmpl-", "cmpl-"),
        created=meta.created,
        model=meta.model,
        choices=choices,
        usage=usage_out(usage),
    )


def text_logprobs(tokens: tuple[TokenLogprob, ...] | None) -> dict[str, Any] | None:
    """OpenAI's (legacy) completions ``logprobs`` object."""
    if tokens is None:
        return None
    offsets, at = [], 0
    for t in tokens:
        offsets.append(at)
        at += len(t.token)
    return {
        "tokens": [t.token for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [dict(t.top) for t in tokens],
        "text_offset": offsets,
    }
