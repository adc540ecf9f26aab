"""budget_forcing: "Wait" exactly k times, budgets to the token, forced answers, validation."""

from __future__ import annotations

import re

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.backends.base import Capabilities
from ponder.backends.fake import FakeBackend
from ponder.errors import ConfigError
from ponder.strategies.budget_forcing import BudgetForcing
from ponder.types import Problem
from tests.strategies.test_depth_common import prompts_of

P = [Problem("What is 6 * 7?", id="p")]


def _model(think: str, answer: str = "42}.") -> FakeBackend:
    """Thinks ``think`` on every continuation; asked for the forced answer, replies ``answer``."""
    return FakeBackend(lambda prompt, index, seed: answer if prompt.endswith("\\boxed{") else think)


def _thinking_calls(ctx):
    return [(params.max_tokens, params.stop) for _, params, _ in ctx.backend.inner.calls[:-1]]


def test_wait_is_appended_exactly_k_times_when_the_model_keeps_stopping_early(make_ctx):
    ctx = make_ctx(backend=_model("Six times seven.</think>"))
    [r] = run_chunks(get_strategy("budget_forcing", min_thinking=100, max_thinking=500, wait=3), P, ctx, 8)
    answer_prompt = prompts_of(ctx)[-1]
    assert answer_prompt.count("Wait") == 3
    assert answer_prompt.endswith("Six times seven.</think>\n\nFinal answer: \\boxed{")
    assert len(ctx.backend.inner.calls) == 5, "4 thinking calls (3 waits), then the answer"
    assert [e.kind for e in r.trace].count("wait") == 3
    force = next(e for e in r.trace if e.kind == "force_answer")
    assert force.data["reason"] == "end marker" and force.data["waits"] == 3
    assert r.answer == "42" and r.candidates[0].text.count("Wait") == 3


def test_the_thinking_budget_is_respected_to_the_token(make_ctx):
    ctx = make_ctx(backend=_model("a b c d e</think>"))
    strategy = get_strategy("budget_forcing", min_thinking=12, max_thinking=14, wait=5, answer_tokens=3)
    [r] = run_chunks(strategy, P, ctx, 8)
    assert _thinking_calls(ctx) == [(14, ("</think>",)), (9, ("</think>",)), (4, ("</think>",))]
    thinking = [e.data["tokens"] for e in r.trace if e.kind == "think"]
    assert thinking == [5, 5, 4] and sum(thinking) == 14
    assert [e.kind for e in r.trace].count("wait") == 2
    assert next(e for e in r.trace if e.kind == "force_answer").data == {
        "thinking_tokens": 14,
        "waits": 2,
        "reason": "cap",
        "prefix": "\n\nFinal answer: \\boxed{",
    }
    _, answer_params, _ = ctx.backend.inner.calls[-1]
    assert answer_params.max_tokens == 3 and answer_params.stop == ()
    assert r.candidates[0].n_tokens == 14 + 1 == r.usage.completion_tokens  # "42}." is one token


def test_a_model_that_never_writes_the_marker_is_cut_and_forced_to_answer(make_ctx):
    ctx = make_ctx(backend=_model(" ".join(["hmm"] * 50), answer="41} and then more words follow"))
    [r] = run_chunks(get_strategy("budget_forcing", max_thinking=17, answer_tokens=5), P, ctx, 8)
    assert _thinking_calls(ctx) == [(17, ("</think>",))]
    force = next(e for e in r.trace if e.kind == "force_answer")
    assert force.data["reason"] == "cap" and force.data["thinking_tokens"] == 17
    assert r.answer == "41" and r.candidates[0].n_tokens == 17 + 5
    assert r.candidates[0].text.startswith("<think>\nhmm hmm") and "</think>\n\nFinal answer: \\boxed{41}" in (
        r.candidates[0].text
    )


def test_no_wait_once_the_minimum_is_reached(make_ctx):
    ctx = make_ctx(backend=_model("one two three four five six</think>"))
    [r] = run_chunks(get_strategy("budget_forcing", min_thinking=6, wait=3), P, ctx, 8)
    assert "wait" not in [e.kind for e in r.trace] and len(ctx.backend.inner.calls) == 2


