"""MCTS on scripted trees: UCT order, backpropagation, rollouts, exhaustion, budgets, batching."""

from __future__ import annotations

import pytest

from ponder.backends.fake import FakeBackend
from ponder.budget import Budget
from ponder.errors import ConfigError
from ponder.strategies.mcts import MCTS
from ponder.types import Problem
from tests.search.scripted import AnswerScores, StepScores, generated, tree_script

P = [Problem("What is 3 + 4?", id="p")]
SMALL = {
    (): ["a\n\nx", "b\n\nx"],
    ("a",): ["a1 \\boxed{1}", "a2 \\boxed{2}"],
    ("b",): ["b1 \\boxed{3}", "b2 \\boxed{4}"],
}
SMALL_SCORES = {
    "a": 0.9,
    "b": 0.2,
    "a1 \\boxed{1}": 0.3,
    "a2 \\boxed{2}": 0.8,
    "b1 \\boxed{3}": 0.1,
    "b2 \\boxed{4}": 0.1,
}


def _ctx(make_ctx, script, scores=None, outcome=None, **kwargs):
    ctx = make_ctx(backend=FakeBackend(script), **kwargs)
    ctx.process_scorer = StepScores(scores or {})
    ctx.scorer = outcome
    return ctx


def _nodes(result):
    return {n["step"]: n for n in next(e for e in result.trace if e.kind == "tree").data["nodes"]}


def _event(result, kind):
    return next(e for e in result.trace if e.kind == kind).data


def test_uct_explores_backpropagates_and_stops_when_the_tree_is_exhausted(make_ctx):
    ctx = _ctx(make_ctx, tree_script(SMALL), SMALL_SCORES)
    [r] = MCTS(simulations=10, children=2, max_depth=2, value="estimate").run(P, ctx)
    assert _event(r, "search")["simulations"] == 3 and _event(r, "search")["stopped"] == "tree fully explored"
    expanded = [generated(prompts[0]) for prompts, _, _ in ctx.backend.inner.calls]
    assert expanded == ["", "a\n\n", "b\n\n"], "UCT goes to the better child first, then the other"
    nodes = _nodes(r)
    assert nodes[""]["visits"] == 6
    assert (nodes["a"]["visits"], nodes["b"]["visits"]) == (3, 3)
    assert nodes["a"]["mean_value"] == pytest.approx((0.9 + 0.3 + 0.8) / 3)
    select = _event(r, "select")
    assert select["rule"] == "visits" and select["path"][0] == nodes["a"]["id"]
    assert r.answer == "2"


def test_score_selection_takes_the_best_solution_anywhere(make_ctx):
    scores = {**SMALL_SCORES, "b1 \\boxed{3}": 0.99}
    [r] = MCTS(simulations=10, children=2, max_depth=2, value="estimate", select="score", agg="last").run(
        P, _ctx(make_ctx, tree_script(SMALL), scores)
    )
    assert r.answer == "3"


def test_rollouts_run_to_a_terminal_and_are_scored_by_the_outcome_scorer(make_ctx):
    tree = {(): ["a\n\nx", "b\n\nx"], ("a",): ["a1\n\nx"], ("a", "a1"): ["end \\boxed{5}"]}
    outcome = AnswerScores({"5": 0.9})
    ctx = _ctx(make_ctx, tree_script(tree, default=["other \\boxed{6}"]), outcome=outcome)
    [r] = MCTS(simulations=1, children=2, max_depth=4).run(P, ctx)
    a = _nodes(r)["a"]
    assert a["rollout"] == {"text": "a1\n\nend \\boxed{5}", "tokens": 3, "terminal": "answer"}
    assert a["value"] == 0.9 and a["visits"] == 1
    assert "visits" not in _nodes(r)["b"], "only the first new child is rolled out"
    assert [c.answer for c in r.candidates] == ["5"] and r.answer == "5"
    assert r.candidates[0].text == "a\n\na1\n\nend \\boxed{5}"
    assert outcome.calls == 1


def test_a_rollout_is_forced_to_end_at_max_depth(make_ctx):
    ctx = _ctx(make_ctx, tree_script({}, default=["more\n\nx"]), outcome=AnswerScores({}))
    [r] = MCTS(simulations=1, children=1, max_depth=3).run(P, ctx)
    calls = ctx.backend.inner.calls
    assert len(calls) == 3 and calls[-1][1].stop == ()
    assert _nodes(r)["more"]["rollout"]["terminal"] == "max_depth"


def test_simulations_of_all_problems_run_in_lockstep(make_ctx):
    problems = [Problem("What is 3 + 4?", id="p"), Problem("What is 1 + 1?", id="q")]
    ctx = _ctx(make_ctx, tree_script(SMALL), SMALL_SCORES)
    results = MCTS(simulations=3, children=2, max_depth=2, value="estimate").run(problems, ctx)
    calls = ctx.backend.inner.calls
    assert len(calls) == 3 and all(len(prompts) == 2 for prompts, _, _ in calls)
    assert len({params.seed for _, params, _ in calls}) == 3, "every call draws fresh samples"
    assert [r.answer for r in results] == ["2", "2"]


