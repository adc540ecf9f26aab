"""Judging candidate programs without hidden tests: public examples, then behaviour clusters (CodeT/AlphaCode).

``CodeProblem.of(problem, task)`` reads what a blind problem shows (the prompt and the function's name,
from ``metadata`` or the question) and the public examples in its docstring. ``public_results`` runs each
candidate's program on those examples in the sandbox; ``behaviour_clusters`` runs the survivors on probe
inputs (mutations of the examples' arguments) and groups candidates whose outputs agree everywhere.
Nothing here reads ``Problem.reference``: strategies pass blind problems, and hidden tests live only there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ponder.code.examples import Example, build_program, probe_inputs, public_examples
from ponder.code.sandbox import Sandbox, TestOutcome
from ponder.types import Candidate, Problem

__all__ = ["CodeProblem", "behaviour_clusters", "public_results"]

_DEF = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)


@dataclass(frozen=True)
class CodeProblem:
    """What a blind coding problem shows: its prompt code, the function to write and its public examples."""

    prompt: str
    entry_point: str
    examples: tuple[Example, ...]

    @staticmethod
    def of(problem: Problem, task: Any = None) -> CodeProblem | None:
        """The coding view of ``problem``, or None when it names no function to write."""
        prompt = str(problem.metadata.get("prompt") or problem.question)
        entry_point = problem.metadata.get("entry_point")
        if not isinstance(entry_point, str) or not entry_point.isidentifier():
            names = _DEF.findall(prompt)
            if not names:
                return None
            entry_point = names[-1]
        return CodeProblem(prompt, entry_point, tuple(public_examples(prompt, entry_point)))

    def program(self, answer: str) -> str:
        """The runnable program for a candidate's code."""
        return build_program(self.prompt, answer, self.entry_point)


def public_results(
    sandbox: Sandbox, code_problem: CodeProblem, candidates: Sequence[Candidate]
) -> list[tuple[TestOutcome, ...]]:
    """Each candidate's outcome on every public example (all failed for a candidate without code)."""
    tests = [e.test for e in code_problem.examples]
    out: list[tuple[TestOutcome, ...]] = []
    for cand in candidates:
        if cand.answer is None:
            out.append(tuple(TestOutcome(i, False, "no code in the candidate") for i in range(len(tests))))
        else:
            out.append(sandbox.run(code_problem.program(cand.answer), tests).outcomes)
    return out


def behaviour_clusters(
    sandbox: Sandbox,
    code_problem: CodeProblem,
    candidates: Sequence[Candidate],
    members: Sequence[int],
    probes: int,
    seed: int,
) -> tuple[list[list[int]], list[str]]:
    """Groups of ``members`` (candidate indices) whose programs give the same output on every probe input,
    largest first (ties: earliest member first), and the probe calls used. No probes: one group each."""
    inputs = probe_inputs(list(code_problem.examples), probes, seed)
    calls = [f"{code_problem.entry_point}(*{args!r})" for args in inputs]
    if not calls:
        return [[i] for i in members], []
    groups: dict[tuple[str, ...], list[int]] = {}
    for i in members:
        answer = candidates[i].answer or ""
        outcomes = sandbox.run(code_problem.program(answer), calls).outcomes
        groups.setdefault(tuple(_signature(o) for o in outcomes), []).append(i)
    ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    return ordered, calls


def _signature(outcome: TestOutcome) -> str:
    """What a probe call did: its value's repr, the exception type, or a timeout."""
    if outcome.timed_out:
        return "<timeout>"
    if not outcome.passed:
        return f"<error {(outcome.error or '').split(':')[0]}>"
    return outcome.value or ""
