"""LLM-as-judge ("judge"): the model is asked whether a solution, or one step of it, is correct; score = P("Yes").

With logprobs (the backend reports at least two top alternatives per token) the judge generates one token
and reads P("Yes") / (P("Yes") + P("No")) from the first token's top alternatives, summing the spelling
variants of each word (" Yes", "Yes", "yes", "YES", ...); when neither word is among them the score is 0.5.
Without logprobs ("text" mode) it generates a few tokens and parses the first yes or no: 1.0, 0.0, or 0.5 when
it finds neither. All prompts of one problem go to the backend in one call, charged to the problem's id.

Step level (``score_steps``): step i of a candidate is judged given the question and the steps before it.
Prompts are prefix-friendly: question, then the steps so far, then the question about the latest step, so a
prefix-caching backend reuses the shared part. Step scores are remembered per (problem, steps so far), so a
search that extends a judged trajectory pays only for its new steps (``cache=False`` turns this off).

``YesNoAsker`` (the yes/no probability machinery) is shared with the judge guardrail in
``ponder.guardrails``. Backend failures propagate as the backend's BackendError; a malformed reply
(wrong number of generations, logprobs missing although asked) raises ScorerError.
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

from ponder.budget import Metered
from ponder.errors import ConfigError, ScorerError
from ponder.types import Candidate, Completion, Message, Problem, SamplingParams

__all__ = [
    "DEFAULT_PROMPT",
    "DEFAULT_STEP_PROMPT",
    "JudgeScorer",
    "YesNoAsker",
    "fill",
    "parse_yes_no",
    "yes_probability",
]

Mode = Literal["auto", "logprobs", "text"]
MODES: tuple[str, ...] = ("auto", "logprobs", "text")
TOP_K = 10
"""Top alternatives asked for in logprobs mode (fewer when the backend offers fewer)."""
TEXT_TOKENS = 8
"""Tokens generated in text mode to find the verdict."""
_CACHE_ENTRIES = 100_000
"""Step scores remembered per judge (least recently used ones are dropped)."""
_STRIP = " \t\r\n▁Ġ.,:;!?*\"'`()[]"
_VERDICT = re.compile(r"\b(yes|no)\b", re.IGNORECASE)

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


def fill(template: str, **values: str) -> str:
    """``template`` with each ``{name}`` of ``values`` replaced; any other braces (``\\boxed{}``) stay as they are."""
    pattern = re.compile("|".join(re.escape("{" + name + "}") for name in values))
    return pattern.sub(lambda m: values[m.group()[1:-1]], template)


def check_template(template: Any, required: Sequence[str], who: str) -> str:
    """``template`` if it is a string holding every ``{name}`` in ``required``, else ConfigError."""
    if not isinstance(template, str) or not template.strip():
        raise ConfigError(f"{who} prompt must be a non-empty string, got {template!r}")
    missing = [name for name in required if "{" + name + "}" not in template]
    if missing:
        raise ConfigError(f"{who} prompt must contain {', '.join('{' + m + '}' for m in missing)}; got {template!r}")
    return template


def _word(token: str) -> str:
    return token.strip(_STRIP).casefold()


def yes_probability(completion: Completion) -> float:
    """P(Yes) / (P(Yes) + P(No)) over the first token's alternatives (0.5 when neither word is there).

    Raises ScorerError when the completion carries no logprobs or a NaN logprob.
    """
    if completion.logprobs is None:
        raise ScorerError("the backend returned no logprobs although the judge asked for them")
    if not completion.logprobs:
        return 0.5  # the model ended at once: no evidence either way
    first = completion.logprobs[0]
    # The top alternatives are the distribution; the sampled token counts only when none came with it.
    options = dict(first.top) or {first.token: first.logprob}
    p_yes = p_no = 0.0
    for token, logprob in options.items():
        if not isinstance(logprob, int | float) or math.isnan(logprob):
            raise ScorerError(f"the backend returned a malformed logprob {logprob!r} for token {token!r}")
        word = _word(token)
        if word == "yes":
            p_yes += math.exp(logprob)
        elif word == "no":
            p_no += math.exp(logprob)
    return p_yes / (p_yes + p_no) if p_yes + p_no > 0 else 0.5


def parse_yes_no(text: str) -> float:
    """1.0 when the first verdict word in ``text`` is yes, 0.0 when it is no, 0.5 when there is neither."""
    found = _VERDICT.search(text)
    if found is None:
        return 0.5
    return 1.0 if found.group(1).casefold() == "yes" else 0.0


class YesNoAsker:
    """Asks a metered backend batches of yes/no questions and returns P(Yes) for each.

    Args:
        backend: the run's Metered backend (its meter is charged, per problem id).
        mode: "logprobs" (needs top logprobs), "text" (parse the reply), or "auto" (logprobs when available).
        temperature: sampling temperature of the verdict (0 = greedy); samples are seeded for reproducibility.
        who: the component's name, for error messages.
    """

    def __init__(self, backend: Any, *, mode: str = "auto", temperature: float = 0.0, who: str = "judge") -> None:
        if not isinstance(backend, Metered):
            raise ConfigError(f"{who} needs the run's Metered backend (wrap it: Metered(backend)), got {backend!r}")
        if mode not in MODES:
            raise ConfigError(f"{who} mode must be one of {', '.join(MODES)}, got {mode!r}")
        caps = backend.capabilities
        has_logprobs = caps.logprobs and caps.top_logprobs >= 2
        if mode == "logprobs" and not has_logprobs:
            raise ConfigError(
                f"{who} mode='logprobs' needs a backend with top logprobs; {backend.name!r} reports "
                f"logprobs={caps.logprobs}, top_logprobs={caps.top_logprobs} (use mode='text' or 'auto')"
            )
        self.backend = backend
        self.who = who
        self.mode: Literal["logprobs", "text"] = "logprobs" if mode != "text" and has_logprobs else "text"
        if self.mode == "logprobs":
            k = min(TOP_K, caps.top_logprobs, 20)
            self.params = SamplingParams(temperature=temperature, max_tokens=1, logprobs=k, seed=0)
        else:
            self.params = SamplingParams(temperature=temperature, max_tokens=TEXT_TOKENS, seed=0)

    def render(self, content: str) -> str:
        """One user message asking ``content``, rendered with the backend's chat template."""
        return self.backend.render([Message("user", content)])

    def ask(self, prompts: Sequence[str], tag: str) -> list[float]:
        """P(Yes) of each rendered prompt, from one backend call whose usage is charged to ``tag``."""
        if not prompts:
            return []
        generations = self.backend.generate(prompts, self.params, 1, tags=[tag] * len(prompts))
        if len(generations) != len(prompts):
            raise ScorerError(f"{self.who}: the backend returned {len(generations)} generations for {len(prompts)}")
        out = []
        for i, generation in enumerate(generations):
            if len(generation.completions) != 1:
                raise ScorerError(
                    f"{self.who}: the backend returned {len(generation.completions)} completions for prompt {i}, "
                    "expected 1"
                )
            reply = generation.completions[0]
            out.append(yes_probability(reply) if self.mode == "logprobs" else parse_yes_no(reply.text))
        return out


