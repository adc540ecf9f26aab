"""Tree-of-Thought (BFS, DFS, value and vote evaluation) and Forest-of-Thought on scripted trees."""

from __future__ import annotations

import pytest

from ponder.backends.fake import FakeBackend
from ponder.errors import ConfigError
from ponder.strategies.forest_of_thought import ForestOfThought
from ponder.strategies.tree_of_thought import TreeOfThought
from ponder.types import Problem
from tests.search.scripted import VOTE_MARK, StepScores, generated, tree_script

P = [Problem("What is 3 + 4?", id="p")]


def _ctx(make_ctx, script, scores=None, **kwargs):
    ctx = make_ctx(backend=FakeBackend(script), **kwargs)
    if scores is not None:
        ctx.process_scorer = StepScores(scores)
    return ctx


def _nodes(result):
    return {n["step"]: n for n in next(e for e in result.trace if e.kind == "tree").data["nodes"]}


def test_bfs_keeps_the_best_breadth_states_and_prunes_below_the_threshold(make_ctx):
    tree = {(): ["a\n\nx", "b\n\nx", "c\n\nx"], ("b",): ["b1 \\boxed{2}"], ("c",): ["c1 \\boxed{3}"]}
    ctx = _ctx(make_ctx, tree_script(tree), {"a": 0.2, "b": 0.9, "c": 0.6, "b1 \\boxed{2}": 0.9})
    [r] = TreeOfThought(k=3, breadth=2, max_depth=2, threshold=0.3).run(P, ctx)
    nodes = _nodes(r)
    assert nodes["a"]["pruned"] == "value 0.2 below threshold 0.3"
    assert nodes["b"]["pruned"] is None and nodes["c"]["pruned"] is None
    assert [generated(p) for p in ctx.backend.inner.calls[1][0]] == ["b\n\n", "c\n\n"]
    assert r.answer == "2"


def test_dfs_backtracks_when_every_child_is_below_the_threshold(make_ctx):
    tree = {
        (): ["a\n\nx", "b\n\nx"],
        ("a",): ["a1\n\nx", "a2\n\nx"],
        ("b",): ["b1\n\nx", "b2\n\nx"],
        ("b", "b1"): ["sol \\boxed{5}"],
    }
    scores = {"a": 0.9, "b": 0.7, "a1": 0.2, "a2": 0.3, "b1": 0.8, "b2": 0.1}
    ctx = _ctx(make_ctx, tree_script(tree), scores)
    [r] = TreeOfThought(search="dfs", k=2, max_depth=3, threshold=0.5).run(P, ctx)
    expanded = [generated(prompts[0]) for prompts, _, _ in ctx.backend.inner.calls]
    assert expanded == ["", "a\n\n", "b\n\n", "b\n\nb1\n\n"]
    nodes = _nodes(r)
    assert nodes["a1"]["pruned"] == "value 0.2 below threshold 0.5"
    assert nodes["b2"]["pruned"] == "value 0.1 below threshold 0.5"
    assert nodes["sol \\boxed{5}"]["terminal"] == "max_depth"
    assert r.answer == "5"


def test_dfs_stops_at_the_expansion_limit_and_marks_what_it_left(make_ctx):
    tree = {(): ["a\n\nx", "b\n\nx"]}
    ctx = _ctx(make_ctx, tree_script(tree, default=["go on\n\nx"]), {})
    [r] = TreeOfThought(search="dfs", k=2, max_depth=6, max_expansions=3).run(P, ctx)
    calls = ctx.backend.inner.calls
    assert len(calls) == 4  # 3 expansions + one forced completion (nothing finished)
    assert calls[-1][1].stop == ()
    assert any(n["pruned"] == "unexplored: the search stopped first" for n in _nodes(r).values())
    forced = [n for n in _nodes(r).values() if n["terminal"]]
    assert [n["terminal"] for n in forced] == ["forced"] and len(r.candidates) == 1


