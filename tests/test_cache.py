"""The SQLite generation cache: prefix reuse across budgets, free repeats, metering above it, threads."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from ponder.api import make_context
from ponder.backends.fake import FakeBackend, FakeReply
from ponder.budget import Meter, Metered
from ponder.cache import CachedBackend, SampleStore, sample_key
from ponder.catalog import make_registries
from ponder.errors import ConfigError
from ponder.strategies.self_consistency import SelfConsistency
from ponder.tasks.math_answer import MathAnswerTask
from ponder.types import Problem, SamplingParams

PARAMS = SamplingParams(seed=3, max_tokens=64)
PROMPTS = ["<|user|>\nWhat is 6 * 7?\n<|assistant|>\n", "<|user|>\nWhat is 2 + 2?\n<|assistant|>\n"]


def texts(generations):
    return [[c.text for c in g.completions] for g in generations]


def test_fake_backend_sample_i_does_not_depend_on_n():
    """The property the cache relies on: sample i is a function of (prompt, i, sample_seed(i)) only."""
    fake = FakeBackend()
    eight = texts(fake.generate(PROMPTS, PARAMS, 8))
    four = texts(fake.generate(PROMPTS, PARAMS, 4))
    assert [row[:4] for row in eight] == four
    assert PARAMS.sample_seed(2) == PARAMS.replace(max_tokens=9).sample_seed(2)


def test_repeated_call_makes_no_backend_call(tmp_path: Path):
    fake = FakeBackend()
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    first = cached.generate(PROMPTS, PARAMS, 4)
    assert len(fake.calls) == 1 and cached.stats.misses == 8 and cached.stats.hits == 0
    again = cached.generate(PROMPTS, PARAMS, 4)
    assert len(fake.calls) == 1 and cached.stats.hits == 8
    assert texts(again) == texts(first)
    assert [g.prompt_tokens for g in again] == [g.prompt_tokens for g in first]


def test_budget_4_after_budget_8_is_free_and_gets_the_first_4(tmp_path: Path):
    fake = FakeBackend()
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    eight = cached.generate(PROMPTS, PARAMS, 8)
    four = cached.generate(PROMPTS, PARAMS, 4)
    assert len(fake.calls) == 1
    assert texts(four) == [row[:4] for row in texts(eight)]
    assert texts(four) == texts(FakeBackend().generate(PROMPTS, PARAMS, 4))  # what an uncached run gives


def test_a_larger_budget_generates_only_the_new_samples(tmp_path: Path):
    fake = FakeBackend()
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    four = cached.generate(PROMPTS, PARAMS, 4)
    eight = cached.generate(PROMPTS, PARAMS, 8)
    assert len(fake.calls) == 2 and fake.calls[1][2] == 4  # the second call asked for samples 4..7 only
    assert fake.calls[1][1].first_sample == 4
    assert cached.stats.hits == 8 and cached.stats.misses == 8 + 8
    assert [row[:4] for row in texts(eight)] == texts(four)
    assert texts(eight) == texts(FakeBackend().generate(PROMPTS, PARAMS, 8))  # what an uncached run gives
    assert len(cached.store) == 16


def test_prompts_missing_different_samples_are_generated_from_their_own_first_gap(tmp_path: Path):
    fake = FakeBackend()
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    cached.generate(PROMPTS[:1], PARAMS, 2)
    both = cached.generate(PROMPTS, PARAMS, 3)
    asked = sorted((call[1].first_sample, call[2], len(call[0])) for call in fake.calls[1:])
    assert asked == [(0, 3, 1), (2, 1, 1)]  # prompt 1 from scratch, prompt 0 only its third sample
    assert texts(both) == texts(FakeBackend().generate(PROMPTS, PARAMS, 3))


def test_first_sample_continues_a_run_exactly():
    fake = FakeBackend()
    whole = texts(fake.generate(PROMPTS, PARAMS, 6))
    tail = texts(fake.generate(PROMPTS, PARAMS.replace(first_sample=2), 4))
    assert tail == [row[2:] for row in whole]
    assert PARAMS.replace(first_sample=2).sample_seed(1) == PARAMS.sample_seed(3)
    assert sample_key("fake", "m", "p", PARAMS.replace(first_sample=2), 1) == sample_key("fake", "m", "p", PARAMS, 3)
    with pytest.raises(ConfigError, match="-1"):
        PARAMS.replace(first_sample=-1)


def test_chains_at_offsets_share_samples_with_plain_calls(tmp_path: Path):
    """A call with per-prompt offsets reads and writes the samples at those positions, both ways; a prompt
    whose sample is missing is generated with its own offset."""
    fake = FakeBackend(lambda prompt, index, seed: f"sample {index} seed {seed}")
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    plain = texts(cached.generate(PROMPTS[:1], PARAMS, 3))[0]
    again = texts(cached.generate([PROMPTS[0]] * 2 + [PROMPTS[1]], PARAMS.replace(offsets=(2, 0, 4)), 1))
    assert again[:2] == [[plain[2]], [plain[0]]] and again[2] == [f"sample 4 seed {PARAMS.sample_seed(4)}"]
    assert [(p, c.offsets) for p, c, _ in fake.calls[1:]] == [((PROMPTS[1],), (4,))]
    later = texts(cached.generate(PROMPTS[1:], PARAMS, 5))[0]
    assert later[4] == again[2][0] and len(fake.calls) == 3 and fake.calls[2][1].offsets == ()


def test_unseeded_calls_and_different_params_are_not_shared(tmp_path: Path):
    fake = FakeBackend()
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    unseeded = PARAMS.replace(seed=None)
    cached.generate(PROMPTS, unseeded, 2)
    cached.generate(PROMPTS, unseeded, 2)
    assert len(fake.calls) == 2 and len(cached.store) == 0
    cached.generate(PROMPTS, PARAMS, 2)
    cached.generate(PROMPTS, PARAMS.replace(temperature=0.3), 2)
    cached.generate(PROMPTS, PARAMS.replace(seed=4), 2)
    assert len(fake.calls) == 5
    assert sample_key("fake", "m", "p", PARAMS, 0) != sample_key("fake", "m2", "p", PARAMS, 0)


class Served(FakeBackend):
    """A fake HTTP backend: the same model name, served from ``url``."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.identity = f"{self.model}@{url}"


