"""Early-stopping self-consistency: the Beta criterion, the unassailable lead, and the trace."""

from __future__ import annotations

import math

import pytest

from ponder.adaptive.stopping import beta_majority_probability, decide
from ponder.api import run_chunks
from ponder.backends.fake import FakeBackend
from ponder.errors import ConfigError
from ponder.strategies.adaptive import ProbeSampler
from ponder.strategies.self_consistency import SelfConsistency
from ponder.types import Candidate, Problem
from tests.adaptive.scripts import sequence_script

Q = [Problem("What is 6 * 7?", id="q")]


def test_beta_probability_is_the_exact_beta_tail():
    # P(p > 1/2) for p ~ Beta(v1 + 1, v2 + 1) equals P(Binomial(v1 + v2 + 1, 1/2) <= v1).
    assert beta_majority_probability(0, 0) == 0.5
    assert beta_majority_probability(4, 0) == 1 - 1 / 32
    assert beta_majority_probability(3, 3) == pytest.approx(0.5)
    assert beta_majority_probability(5, 2) == pytest.approx(sum(math.comb(8, j) for j in range(6)) / 2**8)
    assert beta_majority_probability(6, 1) > beta_majority_probability(5, 2) > beta_majority_probability(4, 3)


def test_decide_unassailable_and_ties_go_to_the_first_seen():
    assert decide([5, 1], True, 6, 10, None).stop  # lead 4 == 4 remaining, leader first: a tie still loses
    assert not decide([5, 1], False, 6, 10, None).stop
    assert decide([6, 1], False, 7, 10, None).reason == "unassailable"
    assert decide([4, 0], True, 4, 16, 0.95).reason == "beta"
    assert decide([3, 0], True, 3, 16, 0.95).reason == "continue"


def _run(make_ctx, answers, **params):
    ctx = make_ctx(backend=FakeBackend(sequence_script(answers)))
    [res] = run_chunks(SelfConsistency(early_stop=True, **params), Q, ctx, 1)
    stop = next(e for e in res.trace if e.kind == "stop")
    return res, stop.data, ctx


def test_stops_exactly_when_the_lead_becomes_unassailable(make_ctx):
    # 42,41,42,42,42...: after 5 samples 42 leads 4-1 with 3 left, and wins any tie: settled.
    res, stop, ctx = _run(make_ctx, ["42", "41", "42", "42", "42"], n=8, batch=1, confidence=None)
    assert (stop["after"], stop["reason"]) == (5, "unassailable")
    assert stop["why"] == (
        "the leader's lead of 3 equals (and ties go to the leader, seen first) what 3 remaining samples could overturn"
    )
    assert len(res.candidates) == 5 and res.answer == "42"
    assert sum(n for _, _, n in ctx.backend.inner.calls) == 5


def test_batches_stop_at_the_first_batch_boundary_after_settling(make_ctx):
    res, stop, _ = _run(make_ctx, ["42", "41", "42", "42", "42"], n=8, batch=2, confidence=None)
    assert (stop["after"], stop["reason"]) == (6, "unassailable") and len(res.candidates) == 6
    assert stop["why"] == "the leader's lead of 4 exceeds what 2 remaining samples could overturn"


def test_beta_criterion_stops_unanimous_questions_early(make_ctx):
    _, stop, _ = _run(make_ctx, ["42"], n=16, batch=1, confidence=0.95)
    assert (stop["after"], stop["reason"]) == (4, "beta")  # P = 1 - 2^-5 = 0.969 after 4 agreeing samples
    _, stop, _ = _run(make_ctx, ["42"], n=16, batch=1, confidence=0.99)
    assert (stop["after"], stop["reason"]) == (6, "beta")  # 1 - 2^-7 >= 0.99 first at 6
    assert stop["p_majority"] == pytest.approx(1 - 2**-7)


def test_a_split_vote_spends_the_whole_budget(make_ctx):
    res, stop, _ = _run(make_ctx, ["42", "41"] * 8, n=8, batch=2, confidence=0.95)
    assert (stop["after"], stop["reason"]) == (8, "n") and len(res.candidates) == 8


def test_early_stop_gives_the_full_runs_answer_and_its_first_samples(make_ctx):
    plain_ctx = make_ctx(backend=FakeBackend())
    [plain] = run_chunks(SelfConsistency(n=16), Q, plain_ctx, 1)
    ctx = make_ctx(backend=FakeBackend())
    [early] = run_chunks(SelfConsistency(n=16, early_stop=True, batch=4, confidence=None), Q, ctx, 1)
    assert early.answer == plain.answer
    k = len(early.candidates)
    assert 4 <= k < 16  # stopped after a later batch than the first
    assert [c.text for c in early.candidates] == [c.text for c in plain.candidates[:k]]  # later batches too
    assert early.usage.completion_tokens <= plain.usage.completion_tokens


def test_early_stop_over_a_sampler_strategy_continues_its_seeds(make_ctx):
    """A sampler without draw() is run once per sample with its own seed: later batches must not repeat them."""
    plain_ctx = make_ctx(backend=FakeBackend())
    [plain] = run_chunks(SelfConsistency(n=8, sampler=SelfConsistency(n=1)), Q, plain_ctx, 1)
    ctx = make_ctx(backend=FakeBackend())
    [early] = run_chunks(SelfConsistency(n=8, sampler=SelfConsistency(n=1), early_stop=True, batch=2), Q, ctx, 1)
    k = len(early.candidates)
    assert k > 2 and [c.text for c in early.candidates] == [c.text for c in plain.candidates[:k]]


def test_a_probe_sampler_batch_continues_after_its_first_sample(make_ctx):
    ctx = make_ctx(backend=FakeBackend(sequence_script([str(i) for i in range(10)])))
    probes = {"q": [Candidate(text=f"probe {i}", answer=str(i), n_tokens=1) for i in range(4)]}
    later = ProbeSampler(probes).draw(Q, ctx, ctx.params.replace(first_sample=2), 4)
    assert [c.answer for c in later[0]] == ["2", "3", "4", "5"]  # probes 2, 3, then new samples 4 and 5
    after = ProbeSampler(probes).draw(Q, ctx, ctx.params.replace(first_sample=6), 2)
    assert [c.answer for c in after[0]] == ["6", "7"]


@pytest.mark.parametrize("bad", [{"confidence": 0.3}, {"batch": 0}, {"confidence": 1.5}])
def test_bad_early_stop_settings_are_config_errors(bad):
    with pytest.raises(ConfigError, match=str(next(iter(bad.values())))):
        SelfConsistency(early_stop=True, **bad)
