"""Any OutcomeScorer as a ProcessScorer ("outcome-as-process"): score each partial solution as if complete.

Step ``i`` of a candidate is scored by the wrapped outcome scorer on the partial solution made of steps
``0..i`` joined by the task's step delimiter (its answer extracted by the task). All partial solutions of all
candidates of a call go to the wrapped scorer in one ``score`` call, duplicates removed. Scores are remembered
per (problem, partial solution text), so when a search extends a scored trajectory only the new partial
solution is scored; pass ``cache=False`` for a scorer whose score of a text may change.

``as_process_scorer`` returns a scorer unchanged when it already scores steps, else wraps it. Scorers that
need token logprobs cannot be wrapped: partial solutions have none. The wrapper does not meter anything
itself; the wrapped scorer charges its own compute.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ponder.errors import ConfigError, ScorerError
from ponder.scorers.base import OutcomeScorer, ProcessScorer, aggregate
from ponder.tasks.base import Task
from ponder.types import Candidate, Problem

__all__ = ["OutcomeAsProcess", "as_process_scorer", "outcome_as_process"]

_CACHE_ENTRIES = 100_000
"""Partial-solution scores remembered per wrapper (least recently used ones are dropped)."""


class OutcomeAsProcess:
    """A ProcessScorer that scores every prefix of steps with an OutcomeScorer.

    It is also an OutcomeScorer: ``score`` passes whole candidates to the wrapped scorer unchanged.

    Args:
        scorer: the outcome scorer to apply to partial solutions (must not need logprobs).
        task: gives the step delimiter and extracts the answer of each partial solution.
        cache: remember scores by (problem, partial text) so extended trajectories score only new steps.
    """

    name: str = "outcome-as-process"
    needs_logprobs: bool = False

    def __init__(self, scorer: OutcomeScorer, task: Task, *, cache: bool = True) -> None:
        if not hasattr(scorer, "score"):
            raise ConfigError(f"outcome-as-process needs an OutcomeScorer with a score method, got {scorer!r}")
        if getattr(scorer, "needs_logprobs", False):
            raise ConfigError(
                f"scorer {getattr(scorer, 'name', scorer)!r} needs token logprobs, which partial solutions do not "
                "have; use a process scorer (judge, prm) for step-level search"
            )
        self.scorer = scorer
        self.task = task
        self.cache = cache
        self.calls = 0
        """Calls made to the wrapped scorer."""
        self.scored = 0
        """Partial solutions the wrapped scorer was asked to score."""
        self._memo: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        """Whole-candidate scores from the wrapped scorer."""
        return list(self.scorer.score(problem, candidates))

    def score_steps(self, problem: Problem, candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        """For each candidate, one score per step: the outcome score of the solution up to that step."""
        delimiter = self.task.step_delimiter
        texts = [[delimiter.join(steps[: i + 1]) for i in range(len(steps))] for steps in candidates]
        known = self._recall(problem, _unique(texts))
        todo = [text for text in _unique(texts) if text not in known]
        fresh = self._score_texts(problem, todo) if todo else {}
        self._remember(problem, fresh)
        known.update(fresh)
        return [[known[text] for text in row] for row in texts]

    def _recall(self, problem: Problem, texts: list[str]) -> dict[str, float]:
        """Remembered scores of those of ``texts`` scored before."""
        found: dict[str, float] = {}
        with self._lock:
            for text in texts:
                key = self._key(problem, text)
                if key in self._memo:
                    self._memo.move_to_end(key)
                    found[text] = self._memo[key]
        return found

    def _remember(self, problem: Problem, scores: dict[str, float]) -> None:
        if not self.cache:
            return
        with self._lock:
            for text, value in scores.items():
                self._memo[self._key(problem, text)] = value
            while len(self._memo) > _CACHE_ENTRIES:
                self._memo.popitem(last=False)

    def _score_texts(self, problem: Problem, texts: list[str]) -> dict[str, float]:
        partials = [Candidate(text=text, answer=self.task.extract_answer(text)) for text in texts]
        scores = list(self.scorer.score(problem, partials))
        self.calls += 1
        self.scored += len(partials)
        if len(scores) != len(partials):
            raise ScorerError(
                f"scorer {getattr(self.scorer, 'name', self.scorer)!r} returned {len(scores)} scores for "
                f"{len(partials)} partial solutions"
            )
        return {text: float(value) for text, value in zip(texts, scores, strict=True)}

    def _key(self, problem: Problem, text: str) -> tuple[str, str, str]:
        return (problem.id, problem.question, text)

    def aggregate(self, step_scores: Sequence[float], how: str = "min") -> float:
        """Fold step scores into one (see ``ponder.scorers.base.aggregate``)."""
        return aggregate(step_scores, how)

    def __repr__(self) -> str:
        return f"OutcomeAsProcess({getattr(self.scorer, 'name', self.scorer)!r})"


def _unique(rows: Sequence[Sequence[str]]) -> list[str]:
    """The texts of ``rows`` in first-seen order, each once."""
    return list(dict.fromkeys(text for row in rows for text in row))


def as_process_scorer(scorer: OutcomeScorer | ProcessScorer, task: Task) -> ProcessScorer:
    """``scorer`` itself when it scores steps, else an ``OutcomeAsProcess`` around it."""
    if isinstance(scorer, ProcessScorer):
        return scorer
    return OutcomeAsProcess(scorer, task)


def outcome_as_process(
    backend: Any,
    task: Task,
    *,
    scorer: str = "judge",
    scorer_options: dict[str, Any] | None = None,
    cache: bool = True,
) -> OutcomeAsProcess:
    """Registry factory: build the outcome scorer named ``scorer`` (with ``scorer_options``) on the same
    metered ``backend`` and wrap it."""
    from ponder.catalog import make_registries

    if scorer == OutcomeAsProcess.name:
        raise ConfigError("outcome-as-process cannot wrap itself; name an outcome scorer, e.g. scorer='judge'")
    inner = make_registries().scorers.get(scorer)(backend, task, **(scorer_options or {}))
    return OutcomeAsProcess(inner, task, cache=cache)
