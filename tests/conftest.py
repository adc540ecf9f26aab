"""Shared fixtures: a math task and a context over the scripted fake backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from ponder.api import make_context
from ponder.backends.fake import FakeBackend, FakeReply
from ponder.catalog import make_registries
from ponder.errors import PonderError
from ponder.strategies.base import Context
from ponder.tasks.math_answer import MathAnswerTask
from ponder.types import SamplingParams


@pytest.fixture
def task() -> MathAnswerTask:
    return MathAnswerTask()


@pytest.fixture
def make_ctx(task: MathAnswerTask) -> Callable[..., Context]:
    """Build a Context over a FakeBackend scripted with ``replies`` (cycled per sample index)."""

    def build(replies: Sequence[str | FakeReply] | None = None, **kwargs: object) -> Context:
        backend = kwargs.pop("backend", None) or FakeBackend(replies)
        kwargs.setdefault("params", SamplingParams(seed=0, max_tokens=256))
        return make_context(backend, task, make_registries(), **kwargs)  # type: ignore[arg-type]

    return build


def boxed(answer: str) -> str:
    return f"Step one.\n\nStep two.\n\nThe answer is \\boxed{{{answer}}}."


@pytest.fixture(scope="module")
def small_model() -> Iterator[Any]:
    """The real small model (SmolLM2-135M) through llama.cpp, one thread; skipped with the reason only when
    llama-cpp-python is missing or the model cannot be obtained."""
    try:
        from ponder.backends.llamacpp import LlamaCppBackend
    except ImportError as exc:
        pytest.skip(f"llama.cpp backend not available (pip install 'ponder[cpu]'): {exc}")
    try:
        backend = LlamaCppBackend("smollm2-135m", n_ctx=4096, n_seq_max=32, n_threads=1)
    except (PonderError, OSError) as exc:
        pytest.skip(f"small model not available: {exc}")
    yield backend
    backend.close()
