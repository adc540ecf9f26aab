"""Fixtures for the server tests: a real uvicorn server on 127.0.0.1 (port 0) over a FakeBackend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra (fastapi, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (fastapi, uvicorn) is not installed")

import openai
from gated import Start

from ponder.backends.fake import FakeBackend
from ponder.server import ServerState
from ponder.server.runner import InThread


@pytest.fixture
def start() -> Iterator[Start]:
    """Start a server: ``start(backend=None, **state_fields)``; stopped after the test."""
    running: list[InThread] = []

    def build(backend: Any = None, **fields: Any) -> InThread:
        srv = InThread(ServerState(backend or FakeBackend(), **fields))
        running.append(srv.__enter__())
        return srv

    yield build
    for srv in running:
        srv.__exit__(None, None, None)


@pytest.fixture(scope="module")
def shared() -> Iterator[InThread]:
    """One plain server (FakeBackend, default limits) shared by a module's tests."""
    with InThread(ServerState(FakeBackend())) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(shared: InThread) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{shared.url}/v1", api_key="unused", max_retries=0, timeout=20) as c:
        yield c