def test_a_stop_without_the_marker_is_also_suppressed(make_ctx):
    ctx = make_ctx(backend=_model("So it is 42."))
    [r] = run_chunks(get_strategy("budget_forcing", min_thinking=50, wait=1), P, ctx, 8)
    force = next(e for e in r.trace if e.kind == "force_answer")
    assert force.data == {"thinking_tokens": 8, "waits": 1, "reason": "stopped", "prefix": "\n\nFinal answer: \\boxed{"}


def test_an_empty_forced_answer_falls_back_to_the_thinking(make_ctx):
    ctx = make_ctx(backend=_model("so the total is 42</think>", answer=""))
    [r] = run_chunks(get_strategy("budget_forcing"), P, ctx, 8)
    assert r.answer == "42"


def test_chains_share_rounds_and_each_keeps_its_own_budget(make_ctx):
    def script(prompt, index, seed):
        if prompt.endswith("\\boxed{"):
            return "42}"
        if "[c0]" in prompt:
            return " w w w w w w w</think>"
        if "[c1]" in prompt:
            return " v v v v v v v v</think>"
        return "[c0]" + " w" * 14 + "</think>" if index == 0 else "[c1]</think>"

    ctx = make_ctx(backend=FakeBackend(script))
    strategy = BudgetForcing(min_thinking=16, max_thinking=20, wait=1)
    [cands] = strategy.draw(P, ctx, ctx.params, 2)
    calls = ctx.backend.inner.calls
    assert [(len(prompts), params.max_tokens, n) for prompts, params, n in calls] == [
        (1, 20, 2),
        (2, 5, 1),
        (1, 14, 1),
        (2, 32, 1),
    ]
    assert [c.n_tokens - 1 for c in cands] == [20, 14], "thinking tokens: chain 0 capped, chain 1 ended"
    assert [c.text.count("Wait") for c in cands] == [1, 1]
    assert sum(c.n_tokens for c in cands) == ctx.backend.usage.completion_tokens


def test_backends_without_stop_strings_are_cut_at_the_marker(make_ctx):
    class NoStops(FakeBackend):
        def generate(self, prompts, params, n=1):
            return super().generate(prompts, params.replace(stop=()), n)

    ctx = make_ctx(backend=NoStops(lambda p, i, s: "42}" if p.endswith("{") else "think hard</think> and 41"))
    [r] = run_chunks(get_strategy("budget_forcing"), P, ctx, 8)
    assert "and 41" not in r.candidates[0].text and r.answer == "42"
    assert next(e for e in r.trace if e.kind == "force_answer").data["reason"] == "end marker"


def test_thinking_is_batched_across_problems(make_ctx):
    ctx = make_ctx(backend=_model("hmm</think>"))
    problems = [Problem(f"Q{i}?", id=str(i)) for i in range(3)]
    results = run_chunks(get_strategy("budget_forcing", min_thinking=5, wait=1), problems, ctx, 8)
    assert [len(prompts) for prompts, _, _ in ctx.backend.inner.calls] == [3, 3, 3]
    assert sum(r.usage.completion_tokens for r in results) == ctx.backend.usage.completion_tokens


def test_a_backend_that_cannot_continue_is_refused(make_ctx):
    backend = FakeBackend()
    backend.capabilities = Capabilities(continuation=False)
    with pytest.raises(ConfigError, match="continues raw prompts"):
        BudgetForcing().run(P, make_ctx(backend=backend))


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"min_thinking": 300, "max_thinking": 200}, "min_thinking=300 must be <= max_thinking=200"),
        ({"min_thinking": -1}, "min_thinking must be an integer >= 0, got -1"),
        ({"max_thinking": 0}, "max_thinking must be an integer >= 1, got 0"),
        ({"max_thinking": -5}, "got -5"),
        ({"wait": -1}, "wait must be an integer >= 0, got -1"),
        ({"answer_tokens": 0}, "got 0"),
        ({"think_end": ""}, "think_end must be a non-empty string, got ''"),
        ({"wait_text": ""}, "got ''"),
        ({"instruction": None}, "got None"),
    ],
)
def test_bad_budgets_show_the_values(params, shown):
    with pytest.raises(ConfigError, match=re.escape(shown)):
        BudgetForcing(**params)
