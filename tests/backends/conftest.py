"""Fixtures for the llama.cpp backend tests: the real SmolLM2-135M model, loaded once per module.

Skipped, with the reason, only when llama-cpp-python is missing or the model cannot be obtained.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixture_server import FixtureServer
from openai_support import Make

from ponder.backends.openai import OpenAIBackend
from ponder.errors import PonderError


@pytest.fixture(scope="module")
def small_model_path() -> Path:
    from ponder import models

    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"llama-cpp-python is not installed (pip install 'ponder[cpu]'): {exc}")
    try:
        return models.pull(models.TEST_MODEL)
    except (PonderError, OSError) as exc:
        pytest.skip(f"the test model {models.TEST_MODEL} could not be obtained: {exc}")


@pytest.fixture(scope="module")
def small_backend(small_model_path: Path) -> Iterator[Any]:
    """A LlamaCppBackend over SmolLM2-135M (by catalogue name, so ``n_params`` comes from the catalogue)."""
    from ponder.backends.llamacpp import LlamaCppBackend

    # one thread: two threads on two cores collapse when another process holds a core (tests run in parallel)
    backend = LlamaCppBackend("smollm2-135m", n_ctx=2048, n_seq_max=16, n_threads=1)
    yield backend
    backend.close()


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    with FixtureServer() as srv:
        yield srv


@pytest.fixture
def make(server: FixtureServer) -> Iterator[Make]:
    """Build backends for ``server`` (fast backoff; completions mode, capabilities fixed unless overridden)."""
    made: list[OpenAIBackend] = []

    def build(**options: object) -> OpenAIBackend:
        defaults: dict[str, object] = {
            "model": "test-model",
            "base_url": server.url,
            "mode": "completions",
            "native_n": True,
            "logprobs": True,
            "backoff": 0.001,
            "max_backoff": 0.005,
            "timeout": 5,
        }
        backend = OpenAIBackend(**{**defaults, **options})  # type: ignore[arg-type]
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.close()