def test_token_budget_mode_stops_at_the_budget(make_ctx):
    script = tree_script({(): ["s \\boxed{5}", "go\n\nx"]}, default=["go\n\nx"])
    ctx = _ctx(make_ctx, script, budget=Budget(max_completion_tokens=20))
    [r] = MCTS(simulations=None, children=2, max_depth=50, value="estimate").run(P, ctx)
    assert ctx.backend.usage.completion_tokens <= 20
    assert _event(r, "search")["stopped"].startswith("budget")
    assert [c.answer for c in r.candidates] == ["5", None], "a solution and an unanswered one (cut by the budget)"
    assert r.answer == "5", "the answered solution wins over the unanswered one on the most visited path"
    with pytest.raises(ConfigError, match="set a Budget"):
        MCTS(simulations=None).run(P, _ctx(make_ctx, tree_script({})))


def test_a_problem_without_a_solution_when_the_budget_ends_does_not_cost_the_batch(make_ctx):
    easy, hard = Problem("easy?", id="easy"), Problem("hard?", id="hard")

    def script(prompt: str, index: int, seed: int | None) -> str:
        return "s \\boxed{5}" if "easy?" in prompt else "go\n\nx"

    ctx = _ctx(make_ctx, script, budget=Budget(max_completion_tokens=40))
    done, empty = MCTS(simulations=None, children=2, max_depth=50, value="estimate").run([easy, hard], ctx)
    assert done.answer == "5"
    assert empty.answer is None and empty.candidates == () and _event(empty, "search")["stopped"].startswith("budget")


def test_bad_parameters(make_ctx):
    with pytest.raises(ConfigError, match="simulations must be an integer >= 1, got 0"):
        MCTS(simulations=0)
    with pytest.raises(ConfigError, match=r"c must be a finite number >= 0\.0, got -1"):
        MCTS(c=-1)
    with pytest.raises(ConfigError, match=r"c must be a finite number >= 0\.0, got nan"):
        MCTS(c=float("nan"))
    with pytest.raises(ConfigError, match="max_completion_tokens=2 is smaller than children=3"):
        MCTS().run(P, _ctx(make_ctx, tree_script({}), budget=Budget(max_completion_tokens=2)))


def test_rollouts_refuse_a_scorer_that_needs_logprobs_before_any_call(make_ctx):
    backend = FakeBackend(tree_script(SMALL))
    ctx = make_ctx(backend=backend, scorer="confidence")
    with pytest.raises(ConfigError, match="scorer 'confidence' needs token logprobs"):
        MCTS(value="rollout").run(P, ctx)
    assert backend.calls == []


def test_an_empty_child_is_a_dead_end_worth_nothing(make_ctx):
    script = tree_script({(): ["a\n\nx", "\n\nnothing"], ("a",): ["a1 \\boxed{1}"]})
    ctx = _ctx(make_ctx, script, outcome=AnswerScores({"1": 0.7}))
    [r] = MCTS(value="rollout", simulations=3, children=2, select="score").run(P, ctx)
    [empty] = [n for n in _nodes(r).values() if n["terminal"] == "empty"]
    assert empty["value"] == 0.0
    assert r.answer == "1" and all(c.text.strip() for c in r.candidates)


@pytest.mark.parametrize("select", ["visits", "score"])
def test_estimates_without_any_terminal_still_answer(make_ctx, select):
    ctx = _ctx(make_ctx, tree_script({}, default=["go\n\nx"]), {})
    [r] = MCTS(simulations=2, children=2, max_depth=10, value="estimate", select=select).run(P, ctx)
    assert ctx.backend.inner.calls[-1][1].stop == ()
    assert len(r.candidates) == 1 and r.selected == 0
    assert [n["terminal"] for n in _nodes(r).values() if n["terminal"]] == ["forced"]


def test_a_rollout_ending_in_an_empty_step_is_a_dead_end(make_ctx):
    tree = {(): ["a\n\nx", "b \\boxed{4}"], ("a",): ["\n\nzzz"]}  # after "a" the model writes nothing
    ctx = _ctx(make_ctx, tree_script(tree), {"a": 0.9, "b \\boxed{4}": 0.6})
    [r] = MCTS(simulations=1, children=2, max_depth=4, select="score").run(P, ctx)
    assert [c.answer for c in r.candidates] == ["4"] and r.answer == "4"
    assert _nodes(r)["a"]["value"] == 0.0  # not its partial text scored as a complete solution


def test_visits_falls_back_up_the_path_when_its_end_has_no_candidate(make_ctx):
    def script(prompt, index, seed):
        depth = len(generated(prompt).split("\n\n")) - 1 if generated(prompt) else 0
        return f"Final {depth} \\boxed{{7}}" if index == 1 else f"step{depth} more words\n\nx"

    ctx = _ctx(make_ctx, script, budget=Budget(max_completion_tokens=40))
    [r] = MCTS(simulations=None, children=2, max_depth=10, value="estimate", select="visits").run(P, ctx)
    select = _event(r, "select")
    assert r.answer == "7" and r.selected is not None  # the budget ran out before the path's end finished
    assert select["below"] != select["path"][-1] and select["below"] in select["path"]
