"""Composition: depth strategies as samplers of breadth strategies, from dicts, YAML/TOML configs and solve()."""

from __future__ import annotations

import re

import pytest

from ponder.api import get_strategy, run_chunks, solve
from ponder.backends.fake import FakeBackend
from ponder.config import load_config
from ponder.types import Problem
from tests.strategies.test_depth_common import FixedScorer, turns

PROBLEMS = [Problem("What is 6 * 7?", id="a"), Problem("What is 40 + 2?", id="b")]
FORCED = {"strategy": "budget_forcing", "min_thinking": 8, "max_thinking": 64, "wait": 1}
_SAMPLE = re.compile(r"\[s(\d)\]")


def _thinker(prompt: str, index: int, seed: int | None) -> str:
    """Round 1 tags each chain [s<index>]; thoughts are short (so 'Wait' is needed); chain 2 answers 41."""
    if prompt.endswith("\\boxed{"):
        return "41}" if _SAMPLE.findall(prompt) == ["2"] else "42}"
    return "Hmm.</think>" if _SAMPLE.search(prompt) else f"[s{index}] six sevens</think>"


def _check_voted_over_forced_samples(results, backend):
    for r in results:
        assert r.answer == "42" and len(r.candidates) == 4
        assert [c.answer for c in r.candidates] == ["42", "42", "41", "42"]
        assert all(c.text.startswith("<think>\n[s") and c.text.count("Wait") == 1 for c in r.candidates)
        assert r.config["sampler"]["strategy"] == "budget_forcing" and r.config["sampler"]["min_thinking"] == 8
    shapes = [(len(prompts), n) for prompts, _, n in backend.calls]
    assert shapes == [(2, 4), (8, 1), (8, 1)], "first round: n=4 per problem; then all 8 chains per call"


def test_self_consistency_over_budget_forced_samples(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_thinker))
    strategy = get_strategy("self_consistency", n=4, sampler=FORCED)
    _check_voted_over_forced_samples(run_chunks(strategy, PROBLEMS, ctx, 8), ctx.backend.inner)


YAML = """
strategy: self_consistency
strategy_params:
  n: 4
  sampler: {strategy: budget_forcing, min_thinking: 8, max_thinking: 64, wait: 1}
backend: fake
"""
TOML = """
strategy = "self_consistency"
backend = "fake"
[strategy_params]
n = 4
[strategy_params.sampler]
strategy = "budget_forcing"
min_thinking = 8
max_thinking = 64
wait = 1
"""


@pytest.mark.parametrize(("suffix", "text"), [(".yaml", YAML), (".toml", TOML)])
def test_composition_from_a_config_file(tmp_path, make_ctx, suffix, text):
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    cfg = load_config(path)
    strategy = get_strategy(cfg.strategy, **cfg.strategy_params)
    ctx = make_ctx(backend=FakeBackend(_thinker))
    _check_voted_over_forced_samples(run_chunks(strategy, PROBLEMS, ctx, 8), ctx.backend.inner)


def test_solve_accepts_a_nested_sampler():
    backend = FakeBackend(_thinker)
    [r] = solve(["What is 6 * 7?"], "self_consistency", backend=backend, n=4, sampler=FORCED, seed=0)
    assert r.answer == "42" and len(r.candidates) == 4


def _refiner(prompt: str, index: int, seed: int | None) -> str:
    """Drafts answer 10/20/30 by sample index; feedback says fix it; a revision adds 1 to what it revises."""
    last_user = [text for role, text in turns(prompt) if role == "user"][-1]
    if last_user.startswith("Check the solution above"):
        return "Step 2 is off by one."
    if last_user.startswith("Feedback on your solution"):
        revised = re.findall(r"\\boxed\{(\d+)\}", prompt)[-1]
        return f"Fixed. \\boxed{{{int(revised) + 1}}}"
    return f"Draft. \\boxed{{{10 * (index + 1)}}}"


