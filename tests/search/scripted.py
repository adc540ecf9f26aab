"""Scripted worlds for search tests: a fake model whose next step depends on the steps so far, a process
scorer with a score per step text, and an outcome scorer with a score per answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ponder.backends.fake import FakeBackend, Script
from ponder.errors import ScorerError
from ponder.types import Candidate, Generation, Problem, SamplingParams

ASSISTANT = "<|assistant|>\n"
VOTE_MARK = "Which choice is most promising?"


def generated(prompt: str) -> str:
    """What the search appended after the rendered prompt."""
    return prompt.rsplit(ASSISTANT, 1)[-1]


def path_of(prompt: str) -> tuple[str, ...]:
    """The steps in a search prompt (split at the blank-line delimiter)."""
    return tuple(s for s in generated(prompt).split("\n\n") if s)


def tree_script(
    table: Mapping[tuple[str, ...], Sequence[str]], default: Sequence[str] = ("Done \\boxed{0}",), votes: str = ""
) -> Script:
    """Sample i at path p replies ``table[p][i % len]``; a reply "X\\n\\nmore" gives the step "X" (continues),
    one with \\boxed{} ends the path, one without a blank line ends it at end of sequence. Vote prompts get
    ``votes``."""

    def script(prompt: str, index: int, seed: int | None) -> str:
        if VOTE_MARK in prompt:
            return votes
        replies = table.get(path_of(prompt), default)
        return replies[index % len(replies)]

    return script


class StepScores:
    """A process scorer scoring each step by its text (``default`` for unknown steps); records its calls."""

    def __init__(self, table: Mapping[str, float], default: float = 0.5, fail_on: int | None = None) -> None:
        self.table, self.default, self.fail_on = dict(table), default, fail_on
        self.calls: list[tuple[str, list[list[str]]]] = []

    def score_steps(self, problem: Problem, candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        self.calls.append((problem.id, [list(c) for c in candidates]))
        if self.fail_on is not None and len(self.calls) >= self.fail_on:
            raise ScorerError("scripted scorer failure")
        return [[self.table.get(s.strip(), self.default) for s in steps] for steps in candidates]


class AnswerScores:
    """An outcome scorer scoring a solution by its extracted answer."""

    name = "answers"
    needs_logprobs = False

    def __init__(self, table: Mapping[str, float], default: float = 0.1) -> None:
        self.table, self.default = dict(table), default
        self.calls = 0

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        self.calls += 1
        return [self.table.get(c.answer or "", self.default) for c in candidates]


class SpyBackend(FakeBackend):
    """A FakeBackend that also keeps what each call reported as cached prompt tokens."""

    def __init__(self, script: Script) -> None:
        super().__init__(script)
        self.cached: list[list[int]] = []

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        out = super().generate(prompts, params, n)
        self.cached.append([g.cached_prompt_tokens for g in out])
        return out
