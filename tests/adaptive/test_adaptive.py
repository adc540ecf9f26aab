"""The adaptive strategy: probe reuse, bins in the trace, budget floors, policy files, batch budgets."""

from __future__ import annotations

import pytest

from ponder.adaptive.policy import Entry, Policy, save_policy
from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.budget import Budget
from ponder.errors import ConfigError
from ponder.types import Problem
from tests.adaptive.scripts import sequence_script

EASY, HARD = Problem("Easy question?", id="easy"), Problem("Hard question?", id="hard")
ANSWERS = {"Easy": ["42"], "Hard": ["1", "2", "3", "1", "2", "3", "1"]}


def _events(result, kind):
    return [e.data for e in result.trace if e.kind == kind]


def _policy(tmp_path, strategy, budget, params, *, probe=2, model="fake", estimator="agreement", scorer=None) -> str:
    """A policy file with one entry (bin 0) for ``strategy`` at ``budget``."""
    entry = Entry(bin=0, budget=budget, strategy=strategy, params=params)
    policy = Policy(model=model, task="math", scorer=scorer, estimator=estimator, probe=probe, entries=[entry])
    return str(save_policy(policy, tmp_path / "policy.json"))


def _drawn(ctx) -> int:
    """Samples the backend generated, over all calls and prompts."""
    return sum(n * len(prompts) for prompts, _, n in ctx.backend.inner.calls)


def test_default_policy_keeps_easy_probes_and_reuses_them_for_hard_ones(make_ctx):
    ctx = make_ctx(backend=FakeBackend(sequence_script(ANSWERS)))
    easy, hard = run_chunks(get_strategy("adaptive", budget=8), [EASY, HARD], ctx, 8)
    assert _events(easy, "difficulty")[0]["bin"] == 0 and len(easy.candidates) == 4
    assert _events(hard, "difficulty")[0]["bin"] == 1 and len(hard.candidates) == 8
    assert "in [0.125, inf) -> bin 1 of 2" in _events(hard, "difficulty")[0]["why"]
    # The probe's 4 samples are the hard question's first 4 candidates: 4 + 4 samples, not 4 + 8.
    generated = {p: 0 for p in ("Easy", "Hard")}
    for prompts, _, n in ctx.backend.inner.calls:
        for prompt in prompts:
            generated["Easy" if "Easy" in prompt else "Hard"] += n
    assert generated == {"Easy": 4, "Hard": 8}
    assert [c.answer for c in hard.candidates[:4]] == ["1", "2", "3", "1"]
    assert easy.usage.completion_tokens < hard.usage.completion_tokens


def test_budget_below_the_cheapest_entry_uses_it_and_says_so(make_ctx, tmp_path):
    path = _policy(tmp_path, "self_consistency", 4, {"n": 4})
    ctx = make_ctx(backend=FakeBackend())
    [res] = run_chunks(get_strategy("adaptive", policy=path, budget=2), [EASY], ctx, 1)
    why = _events(res, "policy")[0]["why"]
    assert "budget 2 is below the cheapest entry (4)" in why and len(res.candidates) == 4


def test_a_policy_calibrated_with_a_scorer_needs_one_before_anything_is_sampled(make_ctx, tmp_path):
    path = _policy(tmp_path, "best_of_n", 4, {"n": 4}, scorer="confidence")
    ctx = make_ctx(backend=FakeBackend())
    with pytest.raises(ConfigError, match=r"calibrated with scorer 'confidence'.*pass --scorer confidence"):
        run_chunks(get_strategy("adaptive", policy=path, budget=4), [EASY], ctx, 1)
    assert _drawn(ctx) == 0


def test_a_policy_for_another_model_warns_and_is_traced(make_ctx, tmp_path):
    path = _policy(tmp_path, "self_consistency", 1, {"n": 2}, model="other", estimator="entropy")
    ctx = make_ctx(backend=FakeBackend())
    with pytest.warns(UserWarning, match="model 'other' but this run uses model 'fake'"):
        [res] = run_chunks(get_strategy("adaptive", policy=path), [EASY], ctx, 1)
    assert _events(res, "warning")


def test_a_policy_for_reasoning_warns_when_the_task_solves_with_programs(tmp_path):
    from ponder.api import make_context
    from ponder.catalog import make_registries
    from ponder.tasks.math_answer import MathAnswerTask

    path = _policy(tmp_path, "self_consistency", 2, {"n": 2})  # calibrated on task "math", reasoning
    ctx = make_context(FakeBackend(), MathAnswerTask(solve_with="program"), make_registries())
    with pytest.warns(UserWarning, match="task 'math' but this run uses task 'math, solve_with=program'"):
        run_chunks(get_strategy("adaptive", policy=path), [EASY], ctx, 1)


def test_non_reusing_choices_run_afresh_and_keep_the_probe_as_candidates(make_ctx, tmp_path):
    path = _policy(tmp_path, "cot", 4, {})
    ctx = make_ctx(backend=FakeBackend())
    [res] = run_chunks(get_strategy("adaptive", policy=path, budget=4), [EASY], ctx, 1)
    assert len(res.candidates) == 3 and res.candidates[res.selected].answer == res.answer