class JudgeScorer:
    """LLM-as-judge outcome and process scorer: P("Yes") that a solution (or a step) is correct.

    Args:
        backend: the run's Metered backend; the judge's calls are charged to each problem's id.
        task: unused (any task works).
        prompt: outcome prompt template with ``{question}`` and ``{solution}`` (default ``DEFAULT_PROMPT``).
        step_prompt: step prompt template with ``{question}``, ``{steps}`` and ``{n}`` (``DEFAULT_STEP_PROMPT``).
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
        mode: Mode = "auto",
        temperature: float = 0.0,
        cache: bool = True,
    ) -> None:
        self.asker = YesNoAsker(backend, mode=mode, temperature=temperature, who="judge")
        self.prompt = check_template(DEFAULT_PROMPT if prompt is None else prompt, ("solution",), "judge")
        self.step_prompt = check_template(
            DEFAULT_STEP_PROMPT if step_prompt is None else step_prompt, ("steps",), "judge step"
        )
        self.cache = cache
        self._memo: OrderedDict[tuple[str, str, tuple[str, ...]], float] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def mode(self) -> str:
        """The mode in use: "logprobs" or "text"."""
        return self.asker.mode

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        """P(Yes) that each candidate solves ``problem``; one backend call for all of them."""
        prompts = [self.asker.render(fill(self.prompt, question=problem.question, solution=c.text)) for c in candidates]
        return self.asker.ask(prompts, problem.id)

    def score_steps(self, problem: Problem, candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        """For each candidate, P(Yes) that each step is correct given the earlier ones; new steps of all
        candidates are judged in one backend call, steps judged before are recalled."""
        prefixes = [[tuple(steps[: i + 1]) for i in range(len(steps))] for steps in candidates]
        unique = list(dict.fromkeys(p for row in prefixes for p in row))
        known = self._recall(problem, unique)
        todo = [p for p in unique if p not in known]
        prompts = [self.asker.render(self._step_content(problem, p)) for p in todo]
        fresh = dict(zip(todo, self.asker.ask(prompts, problem.id), strict=True))
        self._remember(problem, fresh)
        known.update(fresh)
        return [[known[p] for p in row] for row in prefixes]

    def _step_content(self, problem: Problem, steps: tuple[str, ...]) -> str:
        shown = "\n\n".join(f"Step {k}:\n{step.strip()}" for k, step in enumerate(steps, 1))
        return fill(self.step_prompt, question=problem.question, steps=shown, n=str(len(steps)))

    def _key(self, problem: Problem, steps: tuple[str, ...]) -> tuple[str, str, tuple[str, ...]]:
        return (problem.id, problem.question, steps)

    def _recall(self, problem: Problem, prefixes: list[tuple[str, ...]]) -> dict[tuple[str, ...], float]:
        found: dict[tuple[str, ...], float] = {}
        with self._lock:
            for steps in prefixes:
                key = self._key(problem, steps)
                if key in self._memo:
                    self._memo.move_to_end(key)
                    found[steps] = self._memo[key]
        return found

    def _remember(self, problem: Problem, scores: dict[tuple[str, ...], float]) -> None:
        if not self.cache:
            return
        with self._lock:
            for steps, value in scores.items():
                self._memo[self._key(problem, steps)] = value
            while len(self._memo) > _CACHE_ENTRIES:
                self._memo.popitem(last=False)

    def __repr__(self) -> str:
        return f"JudgeScorer(mode={self.mode!r})"
