"""The confidence scorer: mean, lowest-window and tail token logprobs, as geometric-mean probabilities."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from ponder.backends.fake import FakeBackend
from ponder.budget import Metered
from ponder.errors import ConfigError, ScorerError
from ponder.scorers.confidence import ConfidenceScorer, lowest_group_mean, tail_mean
from ponder.types import Candidate, Problem

PROBLEM = Problem("What is 6 * 7?", id="q1")
# A confident start, one shaky stretch (-2, -3), a confident end.
SHAKY = (-0.1, -0.1, -2.0, -3.0, -0.2, -0.1)
STEADY = (-0.5, -0.5, -0.5, -0.5, -0.5, -0.5)


def _cand(logprobs: tuple[float, ...] | None) -> Candidate:
    return Candidate("text", "42", n_tokens=len(logprobs or ()), token_logprobs=logprobs)


def _score(method: Any, *logprobs: tuple[float, ...] | None, group_size: int = 2) -> list[float]:
    scorer = ConfidenceScorer(Metered(FakeBackend()), None, method=method, group_size=group_size)
    return scorer.score(PROBLEM, [_cand(lp) for lp in logprobs])


def test_mean_is_exp_of_the_mean_logprob() -> None:
    assert _score("mean", SHAKY, STEADY) == pytest.approx([math.exp(-5.5 / 6), math.exp(-0.5)])


def test_lowest_group_picks_the_worst_window() -> None:
    assert lowest_group_mean(SHAKY, 2) == pytest.approx(-2.5)
    assert lowest_group_mean(SHAKY, 3) == pytest.approx(-5.2 / 3)
    assert lowest_group_mean(SHAKY, 10) == pytest.approx(-5.5 / 6), "shorter than a window: the whole text"
    scores = _score("lowest_group", SHAKY, STEADY)
    assert scores == pytest.approx([math.exp(-2.5), math.exp(-0.5)])
    # The mean prefers SHAKY-like texts less than the window does: it ranks the two differently here.
    assert _score("mean", SHAKY, (-1.0,) * 6)[0] > _score("mean", SHAKY, (-1.0,) * 6)[1]
    assert _score("lowest_group", SHAKY, (-1.0,) * 6)[0] < _score("lowest_group", SHAKY, (-1.0,) * 6)[1]


def test_tail_is_the_mean_of_the_last_tokens() -> None:
    assert tail_mean(SHAKY, 2) == pytest.approx(-0.15)
    assert _score("tail", SHAKY, group_size=3) == pytest.approx([math.exp(-3.3 / 3)])


def test_no_tokens_scores_zero_and_ranks_last() -> None:
    assert _score("mean", (), STEADY) == [0.0, pytest.approx(math.exp(-0.5))]
    assert _score("lowest_group", ()) == [0.0] and _score("tail", ()) == [0.0]


def test_minus_infinity_gives_zero_not_nan() -> None:
    scores = _score("lowest_group", (-0.1, float("-inf"), -0.1, -0.1, -0.1))
    assert scores == [0.0]


def test_missing_logprobs_say_the_backend_gave_none() -> None:
    with pytest.raises(ScorerError, match="candidate 1 has no token logprobs; the backend gave none"):
        _score("mean", STEADY, None)


@pytest.mark.parametrize("bad", [float("nan"), 0.5, "x"])
def test_invalid_logprobs_are_scorer_errors(bad: object) -> None:
    with pytest.raises(ScorerError, match="invalid token logprob"):
        _score("mean", (-0.1, bad))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "match"),
    [({"method": "median"}, "'median'"), ({"group_size": 0}, "got 0"), ({"group_size": 1.5}, "1.5")],
)
def test_bad_options(options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ConfidenceScorer(Metered(FakeBackend()), None, **options)


def test_a_backend_without_logprobs_is_refused_early() -> None:
    backend = FakeBackend()
    backend.capabilities = dataclasses.replace(backend.capabilities, logprobs=False, top_logprobs=0)
    with pytest.raises(ConfigError, match="needs token logprobs"):
        ConfidenceScorer(Metered(backend), None)


def test_it_asks_for_logprobs_and_runs_no_model() -> None:
    backend = Metered(FakeBackend())
    scorer = ConfidenceScorer(backend, None)
    assert scorer.needs_logprobs is True and scorer.name == "confidence"
    scorer.score(PROBLEM, [_cand(STEADY)])
    assert backend.usage.calls == 0
