"""The generic math word-problem task ("math"): prompt, boxed-answer extraction and grading.

``MathAnswerTask`` asks for step-by-step reasoning with steps separated by blank lines (the step delimiter
step-level search stops on) and a final ``\\boxed{}`` answer; optional hand-written GSM-style worked
examples come first as earlier chat turns. With ``solve_with="program"`` it asks for a Python
``solution()`` function instead and the answer is what the program computes in the sandbox
(``tasks.program_answer``; program-aided reasoning, PAL/PoT). It serves ``ponder solve "question"`` and
is the base of the dataset tasks (``gsm_symbolic``, ``gsm8k``, ``jsonl``), which add ``problems``. It has
no problems of its own and reads no data.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator

from ponder.errors import ConfigError, TaskError
from ponder.tasks import answers, grading
from ponder.tasks.program_answer import PROGRAM_EXAMPLES, PROGRAM_SYSTEM_PROMPT, ProgramAnswers
from ponder.types import Message, Problem

__all__ = ["DEFAULT_SYSTEM_PROMPT", "FEW_SHOT_EXAMPLES", "SOLVE_WITH", "MathAnswerTask", "check_limit"]

SOLVE_WITH: tuple[str, ...] = ("reasoning", "program")
"""How the model is asked to solve: step-by-step reasoning with a boxed answer, or a Python program."""

DEFAULT_SYSTEM_PROMPT = (
    "You are a careful math assistant. Solve the problem step by step. "
    "Write each step as one short paragraph and separate the steps with a blank line. "
    "End with the final answer in the form \\boxed{ANSWER}, where ANSWER is only the final number or "
    "expression, without units."
)

FEW_SHOT_EXAMPLES: tuple[tuple[str, str], ...] = (
    (
        "Tom has 3 boxes with 12 pencils in each box. He gives away 9 pencils. How many pencils does he have left?",
        "Tom starts with 3 × 12 = 36 pencils.\n\n"
        "After giving away 9 pencils, he has 36 - 9 = 27 pencils.\n\n"
        "The final answer is \\boxed{27}.",
    ),
    (
        "A shirt costs $20. It is on sale for 25% off. How much does the shirt cost on sale?",
        "The discount is 25% of $20, which is 0.25 × 20 = $5.\n\n"
        "The sale price is 20 - 5 = $15.\n\n"
        "The final answer is \\boxed{15}.",
    ),
    (
        "Maria reads 15 pages on each weekday and 25 pages on each day of the weekend. "
        "How many pages does she read in one week?",
        "On the 5 weekdays she reads 5 × 15 = 75 pages.\n\n"
        "On the 2 weekend days she reads 2 × 25 = 50 pages.\n\n"
        "In one week she reads 75 + 50 = 125 pages.\n\n"
        "The final answer is \\boxed{125}.",
    ),
    (
        "A baker made 48 cookies. He kept half of them and shared the rest equally among 4 friends. "
        "How many cookies did each friend get?",
        "The baker shared half of the cookies, which is 48 / 2 = 24 cookies.\n\n"
        "Each of the 4 friends got 24 / 4 = 6 cookies.\n\n"
        "The final answer is \\boxed{6}.",
    ),
)
"""Worked examples (question, solution) shown as earlier turns when ``few_shot`` > 0, in this order."""


def check_limit(limit: int | None) -> int | None:
    """``limit`` if it is None or an integer >= 0; ConfigError showing the bad value otherwise."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ConfigError(f"limit must be None or an integer >= 0, got {limit!r}")
    return limit


def _check_few_shot(few_shot: object) -> int:
    """A valid number of worked examples, or ConfigError showing the bad value."""
    top = len(FEW_SHOT_EXAMPLES)
    if isinstance(few_shot, bool) or not isinstance(few_shot, int) or not 0 <= few_shot <= top:
        raise ConfigError(f"few_shot must be an integer in [0, {top}], got {few_shot!r}")
    return few_shot


