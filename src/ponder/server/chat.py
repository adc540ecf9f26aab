"""``/v1/chat/completions``: from a request to a plan, run into an outcome (``chat_out`` shapes the response).

How messages are used:
- With a strategy (``ponder:<name>``, a ``ponder`` field or ``reasoning_effort``): the last ``user``
  message is the question; the task (default ``math``) writes the prompt the model sees, as ``ponder
  solve`` does. ``system``/``developer`` messages, joined, replace the task's system prompt when the task
  takes one (``math`` and its dataset tasks do); earlier turns are not used. Each of the ``n`` choices is
  an independent run of the strategy with its own seed (``seed + i``; a random base seed when the request
  gives none, reported in ``ponder.seeds``).
- With the base model and no ponder options: every message goes through the backend's chat template and
  the ``n`` choices are ``n`` samples of one backend call (seeded as ponder's backends seed samples).

A choice's content is the chosen candidate's full text (its reasoning, ending in the answer). When a
strategy singles out no candidate, the first candidate holding the winning answer is shown, else the last.
finish_reason is "length" only when that candidate has no answer and used ``max_tokens`` or more, or when the
run has no candidate at all (a search whose token budget ran out first): then the content is empty.
``usage`` counts every token the runs spent (all samples, scorer calls included), from the metering
wrapper. The ``ponder`` field holds the answers, candidates (without text), trace event counts (the full
trace with ``"trace": true``), per-run usage and the seeds.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ponder.api import get_task, make_context, run_chunks
from ponder.budget import Metered
from ponder.errors import ConfigError, PonderError
from ponder.server.chat_out import ChoiceOut, Outcome, pick, summary, usage_out
from ponder.server.errors import APIError, bad_request, from_exception
from ponder.server.routing import RunSpec, resolve
from ponder.server.schemas import ChatCompletionRequest, ChatMessage
from ponder.server.state import ServerState
from ponder.server.worker import Cancellable, CancelToken
from ponder.tasks.base import Task
from ponder.tasks.program_answer import PROGRAM_SYSTEM_PROMPT
from ponder.types import Message, Problem, Result, SamplingParams, Usage

Tick = Callable[[int], None]


@dataclass
class ChatPlan:
    """A validated chat request, ready to run on a worker thread."""

    state: ServerState
    spec: RunSpec
    params: SamplingParams
    n: int
    messages: list[Message]
    problem: Problem | None = None
    task: Task | None = None
    seeds: tuple[int, ...] = ()

    @property
    def total(self) -> int:
        """Progress units the whole request will report."""
        if self.spec.strategy is None:
            return self.n
        return self.n * max(1, self.spec.strategy.work_units(1))

    def run(self, token: CancelToken, tick: Tick) -> Outcome:
        if self.spec.strategy is None:
            return self._sample(token, tick)
        return self._solve(token, tick)

    def _sample(self, token: CancelToken, tick: Tick) -> Outcome:
        backend = Metered(Cancellable(self.state.backend, token))
        [gen] = backend.generate([backend.render(self.messages)], self.params, self.n)
        tick(self.n)
        choices = [ChoiceOut(c.text, c.finish_reason, c.logprobs) for c in gen.completions]
        return Outcome(choices, backend.usage)

    def _solve(self, token: CancelToken, tick: Tick) -> Outcome:
        assert self.spec.strategy is not None and self.problem is not None and self.task is not None
        usage, results = Usage(), []
        for seed in self.seeds:
            ctx = make_context(
                Cancellable(self.state.backend, token),
                self.task,
                self.state.registries,
                params=self.params.replace(seed=seed),
                scorer=self.spec.scorer,
                progress=tick,
            )
            try:
                results.extend(run_chunks(self.spec.strategy, [self.problem], ctx, 1))
            except PonderError as exc:
                if not results:
                    raise
                raise self._partial(exc, results, usage + ctx.backend.usage) from exc
            usage = usage + ctx.backend.usage
        choices = [self._choice(res) for res in results]
        return Outcome(choices, usage, summary(results, self.seeds, self.spec.trace))

    def _partial(self, exc: PonderError, results: list[Result], usage: Usage) -> APIError:
        """The error of run ``len(results)`` of ``n``, carrying the runs finished before it (their choices and
        ponder summary) and every token spent, failed run included, in its ``ponder`` field."""
        done = [self._choice(res) for res in results]
        finished = [{"index": i, "text": c.text, "finish_reason": c.finish_reason} for i, c in enumerate(done)]
        extra = {"completed_choices": finished, "usage": usage_out(usage).model_dump()}
        extra |= summary(results, self.seeds[: len(results)], self.spec.trace)
        return dataclasses.replace(from_exception(exc), extra={"ponder": extra})

    def _choice(self, res: Result) -> ChoiceOut:
        assert self.task is not None
        cand = pick(res, self.task)
        if cand is None:  # a search whose budget ran out before any complete solution; its ponder field says so
            return ChoiceOut("", "length")
        cut = cand.answer is None and cand.n_tokens >= self.params.max_tokens
        return ChoiceOut(cand.text, "length" if cut else "stop")


def plan_chat(state: ServerState, req: ChatCompletionRequest) -> ChatPlan:
    """Validate a chat request into a plan (APIError for anything wrong, before any work starts)."""
    if req.n > state.limits.max_n:
        raise bad_request(f"n must be <= {state.limits.max_n}, got {req.n}", "n")
    spec = resolve(state, req.model, req.ponder, req.reasoning_effort)
    params = sampling(state, req)
    if spec.strategy is None:
        messages = [_message(m, i) for i, m in enumerate(req.messages)]
        if req.logprobs:
            params = params.replace(logprobs=req.top_logprobs or 0)
        return ChatPlan(state, spec, params, req.n, messages)
    question, system = question_of(req.messages)
    task = build_task(state, spec.task, system, spec.solve_with)
    base = req.seed if req.seed is not None else random.SystemRandom().randrange(2**31)
    seeds = tuple(base + i for i in range(req.n))
    return ChatPlan(state, spec, params, req.n, [], Problem(question, id="request"), task, seeds)


def sampling(state: ServerState, req: ChatCompletionRequest) -> SamplingParams:
    """The request's sampling fields over the server's defaults (a field the request leaves out keeps the
    server's default)."""
    changes = req.overrides()
    max_tokens = req.max_completion_tokens or req.max_tokens
    if max_tokens is not None:
        changes["max_tokens"] = max_tokens
    try:
        return state.params.replace(**changes)
    except ConfigError as exc:
        raise bad_request(str(exc)) from None


def question_of(messages: list[ChatMessage]) -> tuple[str, str | None]:
    """(the last user message's text, the system/developer messages joined or None)."""
    users = [m.text() for m in messages if m.role == "user"]
    if not users or not users[-1].strip():
        raise bad_request("a strategy needs a non-empty user message (the question)", "messages")
    system = "\n\n".join(m.text() for m in messages if m.role in ("system", "developer") and m.text().strip())
    return users[-1], system or None


def build_task(state: ServerState, name: str, system: str | None, solve_with: str | None = None) -> Task:
    """The named task, with ``system`` as its system prompt when it takes one (after the program prompt with
    ``solve_with="program"``, so the model is still asked for code), solving ``solve_with``."""
    try:
        factory = state.registries.tasks.get(name)
    except ConfigError as exc:
        raise bad_request(str(exc), "ponder.task", "invalid_parameter") from None
    takes = inspect.signature(factory).parameters
    if system and solve_with == "program":  # keep asking for code: the client's text comes after
        system = f"{PROGRAM_SYSTEM_PROMPT}\n\n{system}"
    options: dict[str, Any] = {"system_prompt": system} if system and "system_prompt" in takes else {}
    if solve_with is not None:
        if "solve_with" not in takes:
            raise bad_request(f"task {name!r} has no solve_with option", "ponder.solve_with", "invalid_parameter")
        options["solve_with"] = solve_with
    try:
        return get_task(name, state.registries, **options)
    except ConfigError as exc:
        where = "ponder.solve_with" if "solve_with" in str(exc) else "ponder.task"
        raise bad_request(str(exc), where, "invalid_parameter") from None


def _message(m: ChatMessage, index: int) -> Message:
    if m.role in ("tool", "function"):
        raise bad_request(f"{m.role} messages are not supported", f"messages.{index}.role")
    return Message("system" if m.role == "developer" else m.role, m.text())  # type: ignore[arg-type]
