"""revisions: n = parallel x sequential, each revision's context window, selection across all attempts."""

from __future__ import annotations

import re

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.errors import ConfigError
from ponder.strategies.revisions import Revisions
from ponder.types import Problem
from tests.strategies.test_depth_common import FixedScorer, prompts_of

P = [Problem("What is 6 * 7?", id="p")]
_MARK = re.compile(r"\[chain (\d+) step (\d+)\]")


def _chains(answers: dict[int, list[str]]):
    """Chain c's step s (1-based) answers ``answers[c][s-1]``; each attempt is tagged [chain c step s].
    A first attempt's chain is its sample index; a revision continues the chain whose tags it sees."""

    def script(prompt: str, index: int, seed: int | None) -> str:
        seen = [(int(c), int(s)) for c, s in _MARK.findall(prompt)]
        chain, step = (seen[-1][0], seen[-1][1] + 1) if seen else (index, 1)
        return f"[chain {chain} step {step}] so \\boxed{{{answers[chain][step - 1]}}}"

    return FakeBackend(script)


def test_n_splits_into_parallel_chains_of_sequential_attempts(make_ctx):
    ctx = make_ctx(backend=_chains({0: ["1", "2", "3"], 1: ["4", "5", "6"]}))
    [r] = run_chunks(get_strategy("revisions", n=6, sequential=3), P, ctx, 8)
    assert [c.answer for c in r.candidates] == ["1", "2", "3", "4", "5", "6"], "chain by chain, oldest first"
    assert [(len(prompts), n) for prompts, _, n in ctx.backend.inner.calls] == [(1, 2), (2, 1), (2, 1)]
    assert r.config["parallel"] == 2


def test_each_revision_sees_the_last_attempts_of_its_own_chain_only(make_ctx):
    ctx = make_ctx(backend=_chains({0: ["1", "2", "3", "4"], 1: ["5", "6", "7", "8"]}))
    [r] = run_chunks(get_strategy("revisions", n=8, sequential=4, context_window=2), P, ctx, 8)
    prompts = prompts_of(ctx)
    step4_chain1 = prompts[-1]
    assert _MARK.findall(step4_chain1) == [("1", "2"), ("1", "3")], "the 2 newest attempts of chain 1, in order"
    step2_chain0 = prompts[1]
    assert _MARK.findall(step2_chain0) == [("0", "1")]
    revision = [e for e in r.trace if e.kind == "revision" and e.data["chain"] == 1][-1]
    assert revision.data["sees"] == [5, 6] and revision.data["candidate"] == 7


def test_context_window_zero_means_independent_samples(make_ctx):
    ctx = make_ctx(backend=FakeBackend(["\\boxed{3}"]))
    run_chunks(get_strategy("revisions", n=6, sequential=3, context_window=0), P, ctx, 8)
    assert not any("previous attempts" in p for p in prompts_of(ctx))
    drawn = [params.sample_seed(i) for _, params, n in ctx.backend.inner.calls for i in range(n)]
    assert len(drawn) == 6 and len(set(drawn)) == 6  # six attempts, six seeds: no attempt repeats another


@pytest.mark.parametrize("window", [1, 2])
def test_each_step_draws_new_sample_positions(make_ctx, window):
    ctx = make_ctx(backend=FakeBackend(["\\boxed{3}"]))
    run_chunks(get_strategy("revisions", n=6, sequential=3, context_window=window), P, ctx, 8)
    assert [params.first_sample for _, params, _ in ctx.backend.inner.calls] == [0, 2, 4]


def test_majority_over_all_revisions_not_the_last(make_ctx):
    ctx = make_ctx(backend=_chains({0: ["42", "42", "13"]}))
    [r] = run_chunks(get_strategy("revisions", n=3, sequential=3), P, ctx, 8)
    assert r.candidates[-1].answer == "13"
    assert r.answer == "42" and r.selected == 0
    assert next(e for e in r.trace if e.kind == "vote").data["votes"] == {"42": 2.0, "13": 1.0}


def test_verifier_selection_weighted_and_best(make_ctx):
    answers = {0: ["7", "9"], 1: ["7", "8"]}
    ctx = make_ctx(backend=_chains(answers))
    ctx.scorer = FixedScorer({"7": 0.3, "9": 0.5, "8": 0.1})
    [weighted] = run_chunks(get_strategy("revisions", n=4, sequential=2, select="weighted"), P, ctx, 8)
    assert weighted.answer == "7", "0.3 + 0.3 beats 0.5"
    ctx = make_ctx(backend=_chains(answers))
    ctx.scorer = FixedScorer({"7": 0.3, "9": 0.5, "8": 0.1})
    [best] = run_chunks(get_strategy("revisions", n=4, sequential=2, select="best"), P, ctx, 8)
    assert best.answer == "9" and best.selected == 1


def test_attempts_are_batched_across_problems(make_ctx):
    ctx = make_ctx(backend=FakeBackend(["\\boxed{3}"]))
    problems = [Problem(f"Q{i}?", id=str(i)) for i in range(3)]
    results = run_chunks(get_strategy("revisions", n=4, sequential=2), problems, ctx, 8)
    assert [(len(prompts), n) for prompts, _, n in ctx.backend.inner.calls] == [(3, 2), (6, 1)]
    assert all(len(r.candidates) == 4 for r in results)


@pytest.mark.parametrize(
    ("params", "derived"),
    [
        ({"n": 16, "sequential": 4}, (16, 4, 4)),
        ({"n": None, "parallel": 2, "sequential": 3}, (6, 2, 3)),
        ({"n": 8, "sequential": 1}, (8, 8, 1)),
        ({"n": 6, "parallel": 3, "sequential": 2}, (6, 3, 2)),
    ],
)
def test_budget_split(params, derived):
    s = Revisions(**params)
    assert (s.n, s.parallel, s.sequential) == derived


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"n": 6, "sequential": 4}, "n=6 is not a multiple of sequential=4"),
        ({"n": 16, "parallel": 3, "sequential": 4}, "n=16, parallel=3, sequential=4"),
        ({"n": None}, "needs n or parallel"),
        ({"sequential": 0}, "0"),
        ({"context_window": -1}, "-1"),
        ({"select": "last"}, "'last'"),
        ({"n": -4}, "-4"),
    ],
)
def test_bad_parameters_show_the_values(params, shown):
    with pytest.raises(ConfigError, match=re.escape(shown)):
        Revisions(**params)


def test_verifier_selection_needs_a_scorer(make_ctx):
    with pytest.raises(ConfigError, match="needs a scorer"):
        Revisions(n=2, sequential=1, select="weighted").run(P, make_ctx())
