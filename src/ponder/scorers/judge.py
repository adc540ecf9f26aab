"""LLM-as-judge ("judge"): the model is asked whether a solution, or one step of it, is correct; score = P("Yes").

P("Yes") comes from the first reply token's top logprobs where the backend has them, else from the reply's
first yes/no word (see ``ponder.scorers.yes_no``). All prompts of one problem go to the backend in one call,
charged to the problem's id.

Step level (``score_steps``) has two styles:

- "continue" (used whenever the caller passes the ``prompt`` the steps continue, as every search strategy
  does): the judge's prompt is that generation prompt, the steps so far each followed by the task's step
  delimiter, then the assistant turn is closed and a short user turn asks ``continue_prompt`` about the last
  step (self-evaluation, as in Xie et al. 2023). Everything before the question is exactly what the policy
  already decoded, so a prefix-caching backend processes only the few tokens of the question.
- "fresh" (no ``prompt`` given, or ``step_style="fresh"``): a new conversation built from ``step_prompt`` with
  the question, the steps so far as "Step k:" blocks, and the question about the latest step.

Step scores are remembered per (problem, prompt, steps so far), so a search that extends a judged trajectory
pays only for its new steps (``cache=False`` turns this off).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from ponder.errors import ConfigError
from ponder.scorers.yes_no import Mode, YesNoAsker, check_template, fill
from ponder.types import Candidate, Message, Problem

__all__ = ["DEFAULT_CONTINUE_PROMPT", "DEFAULT_PROMPT", "DEFAULT_STEP_PROMPT", "JudgeScorer"]

_CACHE_ENTRIES = 100_000
"""Step scores remembered per judge (least recently used ones are dropped)."""

DEFAULT_PROMPT = (
    "Question:\n{question}\n\nProposed solution:\n{solution}\n\n"
    "Is this solution correct? Answer with a single word: Yes or No."
)
"""Outcome prompt; ``{question}`` and ``{solution}`` are filled in (other braces are left alone)."""
DEFAULT_STEP_PROMPT = (
    "Question:\n{question}\n\nSolution steps so far:\n{steps}\n\n"
    "Is step {n} correct, given the question and the steps before it? Answer with a single word: Yes or No."
)
"""Step prompt; ``{steps}`` holds steps 1..n as "Step k:" blocks and ``{n}`` the number of the judged step."""
DEFAULT_CONTINUE_PROMPT = "Is it correct?"
"""The question asked after the steps in the "continue" step style. It is asked once per judged step, so it is
kept short; no answer format is asked for, because P("Yes") is read from the reply's first token and normalised
against P("No"). Chosen by ``bench.judge_question`` (docs/BENCHMARKS.md): of the four questions it compared,
this one ranked step prefixes best by their solutions' correctness and costs 2 tokens less per judged step than
"Is the last step correct?"."""
STEP_STYLES: tuple[str, ...] = ("auto", "continue", "fresh")
_MARK = "\u2063PONDER-JUDGE-MARK\u2063"
"""Placeholder assistant text used to cut the chat template's turn change out of a rendered conversation."""


