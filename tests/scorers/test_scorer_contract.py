"""Every model-free or backend-driven scorer built from the registry honours the OutcomeScorer contract."""

from __future__ import annotations

import math

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend, FakeReply
from ponder.budget import Metered
from ponder.catalog import make_registries
from ponder.scorers.base import OutcomeScorer
from ponder.tasks.math_answer import MathAnswerTask
from ponder.types import Candidate, Problem
from tests.conftest import boxed

PROBLEM = Problem("What is 6 * 7?", id="q1")
CANDIDATES = [
    Candidate(boxed("42"), "42", token_logprobs=(-0.1, -0.2)),
    Candidate("No idea.", None, token_logprobs=(-1.0,)),
]


@pytest.mark.parametrize("name", ["judge", "confidence", "rule", "public_tests"])
def test_registered_scorer_contract(name: str) -> None:
    scorer = make_registries().scorers.get(name)(Metered(FakeBackend()), MathAnswerTask())
    assert isinstance(scorer, OutcomeScorer)
    assert scorer.name == name and scorer.needs_logprobs is (name == "confidence")
    scores = scorer.score(PROBLEM, CANDIDATES)
    assert len(scores) == 2 and all(isinstance(s, float) and math.isfinite(s) for s in scores)
    assert scorer.score(PROBLEM, []) == []


def test_weighted_best_of_n_with_confidence(make_ctx) -> None:
    """Confidence scores are non-negative probabilities, so they can weight votes."""
    replies = [
        FakeReply(boxed("7"), logprob=-0.05),
        FakeReply(boxed("9"), logprob=-0.3),
        FakeReply(boxed("9"), logprob=-0.3),
    ]
    ctx = make_ctx(replies, scorer="confidence")
    [vanilla] = run_chunks(get_strategy("best_of_n", n=3), [PROBLEM], ctx, 8)
    [weighted] = run_chunks(get_strategy("best_of_n", n=3, weighted=True), [PROBLEM], ctx, 8)
    assert vanilla.answer == "7" and vanilla.candidates[0].score == pytest.approx(math.exp(-0.05))
    assert weighted.answer == "9"  # 2 * exp(-0.3) = 1.48 > exp(-0.05) = 0.95
