"""Program-aided answers: the model writes Python, the sandbox runs it, its result is the answer.

Program-aided language models (PAL, Gao et al. 2023) and program of thoughts (PoT, Chen et al. 2023) let the
model write the computation and leave the arithmetic to Python. Math tasks take ``solve_with="program"``
(``--task-option solve_with=program``): the prompt asks for a ``solution()`` function in one fenced block,
and ``ProgramAnswers.answer`` turns a completion into an answer:

1. the code is the completion's first fenced python block that defines a function (else its first fenced
   block, else the text when it looks like code; ``code.extract.extract_code``);
2. it runs in the sandbox (``code.sandbox``: fresh interpreter, time and memory limits, no network or
   writes outside a temporary directory) with ``print`` replaced by a recorder, and the answer is the value
   ``solution()`` returns; when there is no ``solution`` or it returns None, the last line printed (models
   often end with ``print(...)`` instead); when nothing is printed either, the variable assigned by the last
   statement of ``solution()`` (the model forgot the ``return``) or, in a script without any function, by
   its last top-level statement (Program-of-Thoughts style: ``total = ...`` as the last line); an
   assignment of a bare constant (``i = 0``) does not count. A body written without its ``def`` (a
   ``return`` at the top level) runs as ``solution()``'s body;
3. the value becomes answer text: integers as they are, floats rounded to 6 decimals (``25.0`` -> ``25``),
   ``Fraction(3, 4)`` and sympy's ``3/4`` as ``3/4``, ``Decimal('2.5')`` and numpy scalars
   (``np.float64(2.5)``) by their number; printed text that is a Python literal as that value (a printed
   ``10.0`` or ``1.5e16`` votes with the same number returned), other text by the task's usual extraction
   (the last number in ``"$25 in total"``); bools, lists and other objects, text without a number, errors,
   timeouts and programs without a value give None (an abstention; strategies vote without it).

Every strategy works unchanged on top (self-consistency votes over program results, adaptive calibrates on
them). Answers are remembered per completion text, so voting and grading run a program once.
"""

from __future__ import annotations

import ast
import math
import re
import textwrap
import threading
from collections import OrderedDict

from ponder.code.extract import extract_code
from ponder.code.sandbox import Limits, Sandbox
from ponder.tasks import answers

__all__ = ["PROGRAM_EXAMPLES", "PROGRAM_SYSTEM_PROMPT", "ProgramAnswers", "value_to_answer", "with_fallbacks"]

PROGRAM_SYSTEM_PROMPT = (
    "You are a careful math assistant who solves problems by writing Python. Write a function solution() that "
    "computes the answer step by step, one short commented block per step, with a blank line between blocks, "
    "and returns the final number (without units). Reply with only the code, in one ```python block."
)
PROGRAM_EXAMPLES: tuple[str, ...] = (
    "```python\ndef solution():\n    # Tom starts with 3 boxes of 12 pencils.\n    pencils = 3 * 12\n\n"
    "    # He gives away 9 pencils.\n    left = pencils - 9\n\n    return left\n```",
    "```python\ndef solution():\n    # The discount is 25% of $20.\n    discount = 0.25 * 20\n\n"
    "    # The sale price is the price minus the discount.\n    price = 20 - discount\n\n    return price\n```",
    "```python\ndef solution():\n    # 5 weekdays at 15 pages each.\n    weekdays = 5 * 15\n\n"
    "    # 2 weekend days at 25 pages each.\n    weekend = 2 * 25\n\n    return weekdays + weekend\n```",
    "```python\ndef solution():\n    # The baker shares half of the 48 cookies.\n    shared = 48 / 2\n\n"
    "    # Each of the 4 friends gets an equal part.\n    each = shared / 4\n\n    return each\n```",
)
"""Solutions, as programs, of ``math_answer.FEW_SHOT_EXAMPLES``' questions (same order)."""

_RECORDER = (
    "_printed = []\n"
    "def print(*args, sep=' ', end='\\n', file=None, flush=False):\n"
    "    _printed.append(sep.join(str(a) for a in args))\n"
)
"""Prepended to every program: ``print`` records its lines instead of writing them."""
_ASSIGNED = "_ponder_assigned"
"""The global the fallbacks store the last assigned value in."""
_PROBE = (
    f"(lambda r: r if r is not None else (_printed[-1] if _printed else globals().get({_ASSIGNED!r})))"
    "(solution() if callable(globals().get('solution')) else None)"
)
"""The expression whose value is the answer: solution()'s result, else the last printed line, else the value
a fallback stored."""
_REMEMBERED = 10_000
_FRACTION = re.compile(r"Fraction\((-?\d+), (\d+)\)")
_RATIO = re.compile(r"-?\d+/\d+")
"""A fraction as sympy's Rational (and people) write it: 3/4."""
_WRAPPED = re.compile(r"(?:Decimal|(?:np|numpy)\.\w+)\((.*)\)")
"""A number wrapped in its type's repr: Decimal('2.5'), np.float64(2.5), np.int64(3)."""
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_PYTHON_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)
"""What parsing or evaluating a literal of untrusted text may raise."""


