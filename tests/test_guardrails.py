"""Guardrails: blocklist, callable and judge filters, and apply_filters (order kept, first reason wins)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest

from ponder.backends.fake import FakeBackend, FakeReply
from ponder.budget import Meter, Metered
from ponder.catalog import make_registries
from ponder.errors import ConfigError, ScorerError
from ponder.guardrails import BlocklistFilter, CallableFilter, CandidateFilter, JudgeFilter, apply_filters
from ponder.types import Candidate, Problem, SamplingParams

PROBLEM = Problem("Tell me about classes.", id="p1")


def _calls(backend: Metered) -> list[tuple[tuple[str, ...], SamplingParams, int]]:
    """The calls the FakeBackend inside ``backend`` received."""
    assert isinstance(backend.inner, FakeBackend)
    return backend.inner.calls


def _cands(*texts: str) -> list[Candidate]:
    return [Candidate(t, None) for t in texts]


def _block(texts: list[str], **options: object) -> list[str | None]:
    return BlocklistFilter(None, None, **options).check(PROBLEM, _cands(*texts))  # type: ignore[arg-type]


def test_blocklist_matches_whole_words_case_insensitively() -> None:
    texts = ["A class of bass players.", "What an ASS.", "ass-backwards", "Assess this."]
    assert _block(texts, words=["ass"]) == [None, "blocklist: matched 'ass'", "blocklist: matched 'ass'", None]


def test_blocklist_phrases_match_across_whitespace_and_longest_wins() -> None:
    texts = ["Bad\n  Idea here.", "a bad idea", "a bad ideas list", "bad"]
    assert _block(texts, words=["bad idea", "bad"]) == [
        "blocklist: matched 'bad idea'",
        "blocklist: matched 'bad idea'",
        "blocklist: matched 'bad'",
        "blocklist: matched 'bad'",
    ]


def test_blocklist_terms_with_symbols() -> None:
    assert _block(["I like c++ a lot", "abc++"], words=["c++"]) == ["blocklist: matched 'c++'", None]


def test_blocklist_patterns_and_file(tmp_path) -> None:
    path = tmp_path / "block.txt"
    path.write_text("# comment line\n\nsecret\n  Top Secret  \n", encoding="utf-8")
    texts = ["call 555-1234 now", "TOP secret plan", "secretive", "fine"]
    assert _block(texts, patterns=[r"\d{3}-\d{4}"], path=str(path)) == [
        "blocklist: matched pattern '\\\\d{3}-\\\\d{4}'",
        "blocklist: matched 'Top Secret'",
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({}, "words=None, patterns=None"),
        ({"words": []}, "words=\\[\\]"),
        ({"words": "foo"}, "list of strings, got 'foo'"),
        ({"words": ["ok", " "]}, "got ' '"),
        ({"patterns": ["(unclosed"]}, "'\\(unclosed'"),
        ({"path": "/no/such/blocklist.txt"}, "/no/such/blocklist.txt"),
    ],
)
def test_blocklist_config_errors(options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        BlocklistFilter(None, None, **options)


def test_callable_filter_from_function_and_string() -> None:
    def no_digits(problem: Problem, candidate: Candidate) -> str | None:
        return "has digits" if any(ch.isdigit() for ch in candidate.text) else None

    assert CallableFilter(None, None, fn=no_digits).check(PROBLEM, _cands("a1", "b")) == ["has digits", None]
    flt = CallableFilter(None, None, fn="tests.test_guardrails:_too_long")
    assert flt.check(PROBLEM, _cands("x" * 11, "short")) == ["too long: 11 chars", None]


def _too_long(problem: Problem, candidate: Candidate) -> str | None:
    return f"too long: {len(candidate.text)} chars" if len(candidate.text) > 10 else None


def _const(value: object, fail: bool = False) -> Any:
    """A filter function that returns ``value`` (or divides by zero when ``fail``)."""
    return lambda problem, candidate: 1 / 0 if fail else value


def test_callable_filter_errors() -> None:
    with pytest.raises(ConfigError, match="nope_xyz"):
        CallableFilter(None, None, fn="tests.test_guardrails:nope_xyz")
    with pytest.raises(ScorerError, match="failed on candidate 0") as info:
        CallableFilter(None, None, fn=_const(None, fail=True)).check(PROBLEM, _cands("a"))
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    with pytest.raises(ScorerError, match="got True"):
        CallableFilter(None, None, fn=_const(True)).check(PROBLEM, _cands("a"))


def _harm(prompt: str, index: int, seed: int | None) -> FakeReply:
    """P(harmful): 0.9 for responses mentioning poison, 0.2 otherwise (read from the Response section)."""
    response = prompt.split("Response:\n", 1)[1]
    p = 0.9 if "poison" in response else 0.2
    return FakeReply("Yes", top=[{"Yes": math.log(p), "No": math.log(1 - p)}])


def test_judge_filter_threshold_batching_and_metering() -> None:
    backend = Metered(FakeBackend(_harm), Meter())
    texts = ["Use poison.", "Read a book.", "More poison here."]
    assert JudgeFilter(backend, None).check(PROBLEM, _cands(*texts)) == [
        "judge: P(harmful)=0.900 >= 0.5",
        None,
        "judge: P(harmful)=0.900 >= 0.5",
    ]
    [(prompts, params, _)] = _calls(backend)
    assert len(prompts) == 3 and params.max_tokens == 1 and all(PROBLEM.question in p for p in prompts)
    assert backend.meter.usage_for("p1").calls == 1
    strict = JudgeFilter(backend, None, threshold=0.2).check(PROBLEM, _cands("Read a book."))
    assert strict == ["judge: P(harmful)=0.200 >= 0.2"]
    assert JudgeFilter(backend, None, threshold=0.95).check(PROBLEM, _cands("Use poison.")) == [None]


def test_judge_filter_options() -> None:
    backend = Metered(FakeBackend(_harm))
    with pytest.raises(ConfigError, match=r"1\.5"):
        JudgeFilter(backend, None, threshold=1.5)
    with pytest.raises(ConfigError, match=r"\{response\}"):
        JudgeFilter(backend, None, prompt="Is it harmful?")
    flt = JudgeFilter(backend, None, prompt="Response:\n{response}\nHarmful?")
    assert flt.check(PROBLEM, _cands("poison")) == ["judge: P(harmful)=0.900 >= 0.5"]


def test_apply_filters_keeps_order_and_the_first_reason() -> None:
    calls: list[list[str]] = []

    def spy(problem: Problem, candidate: Candidate) -> str | None:
        calls.append([candidate.text])
        return "spy: long" if len(candidate.text) > 8 else None

    already = Candidate("old news", None, filtered="earlier reason")
    cands = [*_cands("has foo in it", "clean text here", "ok"), already]
    filters: list[CandidateFilter] = [BlocklistFilter(None, None, words=["foo"]), CallableFilter(None, None, fn=spy)]
    out = apply_filters(filters, PROBLEM, cands)
    assert [c.text for c in out] == [c.text for c in cands]
    assert [c.filtered for c in out] == ["blocklist: matched 'foo'", "spy: long", None, "earlier reason"]
    assert calls == [["clean text here"], ["ok"]], "filtered candidates are not checked again"
    assert out[2] is cands[2]


def test_apply_filters_rejects_a_wrong_number_of_verdicts() -> None:
    class Broken:
        name = "broken"

        def check(self, problem: Problem, candidates: Sequence[Candidate]) -> list[str | None]:
            return []

    with pytest.raises(ScorerError, match=r"broken.*0 verdicts for 2"):
        apply_filters([Broken()], PROBLEM, _cands("a", "b"))


def test_every_registered_filter_builds_and_fits_the_protocol() -> None:
    reg = make_registries().filters
    backend = Metered(FakeBackend(_harm))
    options: dict[str, dict[str, Any]] = {"blocklist": {"words": ["x"]}, "callable": {"fn": _too_long}, "judge": {}}
    for name in reg.names():
        flt = reg.get(name)(backend, None, **options[name])
        assert isinstance(flt, CandidateFilter) and flt.name == name
        assert len(flt.check(PROBLEM, _cands("a", "b"))) == 2
