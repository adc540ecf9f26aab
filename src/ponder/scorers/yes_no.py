"""Yes/no questions to a model: P("Yes") from the first token's top logprobs, or the reply's first verdict word.

With logprobs (the backend reports at least two top alternatives per token) one token is generated and
P("Yes") / (P("Yes") + P("No")) is read from its top alternatives, summing the spelling variants of each word
(" Yes", "Yes", "yes", "YES", ...); when neither word is among them the score is 0.5. Without logprobs
("text" mode) a few tokens are generated and the first yes or no is parsed: 1.0, 0.0, or 0.5 when there is
neither. Shared by the judge scorer (``ponder.scorers.judge``) and the judge guardrail (``ponder.guardrails``).
Backend failures propagate as the backend's BackendError; a malformed reply (wrong number of generations,
logprobs missing although asked) raises ScorerError.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Literal

from ponder.budget import Metered
from ponder.errors import ConfigError, ScorerError
from ponder.types import Completion, Message, SamplingParams

__all__ = ["MODES", "Mode", "YesNoAsker", "check_template", "fill", "parse_yes_no", "yes_probability"]

Mode = Literal["auto", "logprobs", "text"]
MODES: tuple[str, ...] = ("auto", "logprobs", "text")
TOP_K = 10
"""Top alternatives asked for in logprobs mode (fewer when the backend offers fewer)."""
TEXT_TOKENS = 8
"""Tokens generated in text mode to find the verdict."""
_STRIP = " \t\r\n▁Ġ.,:;!?*\"'`()[]"
_VERDICT = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


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
