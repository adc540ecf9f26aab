"""One contract every registered strategy must honour, on the scripted fake backend."""

from __future__ import annotations

import dataclasses

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.budget import Budget
from ponder.catalog import make_registries
from ponder.errors import BudgetExhausted, StrategyError
from ponder.types import Problem
from tests.conftest import boxed

STRATEGIES = make_registries().strategies.names()
PROBLEMS = [Problem("What is 6 * 7?", id="a"), Problem("What is 40 + 2?", id="b", reference="42")]


def _ctx(make_ctx, **kwargs):
    return make_ctx([boxed("42"), boxed("41"), boxed("42"), "I do not know."], scorer="judge", **kwargs)


@pytest.mark.parametrize("name", STRATEGIES)
def test_one_full_result_per_problem(name, make_ctx):
    ctx = _ctx(make_ctx)
    results = run_chunks(get_strategy(name), PROBLEMS, ctx, chunk_size=8)
    assert [r.problem_id for r in results] == ["a", "b"]
    for r in results:
        assert r.strategy == name
        assert r.candidates, "a result lists the candidates it considered"
        assert r.usage.completion_tokens > 0 and r.usage.calls >= 1
        assert r.answer is None or r.answer in {c.answer for c in r.candidates}
        if r.selected is not None:
            assert r.candidates[r.selected].answer == r.answer
        assert r.trace, "a result explains itself"
        strategy = get_strategy(name)  # its parameters, and what it adds (adaptive: the policy's digest)
        assert r.config == {**dataclasses.asdict(strategy), **getattr(strategy, "config_extras", dict)()}
    total = ctx.backend.usage.completion_tokens
    assert total == sum(r.usage.completion_tokens for r in results)


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategies_never_see_the_reference(name, make_ctx):
    seen: list[str] = []

    def script(prompt, index, seed):
        seen.append(prompt)
        return boxed("42")

    ctx = make_ctx(backend=FakeBackend(script), scorer="judge")
    run_chunks(get_strategy(name), [Problem("What is 40 + 2?", id="x", reference="SECRET-REF")], ctx, 8)
    assert seen and not any("SECRET-REF" in p for p in seen)


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_seed_same_result(name, make_ctx):
    def run(seed):
        ctx = make_ctx(backend=FakeBackend(), scorer="judge")
        ctx.params = ctx.params.replace(seed=seed)
        return [(r.answer, [c.text for c in r.candidates]) for r in run_chunks(get_strategy(name), PROBLEMS, ctx, 8)]

    assert run(3) == run(3)


@pytest.mark.parametrize("name", STRATEGIES)
def test_budget_cap_is_never_exceeded(name, make_ctx):
    ctx = _ctx(make_ctx, budget=Budget(max_completion_tokens=40))
    try:
        run_chunks(get_strategy(name), PROBLEMS, ctx, chunk_size=1)
    except StrategyError as exc:
        assert isinstance(exc.__cause__, BudgetExhausted)
    assert ctx.backend.usage.completion_tokens <= 40


@pytest.mark.parametrize("name", STRATEGIES)
def test_backend_failure_keeps_finished_results(name, make_ctx):
    probe = make_ctx(backend=FakeBackend([boxed("42")]), scorer="judge")
    run_chunks(get_strategy(name), [Problem("q0?", id="p0")], probe, chunk_size=1)
    per_problem = len(probe.backend.inner.calls)
    ctx = make_ctx(backend=FakeBackend([boxed("42")], fail_on_call=per_problem + 1), scorer="judge")
    with pytest.raises(StrategyError) as info:
        run_chunks(get_strategy(name), [Problem(f"q{i}?", id=f"p{i}") for i in range(4)], ctx, chunk_size=1)
    assert info.value.partial, "results of problems finished before the failure are kept"
    assert all(r.problem_id.startswith("p") for r in info.value.partial)
