"""Depth strategies on the real small model (SmolLM2-135M through llama.cpp): they run end to end, keep
their budgets and always answer. Skipped when the llama.cpp backend or the model is not available."""

from __future__ import annotations

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.types import Problem

pytestmark = pytest.mark.slow

P = [Problem("What is 6 * 7?", id="p")]


@pytest.mark.parametrize(
    ("name", "params", "max_generated"),
    [
        ("budget_forcing", {"min_thinking": 16, "max_thinking": 48, "wait": 1, "answer_tokens": 16}, 48 + 16),
        ("self_refine", {"rounds": 1, "max_tokens": 48}, 3 * 48),
        ("reflexion", {"attempts": 2, "max_tokens": 48}, 3 * 48),
        ("deliberate", {"passes": 2, "max_tokens": 48}, 2 * 48),
        ("revisions", {"n": 2, "sequential": 2, "max_tokens": 48}, 2 * 48),
    ],
)
def test_runs_on_the_small_model(small_model, make_ctx, name, params, max_generated):
    ctx = make_ctx(backend=small_model)
    [r] = run_chunks(get_strategy(name, **params), P, ctx, 8)
    assert r.candidates and r.trace
    assert 0 < r.usage.completion_tokens <= max_generated
    if name == "budget_forcing":
        force = next(e for e in r.trace if e.kind == "force_answer")
        assert force.data["thinking_tokens"] <= 48
        assert "</think>\n\nFinal answer: \\boxed{" in r.candidates[0].text
