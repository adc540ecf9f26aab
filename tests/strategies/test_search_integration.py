"""Search strategies on the real small model (SmolLM2-135M through llama.cpp), judged step by step by the
same model: each explores a real tree, reuses the KV of expanded prefixes, and returns finished candidates.
Skipped when the llama.cpp backend or the model is not available."""

from __future__ import annotations

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.types import Problem, SamplingParams

pytestmark = pytest.mark.slow

P = [Problem("Tom has 3 apples and buys 4 more. How many apples does he have?", id="apples")]
STEP, MAX = 24, 64


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("beam_search", {"n": 4, "beam_width": 2, "max_depth": 2}),
        ("beam_search", {"n": 4, "beam_width": 2, "max_depth": 2, "subtrees": True}),
        ("lookahead", {"n": 4, "beam_width": 2, "max_depth": 2, "lookahead": 1}),
        ("tree_of_thought", {"k": 2, "breadth": 2, "max_depth": 2, "max_expansions": 4}),
        ("forest_of_thought", {"k": 2, "breadth": 1, "max_depth": 2, "max_expansions": 2, "trees": 2}),
        ("mcts", {"simulations": 3, "children": 2, "max_depth": 2}),
    ],
)
def test_search_on_the_small_model(small_model, make_ctx, name, params):
    small_model.clear_cache()
    ctx = make_ctx(backend=small_model, scorer="judge", params=SamplingParams(seed=0, max_tokens=MAX, temperature=0.8))
    [r] = run_chunks(get_strategy(name, max_step_tokens=STEP, **params), P, ctx, 1)
    trees = [e for e in r.trace if e.kind == "tree"]
    assert trees, [e.kind for e in r.trace]
    nodes = [n for t in trees for n in t.data["nodes"]]
    assert any(n["depth"] >= 1 for n in nodes)  # something was expanded
    # steps are cut at max_step_tokens; the last step (at max_depth) runs to the end, within max_tokens
    assert all(n["tokens"] <= (MAX if n["terminal"] in ("max_depth", "forced") else STEP) for n in nodes)
    if name == "mcts":  # every simulation ran and every value was backpropagated through the root
        [search] = [e for e in r.trace if e.kind == "search"]
        assert search.data["simulations"] == params["simulations"]
        assert nodes[0]["visits"] == sum(n["visits"] for n in nodes if n["parent"] == 0) >= params["simulations"]
    else:
        assert any(n["score"] is not None for n in nodes)  # the judge scored steps
    assert r.candidates and all(c.text for c in r.candidates)
    # children of a node extend its prefix: llama.cpp reused KV for them instead of re-processing it
    assert r.usage.cached_prompt_tokens > 0
    assert r.usage.completion_tokens > 0 and r.usage.calls >= 2


def test_the_step_judge_continues_the_policys_cached_sequence(small_model, make_ctx):
    """Judging a step processes only the judge's short question: the step itself is already in the KV cache."""
    small_model.clear_cache()
    calls = []
    generate = small_model.generate

    def logged(prompts, params, n=1):
        out = generate(prompts, params, n)
        calls.append((params.max_tokens, [(g.prompt_tokens, g.cached_prompt_tokens) for g in out]))
        return out

    small_model.generate = logged
    try:
        params = SamplingParams(seed=0, max_tokens=MAX, temperature=0.8)
        ctx = make_ctx(backend=small_model, scorer="judge", params=params)
        run_chunks(get_strategy("beam_search", n=4, beam_width=2, max_depth=3, max_step_tokens=STEP), P, ctx, 1)
    finally:
        del small_model.generate
    judged = [row for max_tokens, rows in calls if max_tokens == 1 for row in rows]
    assert len(judged) >= 8
    question = len(small_model.tokenize(ctx.process_scorer.turn))
    # new tokens per judged step: the question, plus the step's delimiter the policy stopped on (never decoded)
    assert all(sent - reused <= question + 2 for sent, reused in judged), (question, judged)
    assert sum(sent for sent, _ in judged) > 5 * sum(sent - reused for sent, reused in judged)