def test_two_servers_with_one_model_name_do_not_share_samples(tmp_path: Path):
    store = SampleStore(tmp_path / "c.sqlite")
    first, second = Served("http://a/v1"), Served("http://b/v1")
    CachedBackend(first, store, owner=False).generate(PROMPTS, PARAMS, 2)
    CachedBackend(second, store, owner=False).generate(PROMPTS, PARAMS, 2)
    assert len(second.calls) == 1  # not replayed from the other server's samples
    again = Served("http://a/v1")
    CachedBackend(again, store, owner=False).generate(PROMPTS, PARAMS, 2)
    assert again.calls == []  # the same server: replayed


class PerSample(FakeBackend):
    """A backend without native n: every sample is a request that processes the prompt again."""

    def __init__(self) -> None:
        super().__init__()
        self.capabilities = dataclasses.replace(self.capabilities, native_n=False)

    def generate(self, prompts, params, n=1):
        return [dataclasses.replace(g, prompt_tokens=g.prompt_tokens * n) for g in super().generate(prompts, params, n)]


@pytest.mark.parametrize(("first", "then"), [(8, 2), (2, 8), (4, 4)])
def test_replays_charge_the_prompt_of_each_sample_when_the_backend_pays_per_sample(tmp_path: Path, first, then):
    once = FakeBackend().generate(PROMPTS[:1], PARAMS, 1)[0].prompt_tokens
    cached = CachedBackend(PerSample(), tmp_path / "c.sqlite")
    cached.generate(PROMPTS[:1], PARAMS, first)
    [gen] = cached.generate(PROMPTS[:1], PARAMS, then)
    assert gen.prompt_tokens == then * once  # what a cold run of `then` samples costs, whatever ran before


def test_logprobs_and_finish_reasons_survive_the_round_trip(tmp_path: Path):
    reply = FakeReply("one two three", top=[{" one": -0.5, " uno": -1.0}])
    fake = FakeBackend([reply])
    params = PARAMS.replace(logprobs=2, max_tokens=2)
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    first = cached.generate(PROMPTS[:1], params, 1)
    replay = CachedBackend(FakeBackend([reply]), tmp_path / "c.sqlite").generate(PROMPTS[:1], params, 1)
    assert replay == first
    assert replay[0].completions[0].finish_reason == "length"


