"""Core types, errors, registry and metering."""

from __future__ import annotations

import pytest

from ponder.backends.fake import FakeBackend
from ponder.budget import Budget, Meter, Metered
from ponder.errors import BackendError, BudgetExhausted, ConfigError, ScorerError
from ponder.registry import Registry
from ponder.scorers.base import aggregate
from ponder.types import Problem, SamplingParams, Usage


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", -0.1),
        ("temperature", float("nan")),
        ("top_p", 0.0),
        ("top_p", 1.5),
        ("max_tokens", 0),
        ("top_k", -1),
        ("stop", "\n"),
        ("stop", ("",)),
        ("logprobs", 21),
        ("first_sample", -1),
        ("offsets", (0, -2)),
    ],
)
def test_invalid_sampling_params_show_the_value(field, value):
    with pytest.raises(ConfigError, match=field) as info:
        SamplingParams(**{field: value})
    assert repr(value) in str(info.value)


def test_sample_seeds_are_distinct_and_reproducible():
    p = SamplingParams(seed=5)
    seeds = [p.sample_seed(i) for i in range(64)]
    assert len(set(seeds)) == 64 and seeds == [SamplingParams(seed=5).sample_seed(i) for i in range(64)]
    assert SamplingParams(seed=None).sample_seed(3) is None
    shifted = SamplingParams(seed=5, first_sample=1, offsets=(0, 3))
    assert [shifted.sample_seed(i, 1) for i in range(2)] == seeds[4:6] and shifted.sample_seed(0, 0) == seeds[1]
    assert shifted.subset([1]).offsets == (3,) and SamplingParams(seed=5).subset([4]).offsets == ()


def test_empty_question_is_an_error():
    with pytest.raises(ConfigError, match="question"):
        Problem("   ")


def test_registry_suggests_close_names_and_imports_lazily():
    reg: Registry[object] = Registry("strategy", {"self_consistency": "json:dumps", "best_of_n": "json:loads"})
    with pytest.raises(ConfigError, match=r"Did you mean 'self_consistency'"):
        reg.get("self_consistensy")
    import json

    assert reg.get("best_of_n") is json.loads
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("best_of_n", "json:dumps")


def test_registry_reports_missing_optional_dependency():
    reg: Registry[object] = Registry("backend", {"vllm": "no_such_module_xyz:Engine"})
    with pytest.raises(ConfigError, match="optional extra"):
        reg.get("vllm")


def test_meter_charges_tokens_flops_and_tags():
    backend = Metered(FakeBackend(["one two three"], n_params=1000))
    backend.generate(["a b", "a b c"], SamplingParams(), n=2, tags=["x", "y"])
    u = backend.usage
    assert (u.prompt_tokens, u.cached_prompt_tokens, u.completion_tokens, u.calls) == (5, 2, 12, 1)
    assert u.flops == 2 * 1000 * (5 - 2 + 12)
    x, y = backend.meter.usage_for("x"), backend.meter.usage_for("y")
    assert (x.prompt_tokens, x.completion_tokens, y.cached_prompt_tokens, y.calls) == (2, 6, 2, 1)
    assert x.flops + y.flops == u.flops
    assert x.wall_seconds + y.wall_seconds == pytest.approx(u.wall_seconds)


def test_budget_shrinks_the_last_call_and_then_refuses():
    backend = Metered(FakeBackend(["w " * 50]), Meter(Budget(max_completion_tokens=30)))
    backend.generate(["q"], SamplingParams(max_tokens=20), n=1)
    assert backend.usage.completion_tokens == 20
    out = backend.generate(["q"], SamplingParams(max_tokens=20), n=2)  # 10 left: 5 each
    assert [c.n_tokens for c in out[0].completions] == [5, 5]
    with pytest.raises(BudgetExhausted, match="max_completion_tokens=30"):
        backend.generate(["q"], SamplingParams(max_tokens=20))


def test_budget_rejects_nonpositive_caps():
    with pytest.raises(ConfigError, match="-5"):
        Budget(max_calls=-5)


def test_usage_adds_up():
    assert Usage(1, 0, 2, 1, 3.0, 0.5) + Usage(1, 1, 1, 1, 1.0, 0.5) == Usage(2, 1, 3, 2, 4.0, 1.0)