class MathAnswerTask:
    """Math word problems answered in ``\\boxed{}``, graded with math-verify.

    Args:
        few_shot: how many of ``FEW_SHOT_EXAMPLES`` to show before the problem (0 to 4).
        system_prompt: replaces ``DEFAULT_SYSTEM_PROMPT`` (``PROGRAM_SYSTEM_PROMPT`` with programs); it should
            still ask for blank-line-separated steps and a ``\\boxed{}`` answer (a ``solution()`` function),
            or step search and extraction suffer.
        solve_with: "reasoning" (the default) or "program": the model writes Python whose result is the
            answer (``tasks.program_answer``); the worked examples are then programs too.
    """

    name: str = "math"
    step_delimiter: str = "\n\n"

    def __init__(self, *, few_shot: int = 0, system_prompt: str | None = None, solve_with: str = "reasoning") -> None:
        self.few_shot = _check_few_shot(few_shot)
        if system_prompt is not None and (not isinstance(system_prompt, str) or not system_prompt.strip()):
            raise ConfigError(f"system_prompt must be a non-empty string or None, got {system_prompt!r}")
        self._variants: dict[str, MathAnswerTask] = {}
        self._variants_lock = threading.Lock()
        self._use_mode(solve_with, system_prompt)

    def _use_mode(self, solve_with: str, system_prompt: str | None) -> None:
        """Ask for ``solve_with``, with ``system_prompt`` or that mode's default one."""
        if solve_with not in SOLVE_WITH:
            raise ConfigError(f"solve_with must be one of {', '.join(SOLVE_WITH)}, got {solve_with!r}")
        self.solve_with = solve_with
        self._programs = ProgramAnswers() if solve_with == "program" else None
        default = PROGRAM_SYSTEM_PROMPT if self._programs is not None else DEFAULT_SYSTEM_PROMPT
        self.system_prompt = default if system_prompt is None else system_prompt

    def solving_with(self, solve_with: str) -> MathAnswerTask:
        """This task asking for ``solve_with`` instead (the same problems, grading and few-shot setting).

        The copy has that mode's default system prompt: a custom prompt was written for this task's own mode.
        Copies are kept, so a sampler that mixes modes builds each one (and its sandbox) once.
        """
        if solve_with == self.solve_with:
            return self
        with self._variants_lock:  # chunks of one run may share the task across threads
            if solve_with not in self._variants:
                other = copy.copy(self)
                other._variants, other._variants_lock = {}, threading.Lock()
                other._use_mode(solve_with, None)  # validates the mode
                self._variants[solve_with] = other
            return self._variants[solve_with]

    def problems(self, split: str = "test", limit: int | None = None) -> Iterator[Problem]:
        """Always a TaskError: this task only answers questions it is given."""
        raise TaskError("the math task has no built-in problems; use gsm_symbolic, gsm8k or jsonl")

    def messages(self, problem: Problem, few_shot: int | None = None) -> list[Message]:
        """System prompt, ``few_shot`` worked examples as user/assistant turns, then the question.

        ``few_shot`` None uses the task's own setting.
        """
        shots = self.few_shot if few_shot is None else _check_few_shot(few_shot)
        out = [Message("system", self.system_prompt)]
        for i, (question, solution) in enumerate(FEW_SHOT_EXAMPLES[:shots]):
            shown = PROGRAM_EXAMPLES[i] if self._programs is not None else solution
            out += [Message("user", question), Message("assistant", shown)]
        out.append(Message("user", problem.question.strip()))
        return out

    def extract_answer(self, completion: str) -> str | None:
        """The final answer (last ``\\boxed{}``, "the answer is", "####", last number), or None; with programs,
        the value the completion's program computes (None when it fails)."""
        if self._programs is not None:
            return self._programs.answer(completion)
        return answers.extract_answer(completion)

    def answer_key(self, answer: str) -> str:
        """Canonical voting key (numbers by exact value; see ``answers.answer_key``)."""
        return answers.answer_key(answer)

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        """Whether ``answer`` equals ``problem.reference`` (math-verify); TaskError when there is none."""
        if problem.reference is None:
            raise TaskError(f"problem {problem.id or problem.question[:40]!r} has no reference answer to grade")
        return grading.is_equivalent(answer, problem.reference)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(few_shot={self.few_shot}, solve_with={self.solve_with!r})"
