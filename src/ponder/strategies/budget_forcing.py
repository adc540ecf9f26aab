"""Budget forcing (s1, Muennighoff et al., 2025): control how long a model thinks, then force an answer.

The assistant turn opens with ``think_start`` and the model thinks until it writes ``think_end`` (the stop
string of the thinking phase) or stops. ``instruction`` (appended to the question) asks non-reasoning
instruct models to think and close with the marker; reasoning models that already do so can set it to "".
- Too early: if thinking ends before ``min_thinking`` generated tokens, the end is suppressed: ``wait_text``
  is appended and generation continues, at most ``wait`` times (k). After k waits the next end is accepted.
- Too long: thinking is cut at exactly ``max_thinking`` generated tokens (each continuation's max_tokens
  is the thinking budget left).
- Always an answer (s1 #127): ``think_end`` + ``answer_prefix`` are appended and a short answer of at most
  ``answer_tokens`` tokens is generated, whether thinking ended, stopped or was cut.

Everything is raw-prompt continuation (the rendered prompt plus the text so far), so it works on any
backend with ``capabilities.continuation`` (llama.cpp, /v1/completions servers); no logits processors.
Backends without stop strings are handled by cutting at the marker afterwards. Thinking tokens are those
the backend reports generating (``Completion.n_tokens``); the appended wait strings are not generated and
do not count. The run's max_tokens does not apply: a chain generates at most max_thinking + answer_tokens
tokens. Thinking chains of all problems advance together, one call per round; a round's max_tokens
is the smallest budget left among live chains, so a chain cut short by that simply continues next round.

As a sampler (``draw``), n chains per problem think side by side (the first round shares the prompt with
``n`` samples, distinct seeds), e.g. self_consistency over budget-forced samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from ponder.errors import ConfigError
from ponder.strategies.base import Context, continue_each, filter_events, guard, result, sampling_params
from ponder.strategies.depth_common import check_int, check_text, conversation, overrides
from ponder.types import Candidate, Completion, Problem, Result, SamplingParams, TraceEvent

THINK_INSTRUCTION = (
    "Think it through step by step before you answer. When you have finished thinking, write {end} and "
    "then give the final answer."
)
"""The default ``instruction``; ``{end}`` becomes ``think_end``."""


@dataclass
class _Thought:
    """One thinking chain: the prompt it continues, the thinking so far and what happened."""

    problem: Problem
    prompt: str
    position: int = 0
    """Index of the chain among its problem's chains: the sample position (and seed) of all its calls."""
    text: str = ""
    used: int = 0
    """Generated thinking tokens."""
    waits: int = 0
    ended: str = ""
    """Why thinking ended ("end marker", "stopped", "cap"); "" while it goes on."""
    answer: str = ""
    """The forced answer's generated text."""
    answer_tokens: int = 0
    logprobs: list[float] = field(default_factory=list)
    trace: list[TraceEvent] = field(default_factory=list)


