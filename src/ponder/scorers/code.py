"""Public-example scoring of code ("public_tests"): the share of a prompt's own examples a candidate passes.

For a coding problem (one that names a function: ``metadata["entry_point"]`` or a ``def`` in the question),
the examples shown in the docstring (doctests, ``f(x) == y`` lines; see ``ponder.code.examples``) run
against each candidate's program in the sandbox; the score is the fraction passed, in [0, 1]. A
candidate without code scores 0. Problems that are not code, or show no examples, score 0 for everyone
(no preference). Only the public prompt is used: the hidden tests are the problem's reference, which
scorers never see. No model is run, so no tokens are charged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ponder.code.sandbox import Limits, Sandbox
from ponder.code.select import CodeProblem, public_results
from ponder.types import Candidate, Problem

__all__ = ["PublicTestsScorer"]


class PublicTestsScorer:
    """Scores code candidates by the fraction of the prompt's public examples they pass.

    Args:
        backend: unused.
        task: unused (programs are built from the problem's prompt and the candidate's code).
        timeout: wall seconds for the program and for each example.
    """

    name: str = "public_tests"
    needs_logprobs: bool = False

    def __init__(self, backend: Any = None, task: Any = None, *, timeout: float = 5.0) -> None:
        self.sandbox = Sandbox(Limits(timeout=timeout))

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        """The fraction of public examples each candidate passes (0.0 when there are none)."""
        code_problem = CodeProblem.of(problem)
        if code_problem is None or not code_problem.examples or not candidates:
            return [0.0] * len(candidates)
        total = len(code_problem.examples)
        return [sum(o.passed for o in outs) / total for outs in public_results(self.sandbox, code_problem, candidates)]

    def __repr__(self) -> str:
        return f"PublicTestsScorer(timeout={self.sandbox.limits.timeout!r})"
