"""Server-Sent Events for ``stream=True`` chat requests, sent while the strategy runs.

The stream, each event a ``data: <chat.completion.chunk JSON>`` line:
1. at once, one chunk per choice with ``delta: {"role": "assistant", "content": ""}``;
2. while the strategy runs, a chunk each time samples finish: ``choices[0].delta`` is ``{}`` and the
   chunk's top-level ``ponder`` is ``{"progress": done, "total": total}`` (units of ``Strategy.work_units``;
   progress reported faster than the client reads is coalesced to the latest);
3. when it is done, each choice's text as content deltas (one token-like piece per chunk), then that
   choice's chunk with ``finish_reason``; the last one also carries the response's ``ponder`` summary;
4. with ``stream_options.include_usage``, a chunk with ``choices: []`` and ``usage`` (all tokens spent);
5. ``data: [DONE]``.
A failure after the stream has started (backend down, timeout) is sent as ``data: {"error": {...}}``
(OpenAI's in-stream error, which the official client raises as an APIError) and the stream ends without
``[DONE]``. Per-token logprobs are not streamed. When the response ends for any reason, a client
disconnect included, the run's CancelToken is cancelled, so its thread stops at its next backend call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ponder.server.chat import ChatPlan
from ponder.server.chat_out import Meta, Outcome, usage_out
from ponder.server.errors import APIError, from_exception
from ponder.server.limits import Slot
from ponder.server.schemas import ChatChunkOut, ChunkChoice, dump
from ponder.server.state import ServerState
from ponder.server.worker import CancelToken, Job, Ticker

_PIECE = re.compile(r"\s*\S+|\s+")
Event = tuple[int, int] | None


class SSEResponse(StreamingResponse):
    """A text/event-stream response that cancels its run's token when it ends, however it ends."""

    def __init__(self, content: AsyncIterator[str], token: CancelToken) -> None:
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.token.cancel("stream closed")


def start_stream(
    state: ServerState, plan: ChatPlan, slot: Slot, meta: Meta, include_usage: bool, deadline: float
) -> SSEResponse:
    """Start ``plan`` on a worker thread and return the response streaming its progress and outcome."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue()

    def post(event: Event) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening any more
            loop.call_soon_threadsafe(queue.put_nowait, event)

    def work(token: CancelToken) -> Outcome:
        return plan.run(token, Ticker(token, plan.total, lambda done, total: post((done, total))))

    job = Job(work, slot, state.live)
    job.future.add_done_callback(lambda _: post(None))
    job.start()
    return SSEResponse(events(plan, job, queue, meta, include_usage, deadline), job.token)


async def events(
    plan: ChatPlan, job: Job[Outcome], queue: asyncio.Queue[Event], meta: Meta, include_usage: bool, deadline: float
) -> AsyncIterator[str]:
    """The SSE lines of one streamed request (see the module docstring)."""
    yield sse(chunk(meta, [ChunkChoice(index=i, delta={"role": "assistant", "content": ""}) for i in range(plan.n)]))
    loop = asyncio.get_running_loop()
    ended = False
    while not ended:
        try:
            batch = [await asyncio.wait_for(queue.get(), max(0.0, deadline - loop.time()))]
        except TimeoutError:
            job.token.cancel("timed out")
            yield sse(APIError(504, "timed out while the strategy was running", "timeout_error").body())
            return
        while not queue.empty():
            batch.append(queue.get_nowait())  # coalesce: only the latest progress is sent
        ended = None in batch
        progress = [event for event in batch if event is not None]
        if progress:
            done, total = progress[-1]
            yield sse(chunk(meta, [ChunkChoice(index=0)], ponder={"progress": done, "total": total}))
    try:
        outcome = job.future.result()
    except BaseException as exc:
        yield sse(from_exception(exc).body())
        return
    for line in answer_lines(outcome, meta):
        yield line
    if include_usage:
        yield sse(chunk(meta, [], usage=outcome))
    yield "data: [DONE]\n\n"


def answer_lines(outcome: Outcome, meta: Meta) -> list[str]:
    """Each choice's content deltas and its closing chunk."""
    lines = []
    last = len(outcome.choices) - 1
    for i, choice in enumerate(outcome.choices):
        for piece in _PIECE.findall(choice.text):
            lines.append(sse(chunk(meta, [ChunkChoice(index=i, delta={"content": piece})])))
        closing = [ChunkChoice(index=i, finish_reason=choice.finish_reason)]
        lines.append(sse(chunk(meta, closing, ponder=outcome.ponder if i == last else None)))
    return lines


def chunk(
    meta: Meta, choices: list[ChunkChoice], *, ponder: dict[str, Any] | None = None, usage: Outcome | None = None
) -> dict[str, Any]:
    out = ChatChunkOut(
        id=meta.id,
        created=meta.created,
        model=meta.model,
        choices=choices,
        usage=usage_out(usage.usage) if usage is not None else None,
        ponder=ponder,
    )
    return dump(out)


def sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"