def test_vote_evaluation_values_thoughts_by_their_share_of_votes(make_ctx):
    tree = {(): ["a\n\nx", "b\n\nx", "c\n\nx"], ("b",): ["b1 \\boxed{2}"]}
    script = tree_script(tree, votes="Choice 2 looks right.\nThe best choice is 2")
    problems = [Problem("What is 3 + 4?", id="p"), Problem("What is 1 + 1?", id="q")]
    ctx = _ctx(make_ctx, script)  # vote evaluation needs no scorer
    results = TreeOfThought(k=3, breadth=1, max_depth=2, evaluate="vote", n_votes=3).run(problems, ctx)
    nodes = _nodes(results[0])
    assert (nodes["a"]["value"], nodes["b"]["value"], nodes["b"]["votes"]) == (0.0, 1.0, 3)
    assert nodes["a"]["pruned"] and nodes["b"]["pruned"] is None
    vote_call = ctx.backend.inner.calls[1]
    assert len(vote_call[0]) == 2 and vote_call[2] == 3, "one vote call for both problems"
    assert VOTE_MARK in vote_call[0][0] and "Choice 1:\na" in vote_call[0][0] and "Choice 3:\nc" in vote_call[0][0]
    assert [r.answer for r in results] == ["2", "2"]


def test_a_search_that_prunes_everything_still_answers(make_ctx):
    ctx = _ctx(make_ctx, tree_script({(): ["a\n\nx", "b\n\nx"]}, default=["forced \\boxed{9}"]), {"a": 0.2, "b": 0.1})
    [r] = TreeOfThought(k=2, breadth=2, max_depth=4, threshold=0.9).run(P, ctx)
    nodes = _nodes(r)
    assert (
        nodes["forced \\boxed{9}"]["terminal"] == "forced" and nodes["forced \\boxed{9}"]["parent"] == nodes["a"]["id"]
    )
    assert r.answer == "9"


def test_value_evaluation_needs_a_process_scorer(make_ctx):
    with pytest.raises(ConfigError, match="process"):
        TreeOfThought().run(P, _ctx(make_ctx, tree_script({})))
    with pytest.raises(ConfigError, match="search must be one of bfs, dfs; got 'astar'"):
        TreeOfThought(search="astar")
    with pytest.raises(ConfigError, match="trees must be an integer >= 1, got 0"):
        ForestOfThought(trees=0)


FOREST = {
    (): ["t0a\n\nx", "t0b\n\nx", "t1a\n\nx", "t1b\n\nx", "t2a\n\nx", "t2b\n\nx"],
    ("t0a",): ["x \\boxed{1}"],
    ("t1a",): ["x \\boxed{1}"],
    ("t2a",): ["x \\boxed{2}"],
}
FOREST_SCORES = {"t0a": 0.9, "t1a": 0.9, "t2a": 0.9, "t0b": 0.1, "t1b": 0.1, "t2b": 0.1}


def _forest_script(prompt, index, seed):
    if "Independent attempts" in prompt:
        return "Checked again. \\boxed{2}"
    return tree_script(FOREST)(prompt, index, seed)


def test_forest_trees_are_disjoint_and_vote(make_ctx):
    ctx = _ctx(make_ctx, _forest_script, FOREST_SCORES)
    [r] = ForestOfThought(trees=3, k=2, breadth=1, max_depth=2, correction=False).run(P, ctx)
    nodes = list(_nodes(r).values())
    for node in nodes[1:]:
        assert node["group"] == int(node["step"][1]) if node["depth"] == 1 else True
    groups = [{n["id"] for n in nodes[1:] if n["group"] == g} for g in range(3)]
    assert all(groups) and not (groups[0] & groups[1] or groups[1] & groups[2] or groups[0] & groups[2])
    assert [c.answer for c in r.candidates] == ["1", "1", "2"]
    assert r.answer == "1" and r.selected == 0
    assert next(e for e in r.trace if e.kind == "consensus").data["votes"] == {"1": 2.0, "2": 1.0}
    assert len(ctx.backend.inner.calls) == 2, "every round is one call for all trees"