def test_metering_above_the_cache_still_charges_the_tokens_used(tmp_path: Path):
    """Usage counts what the strategy used; the cache's saving is reported apart, in its stats."""
    task = MathAnswerTask()
    problems = [Problem("What is 6 * 7?", id="a"), Problem("What is 2 + 2?", id="b")]
    usages = []
    for _ in range(2):
        cached = CachedBackend(FakeBackend(), tmp_path / "c.sqlite")
        ctx = make_context(cached, task, make_registries(), params=PARAMS)  # type: ignore[arg-type]
        results = SelfConsistency(n=4).run(problems, ctx)
        usages.append([r.usage.completion_tokens for r in results])
        stats = cached.stats
    assert usages[0] == usages[1] and all(u > 0 for u in usages[0])
    assert stats.hits == 8 and stats.misses == 0 and stats.replayed_wall_seconds > 0


def test_metered_wraps_the_cache(tmp_path: Path):
    metered = Metered(CachedBackend(FakeBackend(), tmp_path / "c.sqlite"), Meter())
    metered.generate(PROMPTS, PARAMS, 3, tags=["a", "b"])
    metered.generate(PROMPTS, PARAMS, 3, tags=["a", "b"])
    assert metered.usage.calls == 2 and metered.meter.usage_for("a").completion_tokens > 0


def test_threads_share_one_cache(tmp_path: Path):
    fake = FakeBackend()
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            view = cached.view()
            for _ in range(5):
                view.generate([f"prompt {i % 4}"], PARAMS, 3)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cached.store) == 4 * 3


def test_store_errors_show_the_path(tmp_path: Path):
    with pytest.raises(ConfigError, match="directory"):
        SampleStore(tmp_path)
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"bad\.sqlite"):
        SampleStore(bad)


def _scripted_top(prompt: str, index: int, seed: int | None) -> FakeReply:
    """Replies whose every token has three scripted alternatives, most likely first."""
    return FakeReply(f"answer {index}", top=[{"a": -0.1, "b": -2.0, "c": -3.0}] * 8)


def test_samples_with_and_without_logprobs_are_shared(tmp_path: Path):
    fake = FakeBackend(_scripted_top)
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    plain = cached.generate(PROMPTS, PARAMS, 4)  # as self-consistency asks: no logprobs
    assert fake.calls[0][1].logprobs == 0, "the cache asks the backend for the sampled tokens' logprobs"
    assert all(c.logprobs is None for g in plain for c in g.completions), "the caller gets what it asked for"
    scored = cached.generate(PROMPTS, PARAMS.replace(logprobs=0), 4)  # as best-of-N with `confidence` asks
    assert len(fake.calls) == 1 and cached.stats.hits == 8
    assert texts(scored) == texts(plain)
    direct = FakeBackend(_scripted_top).generate(PROMPTS, PARAMS.replace(logprobs=0), 4)
    logprobs = [[[c.logprobs for c in g.completions] for g in gens] for gens in (scored, direct)]
    assert logprobs[0] == logprobs[1]


def test_a_request_for_more_alternatives_regenerates_and_upgrades_the_stored_samples(tmp_path: Path):
    fake = FakeBackend(_scripted_top)
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    cached.generate(PROMPTS, PARAMS, 2)
    three = cached.generate(PROMPTS, PARAMS.replace(logprobs=3), 2)
    assert len(fake.calls) == 2 and cached.stats.misses == 8
    assert list(three[0].completions[0].logprobs[0].top) == ["a", "b", "c"]
    two = cached.generate(PROMPTS, PARAMS.replace(logprobs=2), 2)
    assert len(fake.calls) == 2, "served from the upgraded samples"
    assert list(two[0].completions[0].logprobs[0].top) == ["a", "b"]
    assert len(cached.store) == 4
    cached.generate(PROMPTS, PARAMS, 2)  # a poorer request never downgrades what is stored
    assert list(cached.generate(PROMPTS, PARAMS.replace(logprobs=3), 2)[0].completions[0].logprobs[0].top) == [
        "a",
        "b",
        "c",
    ]
    assert len(fake.calls) == 2


def test_a_backend_without_logprobs_is_not_asked_for_them(tmp_path: Path):
    fake = FakeBackend()
    fake.capabilities = dataclasses.replace(fake.capabilities, logprobs=False, top_logprobs=0)
    cached = CachedBackend(fake, tmp_path / "c.sqlite")
    cached.generate(PROMPTS, PARAMS, 2)
    assert fake.calls[0][1].logprobs is None
