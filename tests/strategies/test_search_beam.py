"""Beam search, DVTS and lookahead on scripted trees: pruning, terminals, batching, prefix reuse, errors."""

from __future__ import annotations

import pytest

from ponder.api import run_chunks
from ponder.backends.fake import FakeBackend
from ponder.budget import Budget
from ponder.errors import BudgetExhausted, ConfigError, ScorerError, StrategyError
from ponder.strategies.beam import BeamSearch
from ponder.strategies.lookahead import Lookahead
from ponder.types import Problem
from tests.search.scripted import AnswerScores, SpyBackend, StepScores, generated, tree_script

P = [Problem("What is 3 + 4?", id="p")]
TREE = {
    (): ["a\n\nx", "b\n\nx", "c\n\nx", "d\n\nx"],
    ("b",): ["b1\n\nx", "b2 so \\boxed{7}"],
    ("d",): ["d1\n\nx", "d2\n\nx"],
    ("b", "b1"): ["b1x \\boxed{7}", "b1y \\boxed{8}"],
}
SCORES = {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.7, "b1": 0.8, "b2 so \\boxed{7}": 0.95, "d1": 0.6, "d2": 0.3}


def _ctx(make_ctx, script=None, scores=None, backend=None, **kwargs):
    ctx = make_ctx(backend=backend or FakeBackend(script or tree_script(TREE)), **kwargs)
    ctx.process_scorer = StepScores(SCORES if scores is None else scores)
    return ctx


def _nodes(result):
    return next(e for e in result.trace if e.kind == "tree").data["nodes"]


def _by_step(result):
    return {n["step"]: n for n in _nodes(result)}


def test_keeps_the_best_n_over_m_and_prunes_the_rest_in_rank_order(make_ctx):
    ctx = _ctx(make_ctx)
    [r] = BeamSearch(n=4, beam_width=2, max_depth=3).run(P, ctx)
    nodes = _by_step(r)
    assert nodes["b"]["pruned"] is None and nodes["d"]["pruned"] is None
    assert nodes["c"]["pruned"] == "rank 3 of 4 in group 0; 2 kept"
    assert nodes["a"]["pruned"] == "rank 4 of 4 in group 0; 2 kept"
    # level 2: the finished b2 takes a slot, b1 goes on, d's children are pruned
    assert nodes["b2 so \\boxed{7}"]["terminal"] == "answer"
    assert nodes["d1"]["pruned"].startswith("rank 3 of 4") and nodes["d2"]["pruned"].startswith("rank 4 of 4")
    calls = ctx.backend.inner.calls
    assert [generated(p) for p in calls[1][0]] == ["b\n\n", "d\n\n"] and calls[1][2] == 2
    assert [generated(p) for p in calls[2][0]] == ["b\n\nb1\n\n"]
    assert len(calls) == 3


def test_every_candidate_is_finished_and_max_depth_forces_a_completion(make_ctx):
    ctx = _ctx(make_ctx)
    [r] = BeamSearch(n=4, beam_width=2, max_depth=3, select="score").run(P, ctx)
    final_params = ctx.backend.inner.calls[-1][1]
    assert final_params.stop == () and final_params.max_tokens == 256
    assert final_params.seed != ctx.backend.inner.calls[0][1].seed
    terminals = {n["step"]: n["terminal"] for n in _nodes(r) if n["terminal"]}
    assert terminals == {"b2 so \\boxed{7}": "answer", "b1x \\boxed{7}": "max_depth", "b1y \\boxed{8}": "max_depth"}
    assert [c.answer for c in r.candidates] == ["7", "7", "8"]
    assert r.answer == "7" and r.selected == 0 and r.candidates[0].score == pytest.approx(0.95)


def test_weighted_vote_sums_scores_per_answer(make_ctx):
    scores = {**SCORES, "b2 so \\boxed{7}": 0.2, "b1x \\boxed{7}": 0.3, "b1y \\boxed{8}": 0.45, "Done \\boxed{0}": 0.05}
    [r] = BeamSearch(n=4, beam_width=2, max_depth=3).run(P, _ctx(make_ctx, scores=scores))
    assert r.answer == "7"
    totals = next(e for e in r.trace if e.kind == "select").data["totals"]
    assert totals == pytest.approx({"7": 0.5, "8": 0.45, "0": 0.1})
    [best] = BeamSearch(n=4, beam_width=2, max_depth=3, select="score").run(P, _ctx(make_ctx, scores=scores))
    assert best.answer == "8"