def test_forest_correction_pass_when_trees_disagree(make_ctx):
    ctx = _ctx(make_ctx, _forest_script, FOREST_SCORES)
    [r] = ForestOfThought(trees=3, k=2, breadth=1, max_depth=2).run(P, ctx)
    prompt = ctx.backend.inner.calls[-1][0][0]
    assert "1 (2 of 3 trees), 2 (1 of 3 trees)" in prompt and "What is 3 + 4?" in prompt
    assert r.answer == "2" and r.selected == 3 and r.candidates[3].text == "Checked again. \\boxed{2}"
    assert next(e for e in r.trace if e.kind == "correction").data["answer"] == "2"


def test_forest_skips_correction_when_trees_agree(make_ctx):
    agree = {**FOREST, ("t2a",): ["x \\boxed{1}"]}
    ctx = _ctx(make_ctx, tree_script(agree), FOREST_SCORES)
    [r] = ForestOfThought(trees=3, k=2, breadth=1, max_depth=2).run(P, ctx)
    assert r.answer == "1" and len(ctx.backend.inner.calls) == 2
    assert not any(e.kind == "correction" for e in r.trace)


def test_forest_correction_goes_through_the_guardrails(make_ctx):
    ctx = _ctx(make_ctx, _forest_script, FOREST_SCORES, filters=[("blocklist", {"words": ["Checked"]})])
    [r] = ForestOfThought(trees=3, k=2, breadth=1, max_depth=2).run(P, ctx)
    fix = r.candidates[3]
    assert fix.text == "Checked again. \\boxed{2}" and fix.filtered and "Checked" in fix.filtered
    assert r.answer == "1" and r.selected == 0  # the filtered correction does not override the consensus


def test_a_forced_completion_starts_from_the_best_deepest_open_leaf(make_ctx):
    tree = {(): ["a\n\nx", "b\n\nx"], ("a",): ["a1\n\nx", "a2\n\nx"], ("a", "a1"): ["a11\n\nx", "a12\n\nx"]}
    scores = {"a": 0.9, "b": 0.8, "a1": 0.85, "a2": 0.7, "a11": 0.8, "a12": 0.6}
    ctx = _ctx(make_ctx, tree_script(tree, default=["go on \\boxed{5}"]), scores)
    [r] = TreeOfThought(search="dfs", k=2, max_depth=6, max_expansions=3, agg="min").run(P, ctx)
    nodes = _nodes(r)
    # "a" (0.9) was expanded, so it is no restart point; "a11" and "b" tie at 0.8 and the deeper one wins.
    assert nodes["go on \\boxed{5}"]["terminal"] == "forced"
    assert nodes["go on \\boxed{5}"]["parent"] == nodes["a11"]["id"] and r.answer == "5"


def test_a_pruned_node_that_a_forced_completion_restarts_from_is_no_longer_marked_pruned(make_ctx):
    ctx = _ctx(make_ctx, tree_script({(): ["a\n\nx", "b\n\nx"]}, default=["forced \\boxed{9}"]), {"a": 0.2, "b": 0.1})
    [r] = TreeOfThought(k=2, breadth=2, max_depth=4, threshold=0.9).run(P, ctx)
    nodes = _nodes(r)
    assert nodes["a"]["pruned"] is None and nodes["a"]["restarted"] == "value 0.2 below threshold 0.9"
    assert nodes["b"]["pruned"] == "value 0.1 below threshold 0.9" and r.answer == "9"


def test_a_nan_threshold_is_refused():
    with pytest.raises(ConfigError, match="threshold must be a finite number, got nan"):
        TreeOfThought(threshold=float("nan"))