def test_best_of_n_over_refined_candidates(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_refiner))
    ctx.scorer = FixedScorer({"21": 0.9, "31": 0.5, "11": 0.4})
    strategy = get_strategy("best_of_n", n=3, sampler={"strategy": "self_refine", "rounds": 1})
    [r] = run_chunks(strategy, PROBLEMS[:1], ctx, 8)
    assert [c.answer for c in r.candidates] == ["11", "21", "31"]
    assert r.answer == "21"
    shapes = [(len(prompts), n) for prompts, _, n in ctx.backend.inner.calls]
    assert shapes == [(1, 3), (3, 1), (3, 1)], "3 chains drafted, critiqued and revised side by side"


def test_refine_the_winner_of_best_of_n(make_ctx):
    ctx = make_ctx(backend=FakeBackend(_refiner))
    ctx.scorer = FixedScorer({"20": 0.9, "21": 0.95})
    strategy = get_strategy("self_refine", rounds=1, initial={"strategy": "best_of_n", "n": 3})
    [r] = run_chunks(strategy, PROBLEMS[:1], ctx, 8)
    assert [c.answer for c in r.candidates] == ["20", "21"] and r.answer == "21"
    assert r.trace[0].kind == "draft" and r.trace[0].data["source"] == "best_of_n"


def test_a_sampler_without_draw_runs_with_the_composing_strategys_settings(make_ctx):
    backend = FakeBackend(["\\boxed{42}"])
    ctx = make_ctx(backend=backend)
    sampler = {"strategy": "deliberate"}  # no temperature of its own: the composing strategy's applies
    outer = get_strategy("self_consistency", n=2, temperature=0.9, max_tokens=77, sampler=sampler)
    run_chunks(outer, PROBLEMS[:1], ctx, 1)
    assert {(p.temperature, p.max_tokens) for _, p, _ in backend.calls} == {(0.9, 77)}
    assert len({p.seed for _, p, _ in backend.calls}) >= 2  # distinct seeds per drawn candidate


def test_an_unseeded_run_stays_unseeded_through_a_sampler(make_ctx):
    from ponder.types import SamplingParams

    backend = FakeBackend(["\\boxed{42}"])
    ctx = make_ctx(backend=backend, params=SamplingParams(seed=None, max_tokens=64))
    run_chunks(get_strategy("self_consistency", n=2, sampler={"strategy": "cot"}), PROBLEMS[:1], ctx, 1)
    assert [p.seed for _, p, _ in backend.calls] == [None, None]


def _same_drafts(prompt: str, index: int, seed: int | None) -> str:
    """A confident model: every draft is the same text; every later turn's reply depends only on the seed
    (its sample position), as a seeded sampler's does."""
    if "Wait" in prompt or "Feedback on your solution" in prompt or "previous attempts" in prompt:
        return f"Then \\boxed{{{index}}}" + ("" if "Wait" not in prompt else "</think>")
    if "Check the solution above" in prompt:
        return "Step two is wrong."
    if prompt.endswith("\\boxed{"):
        return f"{index}}}"
    return "Same draft. \\boxed{99}" + ("</think>" if "<think>" in prompt else "")


@pytest.mark.parametrize(
    ("strategy", "params"),
    [
        ("self_consistency", {"n": 4, "sampler": {"strategy": "self_refine", "rounds": 1}}),
        ("self_consistency", {"n": 4, "sampler": {**FORCED, "min_thinking": 64, "max_thinking": 128}}),
        ("revisions", {"n": 8, "sequential": 2, "context_window": 1}),
    ],
    ids=["self_refine", "budget_forcing", "revisions"],
)
def test_chains_with_the_same_text_still_draw_their_own_samples(make_ctx, strategy, params):
    """Chains of one problem continue side by side in one call, each at its own sample position: identical
    drafts do not make identical revisions (a vote over n chains is not a vote over one)."""
    ctx = make_ctx(backend=FakeBackend(_same_drafts))
    [r] = run_chunks(get_strategy(strategy, **params), PROBLEMS[:1], ctx, 8)
    later = [c.answer for c in r.candidates if c.answer != "99"]
    assert len(later) == 4 and len(set(later)) == 4, later
    assert max(len(prompts) for prompts, _, _ in ctx.backend.inner.calls) >= 4, "still batched"