def test_terminal_kinds(make_ctx):
    script = tree_script({(): ["p\n\nq", "fin \\boxed{3}", "eos-step", "\n\nempty"]})
    [r] = BeamSearch(n=4, beam_width=2, max_depth=2).run(P, _ctx(make_ctx, script))
    first = [n for n in _nodes(r) if n["depth"] == 1]
    assert [(n["step"], n["terminal"]) for n in first] == [
        ("p", None),
        ("fin \\boxed{3}", "answer"),
        ("eos-step", "eos"),
        ("", "empty"),
    ]


def test_a_model_that_never_writes_the_delimiter_is_cut_and_still_ends(make_ctx):
    ctx = _ctx(make_ctx, tree_script({}, default=["word " * 50]))
    [r] = BeamSearch(n=2, beam_width=1, max_depth=3, max_step_tokens=5).run(P, ctx)
    nodes = _nodes(r)[1:]
    cut = [n for n in nodes if n["depth"] < 3]
    assert cut and all(n["tokens"] == 5 and n["terminal"] is None for n in cut)
    assert all(n["terminal"] == "max_depth" for n in nodes if n["depth"] == 3)
    assert len(ctx.backend.inner.calls) == 3
    assert all(c.text.startswith("word word word word word") for c in r.candidates)


def test_one_backend_call_per_level_for_all_problems(make_ctx):
    problems = [Problem(f"What is {i} + 4?", id=f"q{i}") for i in range(3)]
    ctx = _ctx(make_ctx)
    results = run_chunks(BeamSearch(n=4, beam_width=2, max_depth=3), problems, ctx, 8)
    calls = ctx.backend.inner.calls
    assert len(calls) == 3
    assert [len(prompts) for prompts, _, _ in calls] == [3, 6, 3]
    for prompts, _, _ in calls:
        assert {next(p.id for p in problems if p.question in prompt) for prompt in prompts} == {"q0", "q1", "q2"}
    assert [r.answer for r in results] == ["7", "7", "7"]
    assert sum(r.usage.completion_tokens for r in results) == ctx.backend.usage.completion_tokens


def test_prompts_extend_their_parents_and_cached_tokens_grow_with_depth(make_ctx):
    deep = {(): ["s1\n\nx"], ("s1",): ["s2\n\nx"], ("s1", "s2"): ["s3\n\nx"], ("s1", "s2", "s3"): ["s4\n\nx"]}
    spy = SpyBackend(tree_script(deep))
    ctx = _ctx(make_ctx, backend=spy)
    [r] = BeamSearch(n=2, beam_width=2, max_depth=5).run(P, ctx)
    seen: list[str] = []
    for i, (prompts, _, _) in enumerate(spy.calls):
        if i:
            assert all(any(p.startswith(earlier) for earlier in seen) for p in prompts)
        seen.extend(prompts)
    per_call = [min(c) for c in spy.cached]
    assert per_call == sorted(per_call) and per_call[-1] > per_call[1] > per_call[0]
    assert r.usage.cached_prompt_tokens == sum(sum(c) for c in spy.cached) > 0


def test_dvts_subtrees_are_greedy_and_never_share_nodes(make_ctx):
    tree = {
        (): ["a\n\nx", "b\n\nx", "c\n\nx", "d\n\nx"],
        ("b",): ["b1 \\boxed{1}", "b2 \\boxed{1}"],
        ("c",): ["c1 \\boxed{2}", "c2 \\boxed{2}"],
        ("d",): ["d1 \\boxed{2}", "d2 \\boxed{2}"],
    }
    scores = {"a": 0.1, "b": 0.2, "c": 0.9, "d": 0.8}
    [dvts] = BeamSearch(n=4, beam_width=2, max_depth=2, subtrees=True).run(P, _ctx(make_ctx, tree_script(tree), scores))
    nodes = _nodes(dvts)
    kept = sorted(n["step"] for n in nodes if n["depth"] == 1 and n["pruned"] is None)
    assert kept == ["b", "c"]
    assert _by_step(dvts)["a"]["pruned"] == "rank 2 of 2 in group 0; 1 kept"
    groups = {g: {n["id"] for n in nodes[1:] if n["group"] == g} for g in (0, 1)}
    assert groups[0] and groups[1] and not groups[0] & groups[1]
    by_id = {n["id"]: n for n in nodes}
    for n in nodes[1:]:
        root_child = n
        while root_child["depth"] > 1:
            root_child = by_id[root_child["parent"]]
        assert root_child["group"] == n["group"] == (0 if root_child["step"] in "ab" else 1)
    assert {c.answer for c in dvts.candidates} == {"1", "2"}
    [beam] = BeamSearch(n=4, beam_width=2, max_depth=2).run(P, _ctx(make_ctx, tree_script(tree), scores))
    assert {c.answer for c in beam.candidates} == {"2"}


