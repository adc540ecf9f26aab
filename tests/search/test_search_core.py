"""The shared search core: tree bookkeeping, step classification, expansion, ranking, UCT, votes."""

from __future__ import annotations

import math

import pytest

from ponder.backends.fake import FakeBackend
from ponder.errors import BackendError, ConfigError, StrategyError
from ponder.search.evaluate import parse_choice, score_nodes
from ponder.search.finish import keep_partial, make_stepper, new_trees, pick
from ponder.search.levels import survivors
from ponder.search.show import tree_lines
from ponder.search.tree import Tree
from ponder.search.uct import backprop, best_path, close, select_leaf
from ponder.strategies.beam import BeamSearch
from ponder.types import Candidate, Completion, Problem
from tests.search.scripted import StepScores, tree_script

P = Problem("What is 3 + 4?", id="p")


def _tree() -> Tree:
    return Tree(P, "PROMPT:", "\n\n")


def test_prefixes_extend_the_parent_and_steps_split_at_the_delimiter():
    tree = _tree()
    a = tree.add(tree.root, "first", "\n\n", 2, None)
    b = tree.add(a, "cut mid", "", 2, None)
    c = tree.add(b, " sentence\n\nThe answer is \\boxed{7}.", "", 9, "max_depth")
    assert (a.prefix, b.prefix) == ("first\n\n", "first\n\ncut mid")
    assert c.prefix == "first\n\ncut mid sentence\n\nThe answer is \\boxed{7}."
    assert tree.steps(b) == ["first", "cut mid"]
    assert tree.steps(c) == ["first", "cut mid sentence", "The answer is \\boxed{7}."]  # a cut is no step boundary
    assert tree.steps(a, extra="look\n\nahead\n\n") == ["first", "look", "ahead"]
    assert [n.id for n in tree.path(c)] == [1, 2, 3] and tree.tokens(c) == 13
    assert tree.root.children == [1] and c.depth == 3
    event = tree.event()
    assert event.kind == "tree" and [n["id"] for n in event.data["nodes"]] == [0, 1, 2, 3]
    assert set(event.data["nodes"][3]) >= {"parent", "depth", "step", "score", "value", "terminal", "pruned"}


def test_classify_steps(make_ctx):
    stepper = make_stepper(make_ctx(), None, None, 8)

    def done(text, finish="stop", stop=None):
        return stepper.classify(Completion(text, 3, finish, None, stop), None)

    assert done("go on", stop="\n\n") == (None, "\n\n")
    assert done("so \\boxed{3}", stop="\n\n") == ("answer", "")
    assert done("the end") == ("eos", "")
    assert done("  ", stop="\n\n") == ("empty", "")
    assert done("no delimiter yet", finish="length") == (None, "")
    assert stepper.classify(Completion("anything", 3, "length"), "max_depth") == ("max_depth", "")


def test_expand_is_one_call_with_the_delimiter_stop_and_fresh_seeds(make_ctx):
    ctx = make_ctx(backend=FakeBackend(tree_script({(): ["s\n\nx"]})))
    stepper = make_stepper(ctx, None, None, 16)
    trees = new_trees([P, Problem("Other?", id="q")], ctx)
    kids = stepper.expand([(t, t.root) for t in trees], 3)
    stepper.expand([(trees[0], kids[0][0])], 2, "max_depth")
    (prompts, params, n), (_, final, _) = ctx.backend.inner.calls
    assert len(prompts) == 2 and n == 3 and params.stop == ("\n\n",) and params.max_tokens == 16
    assert final.stop == () and final.max_tokens == 256 and final.seed != params.seed
    assert [len(k) for k in kids] == [3, 3] and trees[0].nodes[4].terminal == "max_depth"


def test_expand_within_completes_nodes_at_the_depth_limit_in_their_own_call(make_ctx):
    ctx = make_ctx(backend=FakeBackend(tree_script({}, default=["s\n\nx"])))
    stepper = make_stepper(ctx, None, None, 16)
    [tree] = new_trees([P], ctx)
    deep = tree.add(tree.add(tree.root, "a", "\n\n", 1, None), "b", "\n\n", 1, None)
    kids = stepper.expand_within([(tree, tree.root), (tree, deep)], 1, max_depth=3)
    assert kids[0][0].terminal is None and kids[1][0].terminal == "max_depth"
    assert [c[1].stop for c in ctx.backend.inner.calls] == [("\n\n",), ()]


def test_rollouts_stop_at_terminals_and_can_be_forced(make_ctx):
    tree_replies = {("a",): ["r1\n\nx"], ("a", "r1"): ["r2 \\boxed{1}"]}
    ctx = make_ctx(backend=FakeBackend(tree_script(tree_replies, default=["more\n\nx"])))
    stepper = make_stepper(ctx, None, None, 16)
    [tree] = new_trees([P], ctx)
    a = tree.add(tree.root, "a", "\n\n", 1, None)
    other = tree.add(tree.root, "o", "\n\n", 1, None)
    greedy = stepper.rollout([(tree, a), (tree, other)], [5, 1], greedy=True, force=False)
    assert (greedy[0].text, greedy[0].terminal) == ("r1\n\nr2 \\boxed{1}", "answer")
    assert (greedy[1].text, greedy[1].terminal) == ("more\n\n", None)
    assert all(p.temperature == 0.0 for _, p, _ in ctx.backend.inner.calls)
    [forced] = stepper.rollout([(tree, other)], [2], greedy=False, force=True)
    assert forced.terminal == "max_depth" and ctx.backend.inner.calls[-1][1].stop == ()


