"""Guardrails: candidate filters applied before selection.

Sampling more candidates gives more chances of a harmful output, so every candidate is checked, and each
filter checks all candidates of a problem at once (the judge filter in one backend call). A filter is built
as ``Cls(backend, task, **options)`` and has ``check(problem, candidates) -> list[str | None]``: None keeps
a candidate, a string is the reason it is filtered. ``apply_filters`` runs filters in order and marks each
candidate with the first reason found; filtered candidates stay in place (never dropped) so results can show
them, and are not checked again by later filters. Filters:

- ``CallableFilter`` ("callable"): a Python function ``fn(problem, candidate) -> str | None``.
- ``BlocklistFilter`` ("blocklist"): blocked words and phrases (case-insensitive, whole words only) and
  regular expressions, all compiled once.
- ``JudgeFilter`` ("judge"): the model is asked whether each response is harmful; P(Yes) is read as in the
  judge scorer (``ponder.scorers.yes_no.YesNoAsker``) and the candidate is filtered when it reaches the
  threshold. An unreadable verdict counts as 0.5, so the default threshold filters it (fails closed).

A filter that returns something other than None or a non-empty string raises ScorerError.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ponder.errors import ConfigError, PonderError, ScorerError
from ponder.scorers.rule import load_callable
from ponder.scorers.yes_no import Mode, YesNoAsker, check_template, fill
from ponder.types import Candidate, Problem

__all__ = ["BlocklistFilter", "CallableFilter", "CandidateFilter", "JudgeFilter", "apply_filters"]

DEFAULT_HARM_PROMPT = (
    "Here is a request and a response written by an AI assistant.\n\nRequest:\n{question}\n\n"
    "Response:\n{response}\n\n"
    "Is the response harmful, unsafe or inappropriate? Answer with a single word: Yes or No."
)
"""Judge filter prompt; ``{question}`` and ``{response}`` are filled in."""


@runtime_checkable
class CandidateFilter(Protocol):
    """Decides, for each candidate of one problem, whether to keep it (None) or why to filter it."""

    name: str

    def check(self, problem: Problem, candidates: Sequence[Candidate]) -> list[str | None]:
        raise NotImplementedError  # protocol


def _valid_reason(reason: Any, who: str, index: int) -> str | None:
    if reason is None or (isinstance(reason, str) and reason):
        return reason
    raise ScorerError(
        f"filter {who!r} must give None or a non-empty reason string, got {reason!r} for candidate {index}"
    )


def apply_filters(
    filters: Sequence[CandidateFilter], problem: Problem, candidates: Sequence[Candidate]
) -> tuple[Candidate, ...]:
    """``candidates`` in order, each with ``filtered`` set to the first filter's reason (kept ones unchanged).

    Candidates already filtered are not checked again; each filter sees the still-kept ones in one batch.
    """
    out = list(candidates)
    for flt in filters:
        todo = [i for i, c in enumerate(out) if c.filtered is None]
        if not todo:
            break
        who = getattr(flt, "name", type(flt).__name__)
        reasons = flt.check(problem, [out[i] for i in todo])
        if len(reasons) != len(todo):
            raise ScorerError(f"filter {who!r} returned {len(reasons)} verdicts for {len(todo)} candidates")
        for i, reason in zip(todo, reasons, strict=True):
            if _valid_reason(reason, who, i) is not None:
                out[i] = dataclasses.replace(out[i], filtered=reason)
    return tuple(out)


class CallableFilter:
    """Filters with a Python function ``fn(problem, candidate) -> str | None`` (None = keep).

    Args:
        fn: the function, or a ``"module:function"`` string naming it.
    """

    name: str = "callable"

    def __init__(
        self, backend: Any = None, task: Any = None, *, fn: Callable[[Problem, Candidate], str | None] | str
    ) -> None:
        self.fn: Callable[[Problem, Candidate], str | None] = load_callable(fn, "callable filter fn")

    def check(self, problem: Problem, candidates: Sequence[Candidate]) -> list[str | None]:
        """The function's verdict on each candidate; its exceptions become ScorerError (chained)."""
        out = []
        for i, candidate in enumerate(candidates):
            try:
                reason = self.fn(problem, candidate)
            except PonderError:
                raise
            except Exception as exc:
                raise ScorerError(f"callable filter {self.fn!r} failed on candidate {i}: {exc!r}") from exc
            out.append(_valid_reason(reason, self.name, i))
        return out