def test_a_non_reusing_choice_draws_past_the_probe(make_ctx, tmp_path):
    """revisions drafts from the question's prompt, as the probe did: it must not draw the probe's samples
    (and seeds) again, which would pay for them twice and list them twice."""
    path = _policy(tmp_path, "revisions", 6, {"n": 4, "sequential": 1})
    ctx = make_ctx(backend=FakeBackend(lambda prompt, index, seed: f"\\boxed{{{index}}}"))
    [res] = run_chunks(get_strategy("adaptive", policy=path, budget=6), [EASY], ctx, 1)
    assert sorted(int(c.answer) for c in res.candidates) == [0, 1, 2, 3, 4, 5]
    assert [p.first_sample for _, p, _ in ctx.backend.inner.calls] == [0, 2]


def test_a_reusing_choice_takes_every_paid_probe_sample(make_ctx, tmp_path):
    path = _policy(tmp_path, "self_consistency", 2, {"n": 2}, probe=3)
    ctx = make_ctx(backend=FakeBackend(["\\boxed{41}", "\\boxed{42}", "\\boxed{42}"]))
    [res] = run_chunks(get_strategy("adaptive", policy=path, budget=3), [EASY], ctx, 1)
    assert [c.answer for c in res.candidates] == ["41", "42", "42"] and res.answer == "42"
    assert _drawn(ctx) == 3


def test_a_batch_token_budget_is_never_exceeded_and_goes_to_hard_questions(make_ctx):
    problems = [Problem(f"Easy question {i}?", id=f"e{i}") for i in range(3)]
    problems += [Problem(f"Hard question {i}?", id=f"h{i}") for i in range(3)]
    cap = 300
    ctx = make_ctx(backend=FakeBackend(sequence_script(ANSWERS)), budget=Budget(max_completion_tokens=cap))
    results = run_chunks(get_strategy("adaptive", budget=16), problems, ctx, len(problems))
    assert ctx.backend.usage.completion_tokens <= cap
    assert sum(r.usage.completion_tokens for r in results) == ctx.backend.usage.completion_tokens
    counts = {r.problem_id: len(r.candidates) for r in results}
    assert all(counts[f"e{i}"] == 4 for i in range(3)) and all(counts[f"h{i}"] > 4 for i in range(3))
    assert _events(results[0], "allocate")[0]["tokens_left"] <= cap


def test_a_tiny_batch_budget_falls_back_to_the_probe_vote(make_ctx):
    ctx = make_ctx(backend=FakeBackend(sequence_script(ANSWERS)), budget=Budget(max_completion_tokens=60))
    [res] = run_chunks(get_strategy("adaptive", budget=16), [Problem("Hard question?", id="h")], ctx, 1)
    assert ctx.backend.usage.completion_tokens <= 60
    assert res.answer == "1" and len(res.candidates) == 4


@pytest.mark.parametrize(
    ("early_stop", "confidence", "samples", "reason"),
    [(False, 0.95, 16, None), (True, 0.95, 4, "beta"), (True, None, 8, "unassailable")],
)
def test_early_stop_settles_a_self_consistency_choice_on_the_probes_samples(
    make_ctx, tmp_path, early_stop, confidence, samples, reason
):
    path = _policy(tmp_path, "self_consistency", 16, {"n": 16})
    ctx = make_ctx(backend=FakeBackend(sequence_script(["7"])))
    params = {"policy": path, "budget": 16, "early_stop": early_stop, "confidence": confidence}
    [res] = run_chunks(get_strategy("adaptive", **params), [EASY], ctx, 1)
    assert res.answer == "7" and len(res.candidates) == samples
    # Probe (2) plus the choice's own samples: the probe's are its first batch, not drawn again.
    assert _drawn(ctx) == samples
    stops = _events(res, "stop")
    assert [s["reason"] for s in stops] == ([] if reason is None else [reason])
    assert not stops or stops[0]["after"] == samples


def test_early_stop_leaves_other_choices_as_they_are(make_ctx, tmp_path):
    path = _policy(tmp_path, "best_of_n", 4, {"n": 4})
    ctx = make_ctx(backend=FakeBackend(sequence_script(["7"])), scorer="rule")
    [res] = run_chunks(get_strategy("adaptive", policy=path, budget=4, early_stop=True), [EASY], ctx, 1)
    assert len(res.candidates) == 4 and not _events(res, "stop")


def test_adaptive_confidence_out_of_range_names_the_value():
    with pytest.raises(ConfigError, match=r"adaptive confidence must be in \(0.5, 1\] or None, got 0.3"):
        get_strategy("adaptive", confidence=0.3)


def test_early_stop_decides_only_once_the_whole_probe_is_seen(make_ctx, tmp_path):
    path = _policy(tmp_path, "self_consistency", 16, {"n": 16, "batch": 2}, probe=4)
    ctx = make_ctx(backend=FakeBackend(sequence_script(["7"])))
    # At confidence 0.85, 2 agreeing samples would settle the vote (P = 0.875), but 4 are already paid for.
    params = {"policy": path, "budget": 16, "early_stop": True, "confidence": 0.85}
    [res] = run_chunks(get_strategy("adaptive", **params), [EASY], ctx, 1)
    assert len(res.candidates) == 4 and [s["after"] for s in _events(res, "stop")] == [4]
    assert _drawn(ctx) == 4


def test_an_entrys_own_early_stopping_is_kept(make_ctx, tmp_path):
    own = {"n": 16, "early_stop": True, "confidence": None}
    path = _policy(tmp_path, "self_consistency", 16, own)
    ctx = make_ctx(backend=FakeBackend(sequence_script(["7"])))
    [res] = run_chunks(get_strategy("adaptive", policy=path, budget=16, early_stop=True), [EASY], ctx, 1)
    assert [s["reason"] for s in _events(res, "stop")] == ["unassailable"] and len(res.candidates) == 8
