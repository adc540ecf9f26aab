"""outcome-as-process: any OutcomeScorer scores each partial solution, batched and remembered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ponder.errors import ConfigError, ScorerError
from ponder.scorers.base import OutcomeScorer, ProcessScorer
from ponder.scorers.outcome_as_process import OutcomeAsProcess, as_process_scorer, outcome_as_process
from ponder.tasks.math_answer import MathAnswerTask
from ponder.types import Candidate, Problem

PROBLEM = Problem(question="What is 6 * 7?", id="q1")


class LengthAndAnswerScorer:
    """Rule-based outcome scorer: 1.0 for a boxed 42, else 0.1 per step seen (capped at 0.9)."""

    name = "length"
    needs_logprobs = False

    def __init__(self) -> None:
        self.calls: list[list[Candidate]] = []

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        self.calls.append(list(candidates))
        return [
            1.0 if c.answer == "42" and "boxed" in c.text else min(0.9, 0.1 * c.text.count("\n\n") + 0.1)
            for c in candidates
        ]


class ShortScorer(LengthAndAnswerScorer):
    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        return super().score(problem, candidates)[:-1]


STEPS = ["6 * 7 is six sevens.", "That is 42.", "The answer is \\boxed{42}."]


def test_each_step_scores_the_partial_solution_in_one_call() -> None:
    inner = LengthAndAnswerScorer()
    wrapped = OutcomeAsProcess(inner, MathAnswerTask())
    scores = wrapped.score_steps(PROBLEM, [STEPS, ["A guess.", "It is 41."], []])
    assert scores == [[0.1, 0.2, 1.0], [0.1, 0.2], []]
    assert len(inner.calls) == 1, "all partial solutions of all candidates in one score() call"
    texts = [c.text for c in inner.calls[0]]
    assert texts[:3] == ["6 * 7 is six sevens.", "6 * 7 is six sevens.\n\nThat is 42.", "\n\n".join(STEPS)]
    assert [c.answer for c in inner.calls[0]][:3] == ["7", "42", "42"], "answers extracted by the task"


def test_extending_a_scored_trajectory_scores_only_the_new_partial() -> None:
    inner = LengthAndAnswerScorer()
    wrapped = OutcomeAsProcess(inner, MathAnswerTask())
    wrapped.score_steps(PROBLEM, [STEPS[:2]])
    again = wrapped.score_steps(PROBLEM, [STEPS, STEPS, STEPS[:1]])
    assert again == [[0.1, 0.2, 1.0]] * 2 + [[0.1]]
    assert [len(call) for call in inner.calls] == [2, 1]
    assert wrapped.calls == 2 and wrapped.scored == 3
    wrapped.score_steps(PROBLEM, [STEPS])
    assert len(inner.calls) == 2, "fully remembered trajectories make no call"


def test_cache_off_rescores_and_cache_is_per_problem() -> None:
    inner = LengthAndAnswerScorer()
    wrapped = OutcomeAsProcess(inner, MathAnswerTask(), cache=False)
    wrapped.score_steps(PROBLEM, [STEPS[:1]])
    wrapped.score_steps(PROBLEM, [STEPS[:1]])
    assert len(inner.calls) == 2
    cached = OutcomeAsProcess(inner, MathAnswerTask())
    cached.score_steps(PROBLEM, [STEPS[:1]])
    cached.score_steps(Problem(question="Another?", id="q2"), [STEPS[:1]])
    assert len(inner.calls) == 4


def test_outcome_scores_pass_through() -> None:
    inner = LengthAndAnswerScorer()
    wrapped = OutcomeAsProcess(inner, MathAnswerTask())
    candidates = [Candidate(text="\n\n".join(STEPS), answer="42")]
    assert wrapped.score(PROBLEM, candidates) == inner.score(PROBLEM, candidates)
    assert isinstance(wrapped, OutcomeScorer) and isinstance(wrapped, ProcessScorer)
    assert wrapped.name == "outcome-as-process" and wrapped.needs_logprobs is False


def test_as_process_scorer_wraps_only_outcome_scorers() -> None:
    task = MathAnswerTask()
    wrapped = as_process_scorer(LengthAndAnswerScorer(), task)
    assert isinstance(wrapped, OutcomeAsProcess)
    assert as_process_scorer(wrapped, task) is wrapped


def test_wrong_number_of_scores_is_a_scorer_error() -> None:
    with pytest.raises(ScorerError, match="2 scores for 3"):
        OutcomeAsProcess(ShortScorer(), MathAnswerTask()).score_steps(PROBLEM, [STEPS])


def test_scorers_needing_logprobs_cannot_be_wrapped() -> None:
    class Confident(LengthAndAnswerScorer):
        name = "confidence"
        needs_logprobs = True

    with pytest.raises(ConfigError, match="logprobs"):
        OutcomeAsProcess(Confident(), MathAnswerTask())


def test_registry_factory_builds_the_named_scorer(monkeypatch: pytest.MonkeyPatch) -> None:
    from ponder import catalog

    monkeypatch.setitem(catalog.SCORERS, "length", f"{__name__}:make_length")
    wrapped = outcome_as_process(None, MathAnswerTask(), scorer="length")
    assert isinstance(wrapped.scorer, LengthAndAnswerScorer)
    assert wrapped.score_steps(PROBLEM, [STEPS[:1]]) == [[0.1]]
    with pytest.raises(ConfigError, match="itself"):
        outcome_as_process(None, MathAnswerTask(), scorer="outcome-as-process")


def make_length(backend: Any, task: Any, **options: Any) -> LengthAndAnswerScorer:
    return LengthAndAnswerScorer()