def _term_regex(term: str) -> str:
    """A case-insensitive whole-word pattern for ``term``; inner whitespace matches any whitespace run."""
    return r"\s+".join(re.escape(part) for part in term.split())


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"blocklist {what} must be a list of strings, got {value!r}")
    bad = [v for v in value if not isinstance(v, str) or not v.strip()]
    if bad:
        raise ConfigError(f"blocklist {what} must be non-empty strings, got {bad[0]!r}")
    return list(value)


def _read_terms(path: str) -> list[str]:
    """Blocked terms from a file: one per line; blank lines and lines starting with '#' are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read blocklist file {path!r}: {exc}") from exc
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


class BlocklistFilter:
    """Filters candidates whose text contains a blocked word, phrase or pattern.

    Args:
        words: words or phrases, matched case-insensitively as whole words ("ass" does not match "class").
        patterns: regular expressions (Python syntax), searched case-insensitively.
        path: a UTF-8 file of further words or phrases, one per line ('#' starts a comment line).
    """

    name: str = "blocklist"

    def __init__(
        self,
        backend: Any = None,
        task: Any = None,
        *,
        words: Sequence[str] | None = None,
        patterns: Sequence[str] | None = None,
        path: str | None = None,
    ) -> None:
        terms = _strings(words, "words") + (_read_terms(path) if path is not None else [])
        raw_patterns = _strings(patterns, "patterns")
        if not terms and not raw_patterns:
            raise ConfigError(
                f"blocklist needs words, patterns or a path with terms; got words={words!r}, "
                f"patterns={patterns!r}, path={path!r}"
            )
        self._terms = {_norm(t): t.strip() for t in terms}
        ordered = sorted(self._terms.values(), key=len, reverse=True)  # longest phrase wins at one position
        alternatives = "|".join(_term_regex(t) for t in ordered)
        self._words = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE) if ordered else None
        self._patterns = [(p, self._compile(p)) for p in raw_patterns]

    @staticmethod
    def _compile(pattern: str) -> re.Pattern[str]:
        try:
            return re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ConfigError(f"blocklist pattern {pattern!r} is not a valid regular expression: {exc}") from exc

    def check(self, problem: Problem, candidates: Sequence[Candidate]) -> list[str | None]:
        """For each candidate, "blocklist: matched '<term>'" for its first blocked term, else None."""
        return [self._reason(c.text) for c in candidates]

    def _reason(self, text: str) -> str | None:
        if self._words is not None:
            hit = self._words.search(text)
            if hit is not None:
                return f"blocklist: matched {self._terms.get(_norm(hit.group()), hit.group())!r}"
        for raw, compiled in self._patterns:
            if compiled.search(text):
                return f"blocklist: matched pattern {raw!r}"
        return None


class JudgeFilter:
    """Filters candidates the model judges harmful: P(Yes to "is it harmful?") >= ``threshold``.

    Args:
        backend: the run's Metered backend; one call per problem, charged to the problem's id.
        task: unused.
        prompt: template with ``{response}`` (and optionally ``{question}``); default ``DEFAULT_HARM_PROMPT``.
        threshold: filter when P(harmful) >= this, in [0, 1].
        mode: "auto", "logprobs" or "text", as for the judge scorer.
    """

    name: str = "judge"

    def __init__(
        self,
        backend: Any,
        task: Any = None,
        *,
        prompt: str | None = None,
        threshold: float = 0.5,
        mode: Mode = "auto",
    ) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise ConfigError(f"judge filter threshold must be a number in [0, 1], got {threshold!r}")
        self.prompt = check_template(DEFAULT_HARM_PROMPT if prompt is None else prompt, ("response",), "judge filter")
        self.threshold = float(threshold)
        self.asker = YesNoAsker(backend, mode=mode, temperature=0.0, who="judge filter")

    def harm_probabilities(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        """P(harmful) of each candidate, from one backend call."""
        prompts = [self.asker.render(fill(self.prompt, question=problem.question, response=c.text)) for c in candidates]
        return self.asker.ask(prompts, problem.id)

    def check(self, problem: Problem, candidates: Sequence[Candidate]) -> list[str | None]:
        """A reason with P(harmful) for each candidate at or above the threshold, else None."""
        return [
            f"judge: P(harmful)={p:.3f} >= {self.threshold:g}" if p >= self.threshold else None
            for p in self.harm_probabilities(problem, candidates)
        ]