class JudgeScorer:
    """LLM-as-judge outcome and process scorer: P("Yes") that a solution (or a step) is correct.

    Args:
        backend: the run's Metered backend; the judge's calls are charged to each problem's id.
        task: the run's task; only its ``step_delimiter`` is used (``"\\n\\n"`` without a task).
        prompt: outcome prompt template with ``{question}`` and ``{solution}`` (default ``DEFAULT_PROMPT``).
        step_prompt: "fresh" step prompt template with ``{question}``, ``{steps}`` and ``{n}``.
        continue_prompt: the question asked after the steps in the "continue" step style.
        step_style: "auto" (continue when the caller gives the generation prompt and the backend continues
            prompts, else fresh), "continue" (ConfigError without either) or "fresh".
        mode: "auto" (logprobs when the backend has top logprobs, else text), "logprobs" or "text".
        temperature: of the verdict; 0 (greedy) by default.
        cache: remember step scores per (problem, steps so far).
    """

    name: str = "judge"
    needs_logprobs: bool = False

    def __init__(
        self,
        backend: Any,
        task: Any = None,
        *,
        prompt: str | None = None,
        step_prompt: str | None = None,
        continue_prompt: str = DEFAULT_CONTINUE_PROMPT,
        step_style: str = "auto",
        mode: Mode = "auto",
        temperature: float = 0.0,
        cache: bool = True,
    ) -> None:
        self.asker = YesNoAsker(backend, mode=mode, temperature=temperature, who="judge")
        self.prompt = check_template(DEFAULT_PROMPT if prompt is None else prompt, ("solution",), "judge")
        self.step_prompt = check_template(
            DEFAULT_STEP_PROMPT if step_prompt is None else step_prompt, ("steps",), "judge step"
        )
        if not isinstance(continue_prompt, str) or not continue_prompt.strip():
            raise ConfigError(f"judge continue_prompt must be a non-empty string, got {continue_prompt!r}")
        if step_style not in STEP_STYLES:
            raise ConfigError(f"judge step_style must be one of {', '.join(STEP_STYLES)}, got {step_style!r}")
        can_continue = bool(backend.capabilities.continuation)
        if step_style == "continue" and not can_continue:
            raise ConfigError(
                f'judge step_style="continue" needs a backend that continues a prompt; {backend.name!r} does not'
            )
        self.step_style = step_style if can_continue else "fresh"
        self.delimiter = str(getattr(task, "step_delimiter", None) or "\n\n")
        self.turn = _turn_change(self.asker, continue_prompt) if can_continue else ""
        self.cache = cache
        self._memo: OrderedDict[tuple[str, str, str | None, tuple[str, ...]], float] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def mode(self) -> str:
        """The mode in use: "logprobs" or "text"."""
        return self.asker.mode

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        """P(Yes) that each candidate solves ``problem``; one backend call for all of them."""
        prompts = [self.asker.render(fill(self.prompt, question=problem.question, solution=c.text)) for c in candidates]
        return self.asker.ask(prompts, problem.id)

    def score_steps(
        self, problem: Problem, candidates: Sequence[Sequence[str]], prompt: str | None = None
    ) -> list[list[float]]:
        """For each candidate, P(Yes) that each step is correct given the earlier ones; new steps of all
        candidates are judged in one backend call, steps judged before are recalled. ``prompt`` is the
        rendered generation prompt the steps continue (used by the "continue" step style)."""
        context = self._context(prompt)
        prefixes = [[tuple(steps[: i + 1]) for i in range(len(steps))] for steps in candidates]
        unique = list(dict.fromkeys(p for row in prefixes for p in row))
        known = self._recall(problem, context, unique)
        todo = [p for p in unique if p not in known]
        prompts = [self._step_prompt(problem, context, p) for p in todo]
        fresh = dict(zip(todo, self.asker.ask(prompts, problem.id), strict=True))
        self._remember(problem, context, fresh)
        known.update(fresh)
        return [[known[p] for p in row] for row in prefixes]

    def _context(self, prompt: str | None) -> str | None:
        """The generation prompt to continue, or None for the fresh style."""
        if self.step_style == "fresh":
            return None
        if prompt is None and self.step_style == "continue":
            raise ConfigError('judge step_style="continue" needs the generation prompt the steps continue')
        return prompt

    def _step_prompt(self, problem: Problem, context: str | None, steps: tuple[str, ...]) -> str:
        if context is not None:
            return context + "".join(step + self.delimiter for step in steps) + self.turn
        shown = "\n\n".join(f"Step {k}:\n{step.strip()}" for k, step in enumerate(steps, 1))
        return self.asker.render(fill(self.step_prompt, question=problem.question, steps=shown, n=str(len(steps))))

    def _recall(
        self, problem: Problem, context: str | None, prefixes: list[tuple[str, ...]]
    ) -> dict[tuple[str, ...], float]:
        found: dict[tuple[str, ...], float] = {}
        with self._lock:
            for steps in prefixes:
                key = (problem.id, problem.question, context, steps)
                if key in self._memo:
                    self._memo.move_to_end(key)
                    found[steps] = self._memo[key]
        return found

    def _remember(self, problem: Problem, context: str | None, scores: dict[tuple[str, ...], float]) -> None:
        if not self.cache:
            return
        with self._lock:
            for steps, value in scores.items():
                self._memo[(problem.id, problem.question, context, steps)] = value
            while len(self._memo) > _CACHE_ENTRIES:
                self._memo.popitem(last=False)

    def __repr__(self) -> str:
        return f"JudgeScorer(mode={self.mode!r}, step_style={self.step_style!r})"


def _turn_change(asker: YesNoAsker, question: str) -> str:
    """What follows the assistant's partial text in the "continue" style: the chat template's end of the
    assistant turn, a user turn asking ``question``, and the start of the reply; cut out of a rendered
    conversation around a placeholder. Templates that drop the placeholder get a plain-text question."""
    rendered = asker.backend.render([Message("user", "?"), Message("assistant", _MARK), Message("user", question)])
    at = rendered.find(_MARK)
    if at < 0:
        return f"\n\n{question}\n"
    return str(rendered[at + len(_MARK) :])