@pytest.mark.parametrize(
    ("how", "expected"), [("min", 0.2), ("prod", 0.9 * 0.2 * 0.5), ("last", 0.5), ("mean", (0.9 + 0.2 + 0.5) / 3)]
)
def test_step_score_aggregation(how, expected):
    assert aggregate([0.9, 0.2, 0.5], how) == pytest.approx(expected)


@pytest.mark.parametrize("scores", [[], [float("nan"), 0.9], [0.9, 0.2, float("nan")]])
@pytest.mark.parametrize("how", ["min", "prod", "last", "mean"])
def test_no_or_nan_step_scores_are_a_scorer_error_whatever_their_order(scores, how):
    with pytest.raises(ScorerError):
        aggregate(scores, how)


def test_unknown_aggregation_is_an_error():
    with pytest.raises(ConfigError, match="median"):
        aggregate([0.5], "median")


def test_fake_backend_stop_strings_and_length():
    backend = FakeBackend(["alpha beta\n\ngamma delta epsilon"])
    [g] = backend.generate(["p"], SamplingParams(stop=("\n\n",)))
    c = g.completions[0]
    assert (c.text, c.finish_reason, c.stop_reason) == ("alpha beta", "stop", "\n\n")
    [g] = backend.generate(["p"], SamplingParams(max_tokens=3))
    assert (g.completions[0].n_tokens, g.completions[0].finish_reason) == (3, "length")


def test_a_capped_call_runs_as_many_prompts_at_full_length_as_fit_before_sharing():
    """100 tokens left, 4 prompts of up to 40 tokens, each answered in 11: sizing by max_tokens alone would
    cut every sample to 25; instead the call runs prompts at full length while the others keep a token each,
    re-sized after each part from what was really spent, and no sample is cut."""
    inner = FakeBackend(["w " * 10])  # 11 tokens
    backend = Metered(inner, Meter(Budget(max_completion_tokens=100)))
    out = backend.generate(["a", "b", "c", "d"], SamplingParams(max_tokens=40, offsets=(0, 1, 2, 3)), tags=list("abcd"))
    assert [c.n_tokens for g in out for c in g.completions] == [11, 11, 11, 11]
    # (100 - 4) // 39 = 2 prompts at full length; then 78 left: (78 - 2) // 39 = 1; then 67 >= 40: the last
    assert [len(p) for p, _, _ in inner.calls] == [2, 1, 1]
    assert [params.offsets for _, params, _ in inner.calls] == [(0, 1), (2,), (3,)]
    assert {params.max_tokens for _, params, _ in inner.calls} == {40}
    assert backend.usage.calls == 3 and backend.meter.usage_for("d").completion_tokens == 11
    out = backend.generate(["e", "f"], SamplingParams(max_tokens=40), n=2)  # 56 left < 80 per prompt: shared
    assert [c.n_tokens for g in out for c in g.completions] == [11] * 4 and inner.calls[-1][1].max_tokens == 14


def test_a_failure_after_part_of_a_capped_call_reports_every_generation_it_paid_for():
    backend = Metered(FakeBackend(["w " * 10], fail_on_call=2), Meter(Budget(max_completion_tokens=100)))
    with pytest.raises(BackendError, match="fail on call 2") as info:
        backend.generate(["a", "b", "c", "d"], SamplingParams(max_tokens=40))
    assert len(info.value.spent) == 2 and backend.usage.completion_tokens == 22  # the first part, charged once
    outer = Metered(backend)  # a view over it charges what the whole call spent before failing
    backend.inner.fail_on_call = 4
    with pytest.raises(BackendError):
        outer.generate(["e", "f", "g"], SamplingParams(max_tokens=40))  # 78 left: one prompt, then call 4 fails
    assert outer.usage.completion_tokens == 11 and backend.usage.completion_tokens == 33


def test_a_call_cap_keeps_a_capped_call_whole_and_offsets_must_match_prompts():
    inner = FakeBackend(["w " * 10])
    backend = Metered(inner, Meter(Budget(max_completion_tokens=100, max_calls=1)))
    out = backend.generate(["a", "b", "c", "d"], SamplingParams(max_tokens=40))  # one call, 25 tokens each
    assert len(out) == 4 and len(inner.calls) == 1 and inner.calls[0][1].max_tokens == 25
    with pytest.raises(ConfigError, match="3 offsets for 4 prompts"):
        Metered(FakeBackend()).generate(["a", "b", "c", "d"], SamplingParams(offsets=(0, 1, 2)))