def test_bad_configurations_name_the_values(make_ctx):
    with pytest.raises(ConfigError, match="n=6, beam_width=4"):
        BeamSearch(n=6, beam_width=4)
    with pytest.raises(ConfigError, match="max_depth must be an integer >= 1, got 0"):
        BeamSearch(max_depth=0)
    with pytest.raises(ConfigError, match="select"):
        BeamSearch(select="best")
    with pytest.raises(ConfigError, match="max_completion_tokens=3 is smaller than n=8"):
        BeamSearch(n=8).run(P, _ctx(make_ctx, budget=Budget(max_completion_tokens=3)))
    with pytest.raises(ConfigError, match="process"):
        BeamSearch().run(P, make_ctx(backend=FakeBackend(tree_script(TREE))))


def test_budget_is_never_exceeded_and_the_tree_is_kept(make_ctx):
    ctx = _ctx(make_ctx, tree_script({}, default=["step here\n\nx"]), budget=Budget(max_completion_tokens=12))
    with pytest.raises(StrategyError) as info:
        run_chunks(BeamSearch(n=4, beam_width=2, max_depth=8), P, ctx, 8)
    cause = info.value.__cause__
    assert isinstance(cause, BudgetExhausted)
    assert ctx.backend.usage.completion_tokens <= 12
    [partial] = cause.partial
    assert partial.answer is None and len(_nodes(partial)) > 5
    assert partial.trace[-1].kind == "error"


def test_a_scorer_failure_raises_with_the_tree_so_far(make_ctx):
    ctx = _ctx(make_ctx)
    ctx.process_scorer = StepScores(SCORES, fail_on=2)
    with pytest.raises(StrategyError) as info:
        BeamSearch(n=4, beam_width=2, max_depth=3).run(P, ctx)
    assert isinstance(info.value.__cause__, ScorerError)
    [partial] = info.value.partial
    nodes = _nodes(partial)
    assert [n["step"] for n in nodes if n["depth"] == 1] == ["a", "b", "c", "d"]
    assert _by_step(partial)["b"]["value"] == 0.9 and _by_step(partial)["b1"]["value"] is None
    assert partial.trace[-1].data == {"type": "ScorerError", "message": "scripted scorer failure"}


def test_a_scorer_crash_that_is_not_a_ponder_error_keeps_the_tree_too(make_ctx):
    class Crashes:
        def score_steps(self, problem, candidates):
            raise KeyError("no such step")

    ctx = _ctx(make_ctx)
    ctx.process_scorer = Crashes()
    with pytest.raises(StrategyError, match="process scorer failed: KeyError") as info:
        BeamSearch(n=4, beam_width=2).run(P, ctx)
    assert isinstance(info.value.__cause__, ScorerError)
    [partial] = info.value.partial
    assert [n["step"] for n in _nodes(partial) if n["depth"] == 1] == ["a", "b", "c", "d"]


def test_an_empty_step_is_a_dead_end_not_a_candidate(make_ctx):
    script = tree_script({(): ["a\n\nx", "b\n\nx"], ("a",): ["\n\nfoo"], ("b",): ["b1 \\boxed{7}"]})
    ctx = _ctx(make_ctx, script, {"a": 0.9, "b": 0.8, "b1 \\boxed{7}": 0.6})
    [r] = BeamSearch(n=2, beam_width=1, max_depth=3, select="score").run(P, ctx)
    [empty] = [n for n in _nodes(r) if n["terminal"] == "empty"]
    assert (empty["score"], empty["value"]) == (0.0, 0.0)  # not its parent's score
    assert [c.answer for c in r.candidates] == ["7"] and r.answer == "7"


def test_a_malformed_scorer_reply_is_a_scorer_error(make_ctx):
    class Short:
        def score_steps(self, problem, candidates):
            return [[0.5]]

    ctx = _ctx(make_ctx)
    ctx.process_scorer = Short()
    with pytest.raises(StrategyError, match="1 score lists for 4 candidates") as info:
        BeamSearch(n=4, beam_width=2).run(P, ctx)
    assert isinstance(info.value.__cause__, ScorerError)


