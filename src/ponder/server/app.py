"""The OpenAI-compatible HTTP app: ``create_app(state)`` builds one FastAPI app serving one ServerState.

Routes (all under ``/v1`` need the API key when one is set):
- ``GET /v1/models``: the base model, then ``ponder:<strategy>`` for every registered strategy.
- ``POST /v1/chat/completions``: a strategy or a plain sample, streamed or not (see ``chat``, ``streaming``).
- ``POST /v1/completions``: raw continuation from the backend (see ``completions``).
- ``GET /health``: ``{"status": "ok"}``, no key needed.
Every request is admitted through the concurrency gate (429 beyond the queue), runs its work on a thread
of its own and is bounded by ``Limits.timeout`` (504). When the app shuts down, work still running is
cancelled and given a few seconds to stop. The app never closes the backend: its owner does.

    >>> from ponder.backends.fake import FakeBackend
    >>> from ponder.server import ServerState, create_app
    >>> app = create_app(ServerState(FakeBackend()))
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from ponder.server import errors
from ponder.server.chat import plan_chat
from ponder.server.chat_out import Meta, Outcome, chat_body
from ponder.server.completions import completion_body, generate, plan_completion
from ponder.server.inbound import check_key, read_json
from ponder.server.routing import model_ids
from ponder.server.schemas import ChatCompletionRequest, CompletionRequest, ModelListOut, ModelOut, dump
from ponder.server.state import ServerState
from ponder.server.streaming import start_stream
from ponder.server.worker import CancelToken, Job, Ticker

T = TypeVar("T")
SHUTDOWN_GRACE = 5.0
"""Seconds the app waits at shutdown for cancelled work to stop."""


def create_app(state: ServerState) -> FastAPI:
    """A FastAPI app serving ``state`` (its backend, registries and limits)."""
    app = FastAPI(title="ponder", version="1", lifespan=_lifespan(state))
    app.state.ponder = state
    errors.install(app)

    async def authorize(request: Request) -> None:
        check_key(request, state.api_key)

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authorize)])
    v1.add_api_route("/models", _models(state), methods=["GET"])
    v1.add_api_route("/chat/completions", _chat(state), methods=["POST"])
    v1.add_api_route("/completions", _completions(state), methods=["POST"])
    app.include_router(v1)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _models(state: ServerState) -> Callable[[], Awaitable[dict[str, Any]]]:
    created = int(time.time())

    async def models() -> dict[str, Any]:
        data = [ModelOut(id=name, created=created, owned_by="ponder") for name in model_ids(state)]
        return dump(ModelListOut(data=data))

    return models


def _chat(state: ServerState) -> Callable[[Request], Awaitable[Response]]:
    async def chat_completions(request: Request) -> Response:
        req = await read_json(request, ChatCompletionRequest, state.limits.max_body_bytes)
        plan = plan_chat(state, req)
        deadline = asyncio.get_running_loop().time() + state.limits.timeout
        slot = await state.gate.enter(state.limits.timeout)
        meta = Meta.new(req.model)
        if req.stream:
            include_usage = bool(req.stream_options and req.stream_options.include_usage)
            return start_stream(state, plan, slot, meta, include_usage, deadline)

        def work(token: CancelToken) -> Outcome:
            return plan.run(token, Ticker(token, plan.total))

        job = Job(work, slot, state.live).start()
        outcome = await job.result(deadline, request.is_disconnected)
        return JSONResponse(dump(chat_body(outcome, meta)))

    return chat_completions


def _completions(state: ServerState) -> Callable[[Request], Awaitable[Response]]:
    async def completions(request: Request) -> Response:
        req = await read_json(request, CompletionRequest, state.limits.max_body_bytes)
        prompts, params = plan_completion(state, req)
        deadline = asyncio.get_running_loop().time() + state.limits.timeout
        slot = await state.gate.enter(state.limits.timeout)
        job = Job(lambda token: generate(state, prompts, params, req.n, token), slot, state.live).start()
        generations, usage = await job.result(deadline, request.is_disconnected)
        return JSONResponse(dump(completion_body(generations, usage, Meta.new(req.model))))

    return completions


def _lifespan(state: ServerState) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs = list(state.live)
        for job in jobs:
            job.token.cancel("server shutting down")
        await asyncio.to_thread(_join, jobs, SHUTDOWN_GRACE)

    return lifespan


def _join(jobs: list[Job[Any]], grace: float) -> None:
    end = time.monotonic() + grace
    for job in jobs:
        job.thread.join(max(0.0, end - time.monotonic()))
