"""deliberate: the second pass sees the whole draft; fallbacks; validation."""

from __future__ import annotations

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.errors import ConfigError
from ponder.strategies.deliberate import Deliberate
from ponder.types import Problem
from tests.strategies.test_depth_common import prompts_of, turns

P = [Problem("What is 6 * 7?", id="p")]
DRAFT = "First I multiply.\n\nSix sevens are 41.\n\n\\boxed{41}"


def _passes(*replies: str) -> FakeBackend:
    """Pass k replies ``replies[k-1]`` (the pass is read from how many drafts the prompt shows)."""
    return FakeBackend(lambda prompt, index, seed: replies[prompt.count("Here is a draft solution") + _depth(prompt)])


def _depth(prompt: str) -> int:
    return prompt.count("[pass 2]")


def test_the_second_pass_sees_the_whole_draft(make_ctx):
    ctx = make_ctx(backend=_passes(DRAFT, "Rewritten: 6 * 7 = 42.\n\n\\boxed{42}"))
    [r] = run_chunks(get_strategy("deliberate"), P, ctx, 8)
    assert [c.answer for c in r.candidates] == ["41", "42"] and r.answer == "42" and r.selected == 1
    first, second = prompts_of(ctx)
    assert "draft" not in first
    question = [text for role, text in turns(second) if role == "user"][-1]
    assert question.startswith("What is 6 * 7?") and DRAFT in question
    assert [e.kind for e in r.trace] == ["draft", "rewrite", "select"]


def test_later_passes_see_only_the_pass_before(make_ctx):
    ctx = make_ctx(backend=_passes("[pass 1] \\boxed{1}", "[pass 2] \\boxed{2}", "[pass 3] \\boxed{3}"))
    [r] = run_chunks(get_strategy("deliberate", passes=3), P, ctx, 8)
    third = prompts_of(ctx)[2]
    assert "[pass 2]" in third and "[pass 1]" not in third
    assert r.answer == "3"


def test_a_final_pass_without_answer_falls_back(make_ctx):
    ctx = make_ctx(backend=_passes(DRAFT, "I got confused."))
    [r] = run_chunks(get_strategy("deliberate"), P, ctx, 8)
    assert r.answer == "41" and r.selected == 0


def test_an_empty_rewrite_ends_the_chain(make_ctx):
    ctx = make_ctx(backend=_passes(DRAFT, "", "never asked"))
    [r] = run_chunks(get_strategy("deliberate", passes=3), P, ctx, 8)
    assert len(r.candidates) == 1 and len(ctx.backend.inner.calls) == 2
    assert r.trace[-2].data["reason"] == "empty rewrite"


def test_passes_are_batched_across_problems(make_ctx):
    ctx = make_ctx(backend=_passes(DRAFT, "\\boxed{42}"))
    run_chunks(get_strategy("deliberate"), [Problem(f"Q{i}?", id=str(i)) for i in range(3)], ctx, 8)
    assert [len(prompts) for prompts, _, _ in ctx.backend.inner.calls] == [3, 3]


@pytest.mark.parametrize("passes", [0, -1, 2.0])
def test_bad_passes_show_the_value(passes):
    with pytest.raises(ConfigError, match=repr(passes)):
        Deliberate(passes=passes)