def value_to_answer(value: str | None) -> str | None:
    """Answer text of the ``repr`` of a program's value (see the module docstring), or None."""
    if value is None:
        return None
    if fraction := _FRACTION.fullmatch(value):
        return f"{fraction[1]}/{fraction[2]}" if fraction[2] != "1" else fraction[1]
    if _RATIO.fullmatch(value):
        return value
    if wrapped := _WRAPPED.fullmatch(value):
        return value_to_answer(wrapped[1])
    try:
        return _answer_of(ast.literal_eval(value))
    except _PYTHON_ERRORS:
        return None


def _answer_of(obj: object) -> str | None:
    """Answer text of a returned Python value (strings are read as printed text)."""
    if obj is None or isinstance(obj, bool):
        return None
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        rounded = round(obj, 6)
        return str(int(rounded)) if rounded == int(rounded) else repr(rounded)
    if isinstance(obj, str):
        return _text_answer(obj)
    return None


def _text_answer(text: str) -> str | None:
    """Answer of printed (or returned) text: a literal as its value ("10.0" as 10, "True" or "[1, 2]"
    abstain), a fraction as written, else the last number in it ("$25 in total" -> 25), else None."""
    text = text.strip()
    if _RATIO.fullmatch(text):
        return text
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")  # "1,000" is a number, not the tuple (1, 0)
    try:
        obj = ast.literal_eval(text)
    except _PYTHON_ERRORS:
        obj = text
    if not isinstance(obj, str):
        return _answer_of(obj)
    found = answers.extract_answer(obj)
    if found is None:
        return None
    try:
        return _answer_of(ast.literal_eval(found.replace(",", "")))  # "1,000" or "10.0": the number's answer
    except _PYTHON_ERRORS:
        return found


class ProgramAnswers:
    """Runs the program in a completion and returns its answer; remembers answers per completion text."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.sandbox = Sandbox(limits or Limits(timeout=5.0, cpu_seconds=5))
        self._memo: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def answer(self, completion: str) -> str | None:
        """The answer the completion's program computes, or None (no code, an error, a timeout, no value)."""
        with self._lock:
            if completion in self._memo:
                self._memo.move_to_end(completion)
                return self._memo[completion]
        code = extract_code(completion)
        found = None if code is None else self._run(code)
        with self._lock:
            self._memo[completion] = found
            if len(self._memo) > _REMEMBERED:
                self._memo.popitem(last=False)
        return found

    def _run(self, code: str) -> str | None:
        result = self.sandbox.run(_RECORDER + with_fallbacks(code), [_PROBE])
        if result.setup_error is not None or not result.outcomes or not result.outcomes[0].passed:
            return None
        return value_to_answer(result.outcomes[0].value)


def with_fallbacks(code: str) -> str:
    """The program with the missing-``return`` fallbacks spliced into its source (see the module docstring).

    Lines are added, never rewritten: after the last statement of ``solution()`` when it assigns a name,
    ``globals()['_ponder_assigned'] = name``; at the end of a script without functions whose last statement
    assigns a name, ``_ponder_assigned = name``; and a body with a top-level ``return`` is indented under
    ``def solution():``. Code that does not parse runs as it is (its SyntaxError abstains).
    """
    try:
        tree = ast.parse(code)
        if any(isinstance(statement, ast.Return) for statement in tree.body):
            code = "def solution():\n" + textwrap.indent(code, "    ")
            tree = ast.parse(code)
    except _PYTHON_ERRORS:
        return code
    functions = [s for s in tree.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    solution = next((f for f in functions if isinstance(f, ast.FunctionDef) and f.name == "solution"), None)
    if solution is not None:
        return _store_after(code, solution.body, "globals()['{0}'] = {1}", solution.lineno)
    if not functions:
        return _store_after(code, tree.body, "{0} = {1}", 0)
    return code


def _store_after(code: str, body: list[ast.stmt], template: str, header: int) -> str:
    """``code`` with a line storing the name the last statement of ``body`` assigns (``template`` filled with
    the global's name and it), indented like that statement, after it; ``code`` unchanged when it assigns
    nothing usable or shares its line with the ``def`` (line ``header``)."""
    last = body[-1] if body else None
    name = None
    if isinstance(last, ast.Assign) and len(last.targets) == 1 and isinstance(last.targets[0], ast.Name):
        name = last.targets[0].id
    elif isinstance(last, ast.AugAssign | ast.AnnAssign) and isinstance(last.target, ast.Name):
        name = last.target.id
    if name is None or last is None or last.end_lineno is None or last.lineno == header:
        return code
    if isinstance(last, ast.Assign | ast.AnnAssign) and (last.value is None or isinstance(last.value, ast.Constant)):
        return code  # ``i = 0`` resets or sets up (it is not a result); ``x: int`` binds nothing
    lines = code.split("\n")  # as the parser numbers lines (splitlines also splits at \f and others)
    indent = lines[last.lineno - 1][: last.col_offset]
    spliced = [*lines[: last.end_lineno], indent + template.format(_ASSIGNED, name), *lines[last.end_lineno :]]
    out = "\n".join(spliced)
    try:
        ast.parse(out)
    except _PYTHON_ERRORS:
        return code
    return out
