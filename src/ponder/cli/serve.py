"""``ponder serve``: run the OpenAI-compatible server (``ponder.server``) on one backend with uvicorn.

Registered in ``cli/main.py`` with ``app.command()(serve)``. Needs the ``server`` extra (FastAPI, uvicorn);
without it the command exits with a one-line hint. The backend is loaded once, shared by every request,
and closed when the server stops.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ponder import api
from ponder.catalog import make_registries
from ponder.cli import render
from ponder.errors import ConfigError

Opt = typer.Option


def serve(
    backend: Annotated[str, Opt(help="Backend: llamacpp, openai, vllm, fake.")] = "llamacpp",
    model: Annotated[str | None, Opt(help="Model: catalogue name, GGUF path or server model id.")] = None,
    host: Annotated[str, Opt(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, Opt(help="Port to listen on.")] = 8000,
    api_key: Annotated[
        str | None, Opt("--api-key", envvar="PONDER_API_KEY", help="Require 'Authorization: Bearer KEY'.")
    ] = None,
    max_concurrency: Annotated[int, Opt(help="Requests running at once.")] = 4,
    max_queue: Annotated[int, Opt(help="Requests waiting for a slot; more get 429.")] = 16,
    timeout: Annotated[float, Opt(help="Seconds per request, queueing included; then 504.")] = 600.0,
    max_body: Annotated[int, Opt(help="Largest request body in bytes; larger gets 413.")] = 1_048_576,
    max_n: Annotated[int, Opt(help="Largest n (choices) per request.")] = 16,
    task: Annotated[str, Opt(help="Task that prompts and extracts answers (a request may name another).")] = "math",
    scorer: Annotated[str, Opt(help="Scorer for strategies that need one, when a request names none.")] = "judge",
    base_url: Annotated[str | None, Opt(help="openai backend: server URL.")] = None,
    threads: Annotated[int | None, Opt(help="llamacpp backend: CPU threads.")] = None,
    log_level: Annotated[str, Opt(help="uvicorn log level.")] = "info",
) -> None:
    """Serve strategies over an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models)."""
    try:
        from ponder.server import Limits, ServerState
        from ponder.server.runner import serve as run_server
    except ImportError as exc:
        raise ConfigError(f"ponder serve needs the server extra: pip install 'ponder[server]' ({exc})") from exc
    limits = Limits(max_concurrency, max_queue, timeout, max_body, max_n)
    reg = make_registries()
    reg.tasks.get(task)
    reg.scorers.get(scorer)
    options: dict[str, Any] = {k: v for k, v in (("base_url", base_url), ("n_threads", threads)) if v is not None}
    engine = api.load_backend(backend, model, reg, **options)
    try:
        state = ServerState(engine, limits, api_key, task, default_scorer=scorer, registries=reg)
        render.stderr().print(f"ponder: serving {state.model_id} ({backend}) at http://{host}:{port}/v1")
        run_server(state, host, port, log_level)
    finally:
        engine.close()