@pytest.mark.parametrize("scores", [[[None, None]], [["high"]]])
def test_scores_that_are_not_numbers_are_a_scorer_error_that_keeps_the_tree(make_ctx, scores):
    class Odd:
        def score_steps(self, problem, candidates):
            return [list(scores[0])[: len(c)] + [None] * (len(c) - len(scores[0])) for c in candidates]

    ctx = _ctx(make_ctx)
    ctx.process_scorer = Odd()
    with pytest.raises(StrategyError, match="process scorer's scores failed") as info:
        BeamSearch(n=4, beam_width=2).run(P, ctx)
    assert isinstance(info.value.__cause__, ScorerError)
    [partial] = info.value.partial
    assert [n["step"] for n in _nodes(partial) if n["depth"] == 1] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("subtrees", [False, True])
def test_leaves_with_the_same_text_grow_different_children(make_ctx, subtrees):
    """Every sample of the first step is the same text; kept beams (or DVTS subtrees) must still draw their
    own samples below it, not copies of one another's (each leaf has its own sample positions)."""

    def script(prompt, index, seed):
        return "Start.\n\nx" if not generated(prompt) else f"Answer \\boxed{{{seed % 1000003}}}"

    ctx = _ctx(make_ctx, script, scores={})
    [r] = BeamSearch(n=8, beam_width=2, max_depth=2, select="score", subtrees=subtrees).run(P, ctx)
    assert len(r.candidates) == 8 and len({c.text for c in r.candidates}) == 8


def test_lookahead_values_a_step_by_its_greedy_rollout(make_ctx):
    tree = {
        (): ["a\n\nx", "b\n\nx"],
        ("a",): ["a-bad\n\nx"],
        ("b",): ["b-good\n\nx"],
    }
    scores = {"a": 0.9, "b": 0.4, "a-bad": 0.1, "b-good": 0.95}
    plain = BeamSearch(n=2, beam_width=2, max_depth=2, agg="min")
    [r0] = plain.run(P, _ctx(make_ctx, tree_script(tree), scores))
    assert _by_step(r0)["b"]["pruned"] and not _by_step(r0)["a"]["pruned"]
    ctx = _ctx(make_ctx, tree_script(tree), scores)
    [r1] = Lookahead(n=2, beam_width=2, max_depth=2, agg="min", lookahead=1).run(P, ctx)
    nodes = _by_step(r1)
    assert nodes["a"]["pruned"] and not nodes["b"]["pruned"]
    assert nodes["a"]["lookahead"] == "a-bad\n\n" and nodes["a"]["score"] == 0.9 and nodes["a"]["value"] == 0.1
    assert "a-bad" not in nodes, "rollouts are estimates, not tree nodes"
    rollout_call = ctx.backend.inner.calls[1]
    assert rollout_call[1].temperature == 0.0 and rollout_call[2] == 1 and len(rollout_call[0]) == 2


def test_lookahead_rolls_out_k_steps(make_ctx):
    tree = {(): ["a\n\nx"], ("a",): ["l1\n\nx"], ("a", "l1"): ["l2\n\nx"], ("a", "l1", "l2"): ["l3\n\nx"]}
    ctx = _ctx(make_ctx, tree_script(tree), {})
    [r] = Lookahead(n=1, beam_width=1, max_depth=2, lookahead=2).run(P, ctx)
    assert _by_step(r)["a"]["lookahead"] == "l1\n\nl2\n\n"
    assert ctx.process_scorer.calls[0][1] == [["a", "l1", "l2"]]


def test_an_outcome_scorer_alone_scores_partial_solutions(make_ctx):
    ctx = make_ctx(backend=FakeBackend(tree_script(TREE)))
    ctx.scorer = AnswerScores({"7": 0.9, "8": 0.2})
    [r] = BeamSearch(n=4, beam_width=2, max_depth=3).run(P, ctx)
    assert ctx.process_scorer is None, "the caller's context is left as it was"
    assert r.answer == "7" and ctx.scorer.calls > 0


def test_a_scorer_that_takes_the_prompt_gets_the_rendered_generation_prompt(make_ctx):
    class WithPrompt(StepScores):
        def score_steps(self, problem, candidates, prompt=None):
            self.prompts.append(prompt)
            return super().score_steps(problem, candidates)

    ctx = _ctx(make_ctx)
    ctx.process_scorer = scorer = WithPrompt(SCORES)
    scorer.prompts = []
    BeamSearch(n=4, beam_width=2, max_depth=3).run(P, ctx)
    first_prompt = ctx.backend.inner.calls[0][0][0]
    assert scorer.prompts and set(scorer.prompts) == {first_prompt}
    assert first_prompt.endswith("<|assistant|>\n") and P[0].question in first_prompt