@dataclass
class BudgetForcing:
    """Think for at least ``min_thinking`` and at most ``max_thinking`` tokens, then always answer."""

    name: ClassVar[str] = "budget_forcing"
    uses_scorer: ClassVar[bool] = False
    """It never calls the run's scorer (reports leave the scorer out of its label)."""
    min_thinking: int = 0
    """Fewest thinking tokens; an earlier end of thinking is suppressed with ``wait_text`` (<= ``wait`` times)."""
    max_thinking: int = 1024
    """Most thinking tokens, exactly; at the cap thinking is cut and the answer forced."""
    wait: int = 2
    """How many times an early end of thinking may be suppressed (k)."""
    wait_text: str = "Wait"
    """Appended (on a new line) when an early end is suppressed."""
    think_start: str = "<think>\n"
    """Opens the assistant turn; the thinking follows it ("" when the chat template already opens it)."""
    think_end: str = "</think>"
    """Ends the thinking: the stop string of the thinking phase."""
    answer_prefix: str = "\n\nFinal answer: \\boxed{"
    """Appended after ``think_end`` to force the final answer."""
    answer_tokens: int = 32
    """Most tokens of the forced answer."""
    instruction: str = THINK_INSTRUCTION
    """Appended to the question ("{end}" -> think_end) so instruct models think and close; "" = none."""
    temperature: float | None = None
    """Sampling temperature; None uses the run's default."""

    def __post_init__(self) -> None:
        check_int("budget_forcing", "min_thinking", self.min_thinking, 0)
        check_int("budget_forcing", "max_thinking", self.max_thinking, 1)
        check_int("budget_forcing", "wait", self.wait, 0)
        check_int("budget_forcing", "answer_tokens", self.answer_tokens, 1)
        if self.min_thinking > self.max_thinking:
            raise ConfigError(
                f"budget_forcing min_thinking={self.min_thinking} must be <= max_thinking={self.max_thinking}"
            )
        check_text("budget_forcing", "think_end", self.think_end)
        check_text("budget_forcing", "wait_text", self.wait_text)
        for name in ("think_start", "answer_prefix", "instruction"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"budget_forcing {name} must be a string, got {getattr(self, name)!r}")

    def work_units(self, n_problems: int) -> int:
        return n_problems

    def run(self, problems: Sequence[Problem], ctx: Context) -> list[Result]:
        params = sampling_params(ctx, self.temperature, None, logprobs=False)
        thoughts = self._force(problems, ctx, params, 1)
        results = []
        for problem, thought in zip(problems, thoughts, strict=True):
            candidates = guard(problem, [self._candidate(thought, ctx)], ctx)
            kept = candidates[0].filtered is None
            trace = [*thought.trace, *filter_events(candidates)]
            answer = candidates[0].answer if kept else None
            results.append(result(self, problem, ctx, answer, candidates, trace, 0 if kept else None))
        ctx.advance(len(problems))
        return results

    def draw(self, problems: Sequence[Problem], ctx: Context, params: SamplingParams, n: int) -> list[list[Candidate]]:
        """``n`` budget-forced candidates per problem, all chains batched (for composition)."""
        thoughts = self._force(problems, ctx, overrides(params, self.temperature, None), n)
        ctx.advance(len(problems) * n)
        return [[self._candidate(t, ctx) for t in thoughts[i * n : (i + 1) * n]] for i in range(len(problems))]

    def _force(self, problems: Sequence[Problem], ctx: Context, params: SamplingParams, n: int) -> list[_Thought]:
        """Think (``n`` chains per problem, problem-major), then force every chain's answer."""
        if not ctx.backend.capabilities.continuation:
            raise ConfigError(f"budget_forcing needs a backend that continues raw prompts; {ctx.backend.name} cannot")
        note = self.instruction.replace("{end}", self.think_end)
        prompts = [conversation(ctx, p, [], note) + self.think_start for p in problems]
        thoughts = [_Thought(p, prompt, j) for p, prompt in zip(problems, prompts, strict=True) for j in range(n)]
        self._think(thoughts, ctx, params, n)
        self._answer(thoughts, ctx, params)
        return thoughts

    def _think(self, thoughts: Sequence[_Thought], ctx: Context, params: SamplingParams, n: int) -> None:
        rnd = 0
        while live := [t for t in thoughts if not t.ended]:
            rnd += 1
            left = min(self.max_thinking - t.used for t in live)
            step = params.replace(max_tokens=left, stop=(self.think_end,))
            if rnd == 1:  # every chain of a problem starts from the same prompt: one prompt, n samples
                firsts = live[::n]
                gens = ctx.backend.generate([t.prompt for t in firsts], step, n, tags=[t.problem.id for t in firsts])
                comps = [c for g in gens for c in g.completions]
            else:
                prompts = [t.prompt + t.text for t in live]
                comps = continue_each(ctx, prompts, step, [t.position for t in live], [t.problem.id for t in live])
            for thought, comp in zip(live, comps, strict=True):
                self._absorb(thought, comp, rnd)

    def _absorb(self, t: _Thought, comp: Completion, rnd: int) -> None:
        """Add one continuation to a chain and decide: go on, wait, or end thinking."""
        text, marker = comp.text, comp.stop_reason == self.think_end
        if self.think_end in text:  # a backend that ignores stop strings
            text, marker = text[: text.index(self.think_end)], True
        t.text += text
        t.used += comp.n_tokens
        t.logprobs += [lp.logprob for lp in comp.logprobs or ()]
        t.trace.append(
            TraceEvent("think", {"round": rnd, "tokens": comp.n_tokens, "finish": comp.finish_reason, "text": text})
        )
        if t.used >= self.max_thinking:
            t.ended = "cap"
        elif comp.finish_reason == "length" and not marker and comp.n_tokens > 0:
            return  # cut by this round's shared allowance: continue next round
        elif t.used < self.min_thinking and t.waits < self.wait:
            t.text += ("" if not t.text or t.text[-1].isspace() else "\n") + self.wait_text
            t.waits += 1
            t.trace.append(TraceEvent("wait", {"after_tokens": t.used, "count": t.waits, "text": self.wait_text}))
        else:
            t.ended = "end marker" if marker else "stopped"

    def _answer(self, thoughts: Sequence[_Thought], ctx: Context, params: SamplingParams) -> None:
        """Close every chain's thinking and generate its final answer (one call)."""
        for t in thoughts:
            data = {"thinking_tokens": t.used, "waits": t.waits, "reason": t.ended, "prefix": self.answer_prefix}
            t.trace.append(TraceEvent("force_answer", data))
        prompts = [t.prompt + t.text + self.think_end + self.answer_prefix for t in thoughts]
        step = params.replace(max_tokens=self.answer_tokens, stop=())
        positions, tags = [t.position for t in thoughts], [t.problem.id for t in thoughts]
        for t, comp in zip(thoughts, continue_each(ctx, prompts, step, positions, tags), strict=True):
            t.answer, t.answer_tokens = comp.text, comp.n_tokens
            t.logprobs += [lp.logprob for lp in comp.logprobs or ()]
            t.trace.append(TraceEvent("answer", {"tokens": comp.n_tokens, "text": comp.text}))

    def _candidate(self, t: _Thought, ctx: Context) -> Candidate:
        """The whole chain as a candidate. Its answer is read from the forced answer (braces the answer
        token cap left open are closed), or from the thinking when the forced answer is blank."""
        forced = self.answer_prefix + t.answer
        full = self.think_start + t.text + self.think_end + forced
        answer = None
        if t.answer.strip():
            answer = ctx.task.extract_answer(forced + "}" * max(0, forced.count("{") - forced.count("}")))
        answer = answer or ctx.task.extract_answer(t.text)
        logprobs = tuple(t.logprobs) if t.logprobs else None
        return Candidate(full, answer, n_tokens=t.used + t.answer_tokens, token_logprobs=logprobs)
