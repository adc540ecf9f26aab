"""The Task protocol: prompting, answer extraction and grading for one kind of problem.

A task knows how to ask (``messages``), how to read an answer out of a completion (``extract_answer``),
when two answers are the same (``answer_key``, used for voting without ground truth) and how to grade
against ground truth (``is_correct``). Strategies use the first three on blind problems; only evaluation
calls ``is_correct``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from ponder.types import Message, Problem


@runtime_checkable
class Task(Protocol):
    """One benchmark or problem family."""

    name: str
    step_delimiter: str
    """What separates reasoning steps in a completion (step-level search stops on it)."""

    def problems(self, split: str = "test", limit: int | None = None) -> Iterator[Problem]:
        """The task's problems in a fixed order (seeded when generated)."""
        raise NotImplementedError  # protocol

    def messages(self, problem: Problem, few_shot: int | None = None) -> list[Message]:
        """The chat messages that ask the model to solve ``problem``; ``few_shot`` overrides the task's
        number of worked examples shown first (None keeps the task's setting)."""
        raise NotImplementedError  # protocol

    def extract_answer(self, completion: str) -> str | None:
        """The final answer in ``completion``, or None when it has none."""
        raise NotImplementedError  # protocol

    def answer_key(self, answer: str) -> str:
        """A canonical form: answers with equal keys count as the same vote."""
        raise NotImplementedError  # protocol

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        """Grade ``answer`` against ``problem.reference``."""
        raise NotImplementedError  # protocol