def test_survivors_rank_by_value_then_age_and_finished_children_take_slots():
    tree = _tree()
    kids = [tree.add(tree.root, s, "\n\n", 1, t) for s, t in [("a", None), ("b", "answer"), ("c", None), ("d", None)]]
    for node, value in zip(kids, [0.5, 0.9, 0.5, math.nan], strict=True):
        node.value = value
    live = survivors(tree, kids, keep=2, threshold=None)
    assert [n.step for n in live] == ["a"]
    assert [n.pruned for n in kids] == [None, None, "rank 3 of 4 in group 0; 2 kept", "rank 4 of 4 in group 0; 2 kept"]


def test_score_nodes_sets_step_and_path_values(make_ctx):
    ctx = make_ctx()
    ctx.process_scorer = StepScores({"a": 0.4, "b": 0.8})
    tree = _tree()
    b = tree.add(tree.add(tree.root, "a", "\n\n", 1, None), "b", "\n\n", 1, None)
    empty = tree.add(tree.root, "", "", 0, "empty")
    score_nodes(ctx, tree, [b, empty], "prod")
    assert (b.score, b.value) == (0.8, pytest.approx(0.32)) and (empty.score, empty.value) == (0.0, 0.0)
    assert ctx.process_scorer.calls == [("p", [["a", "b"]])]


def test_uct_selection_backprop_and_closing():
    tree = _tree()
    a, b = tree.add(tree.root, "a", "\n\n", 1, None), tree.add(tree.root, "b", "\n\n", 1, None)
    closed: set[int] = set()
    assert select_leaf(tree, 1.0, closed) is a, "unvisited children first, earliest on ties"
    backprop(tree, a, 0.2)
    assert select_leaf(tree, 1.0, closed) is b
    backprop(tree, b, 0.9)
    assert select_leaf(tree, 0.0, closed) is b
    done = tree.add(b, "end", "", 1, "answer")
    close(tree, done, closed)
    assert closed == {done.id, b.id} and select_leaf(tree, 0.0, closed) is a
    backprop(tree, done, 0.9)
    assert [n.step for n in best_path(tree)] == ["b", "end"] and tree.root.visits == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Analysis...\nThe best choice is 2", 1),
        ("The best choice is **3**.", 2),
        ("1", 0),
        ("best choice is 9", None),
        ("no idea", None),
    ],
)
def test_parse_choice(text, expected):
    assert parse_choice(text, 3) == expected


def test_backend_errors_mid_search_keep_the_tree(make_ctx):
    ctx = make_ctx(backend=FakeBackend(tree_script({}, default=["s\n\nx"]), fail_on_call=2))
    ctx.process_scorer = StepScores({})
    with pytest.raises(StrategyError) as info:
        BeamSearch(n=2, beam_width=1).run([P], ctx)
    assert isinstance(info.value.__cause__, BackendError)
    [partial] = info.value.partial
    assert len(partial.trace[0].data["nodes"]) == 3 and partial.trace[1].kind == "error"


def test_config_errors_pass_through_unwrapped(make_ctx):
    ctx = make_ctx()
    with pytest.raises(ConfigError), keep_partial(BeamSearch(), [], ctx):
        raise ConfigError("bad")


def test_tree_lines_draw_the_tree_with_ends_and_prunings():
    tree = _tree()
    a = tree.add(tree.root, "first step", "\n\n", 1, None)
    tree.add(a, "done \\boxed{1}", "", 1, "answer").value = 0.9
    b = tree.add(tree.root, "other", "\n\n", 1, None)
    tree.prune(b, "rank 2 of 2 in group 0; 1 kept")
    lines = tree_lines(tree.event().data["nodes"])
    assert lines == [
        "#1   -   'first step'",
        "  #2 0.900 'done \\\\boxed{1}'  [end: answer]",
        "#3   -   'other'  [pruned: rank 2 of 2 in group 0; 1 kept]",
    ]
    assert tree_lines(tree.event().data["nodes"], max_nodes=1)[-1] == "... 2 more node(s)"


def test_score_selection_prefers_candidates_with_an_answer(make_ctx):
    ctx = make_ctx()
    cands = [
        Candidate("cut off", answer=None, score=0.9),
        Candidate("x \\boxed{2}", answer="2", score=0.4),
        Candidate("y \\boxed{3}", answer="3", score=0.6),
        Candidate("z \\boxed{4}", answer="4", score=0.95, filtered="guard"),
    ]
    assert pick(cands, "score", ctx)[:2] == ("3", 2), "the best answered, unfiltered candidate"
    assert pick(cands[:1], "score", ctx)[:2] == (None, 0), "with no answered candidate, the best one still"
