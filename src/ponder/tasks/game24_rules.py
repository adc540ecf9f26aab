"""Game of 24 rules: parse and check an answer expression and the arithmetic of each step, exactly.

Nothing is evaluated as Python: expressions are parsed with ``ast`` and may use only integer literals,
``+ - * /`` and parentheses; values are exact fractions. ``valid_steps`` checks each ``a op b = c (left: ...)``
step against the numbers still available; it sees only the puzzle's numbers, never a reference solution.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from ponder.errors import TaskError
from ponder.types import Problem

__all__ = [
    "TARGET",
    "canonical",
    "evaluate",
    "extract_expression",
    "numbers_of",
    "solves_24",
    "valid_step",
    "valid_steps",
]

TARGET = 24
_MAX_EXPRESSION_CHARS = 200

_OPS: dict[type[ast.operator], Any] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_ANSWER_RE = re.compile(r"answer\s*(?:is)?\s*[:：]\s*(?P<expr>.+)", re.IGNORECASE)
_ANSWER_IS_RE = re.compile(r"answer\s+is\s+(?P<expr>.+)", re.IGNORECASE)
"""Without a colon, taken only when what follows is an expression (not "the answer is that we ...")."""
_TARGET_EQUALS_RE = re.compile(rf"^\s*{TARGET}\s*=\s*")
_BOXED_RE = re.compile(r"\\boxed\{(?P<expr>[^{}]+)\}")
_EQUALS_TARGET_RE = re.compile(rf"\s*=\s*{TARGET}(?:\.0*)?\s*$")
_STEP_RE = re.compile(
    r"^\s*(?:step\s*\d+\s*[:.)]\s*)?(?P<lhs>[^=]+?)\s*=\s*(?P<rhs>-?\d+(?:\.\d+)?(?:\s*/\s*\d+)?)"
    r"\s*(?:\(\s*left\s*:?\s*(?P<left>[^)]*)\))?\s*\.?\s*$",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")
_USING_RE = re.compile(r"using\s+(?P<nums>\d+(?:\s*,?\s*(?:and\s+)?\d+)*)", re.IGNORECASE)


def _normalise(text: str) -> str:
    """Unicode and LaTeX operators and "x" between numbers as ASCII, decoration stripped."""
    text = text.replace("×", "*").replace("·", "*").replace("÷", "/").replace("−", "-").replace("–", "-")
    text = re.sub(r"\\(?:times|cdot|ast)(?![A-Za-z])", "*", text)
    text = re.sub(r"\\div(?![A-Za-z])", "/", text)
    text = re.sub(r"\\(?:left|right)(?![A-Za-z])|\\[()\[\]]", "", text)
    text = re.sub(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])", " * ", text)
    return text.strip().strip("$").strip("*").strip().rstrip(".").strip()


def _parse(expression: str) -> ast.expr | None:
    """The expression's AST when it is only integer literals, + - * / and parentheses; else None."""
    text = _normalise(expression)
    if not text or len(text) > _MAX_EXPRESSION_CHARS:
        return None
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _OPS:
                return None
        elif isinstance(node, ast.Constant):
            if type(node.value) is not int:
                return None
        elif not isinstance(node, ast.operator):
            return None  # names, calls, unary minus, powers, ...: not allowed
    return tree


def _value(node: ast.expr) -> Fraction:
    """Exact value of a tree accepted by ``_parse``; ZeroDivisionError on division by zero."""
    if isinstance(node, ast.Constant):
        return Fraction(int(node.value))  # type: ignore[arg-type]  # _parse admits int constants only
    assert isinstance(node, ast.BinOp)
    return Fraction(_OPS[type(node.op)](_value(node.left), _value(node.right)))


def _leaves(node: ast.expr) -> list[int]:
    return [int(n.value) for n in ast.walk(node) if isinstance(n, ast.Constant)]  # type: ignore[arg-type]


def evaluate(expression: str) -> tuple[Fraction, list[int]] | None:
    """(exact value, numbers used) of a safe arithmetic expression, or None when it is not one.

    >>> evaluate("(6 - 4) * (4 + 8)")
    (Fraction(24, 1), [6, 4, 4, 8])
    >>> evaluate("__import__('os')") is None
    True
    """
    tree = _parse(expression)
    if tree is None:
        return None
    try:
        return _value(tree), _leaves(tree)
    except ZeroDivisionError:
        return None


def solves_24(expression: str | None, numbers: Sequence[int]) -> bool:
    """Whether ``expression`` uses exactly ``numbers`` (each once) with + - * / and equals 24."""
    if expression is None:
        return False
    found = evaluate(_EQUALS_TARGET_RE.sub("", expression))
    if found is None:
        return False
    value, used = found
    return value == TARGET and Counter(used) == Counter(numbers)


def numbers_of(problem: Problem) -> list[int]:
    """The puzzle's numbers: ``metadata["numbers"]``, else read from the question; TaskError if none."""
    numbers = problem.metadata.get("numbers")
    if numbers:
        return [int(n) for n in numbers]
    using = _USING_RE.search(problem.question)
    found = [int(n) for n in re.findall(r"\d+", using.group("nums") if using else problem.question)]
    if len(found) == 5 and TARGET in found:  # "use 4 9 10 13 to make 24"
        found.remove(TARGET)
    if len(found) != 4:
        raise TaskError(f"cannot find the four numbers of Game of 24 problem {problem.question[:60]!r}")
    return found


def _fraction(text: str) -> Fraction | None:
    try:
        return Fraction(text.replace(" ", ""))
    except (ValueError, ZeroDivisionError):
        return None


def _apply_step(step: str, remaining: Counter[Fraction]) -> Counter[Fraction] | None:
    """The numbers left after ``step`` ("a op b = c (left: ...)"), or None when the step is wrong."""
    match = _STEP_RE.match(_normalise(step))
    if match is None:
        return None
    found, result = evaluate(match.group("lhs")), _fraction(match.group("rhs"))
    if found is None or result is None or found[0] != result:
        return None
    used = Counter(Fraction(n) for n in found[1])
    if used - remaining:  # uses a number that is not available
        return None
    after = remaining - used
    after[result] += 1
    if match.group("left") is not None:
        listed = [_fraction(n) for n in _NUMBER_RE.findall(match.group("left"))]
        if None in listed or Counter(listed) != after:
            return None
    return after


def valid_steps(problem: Problem, steps: Sequence[str]) -> list[float]:
    """1.0 for each step whose arithmetic is right and uses only numbers still available, else 0.0.

    Steps are read in order from the puzzle's numbers; a step after a wrong one scores 0.0 too (its state is
    undefined). An ``Answer: <expression>`` step scores 1.0 when the expression solves the puzzle. Blank
    steps are skipped (score of the step before; 1.0 at the start). Uses no reference answer.
    """
    numbers = numbers_of(problem)
    remaining: Counter[Fraction] | None = Counter(Fraction(n) for n in numbers)
    scores: list[float] = []
    for step in steps:
        if not step.strip():
            scores.append(scores[-1] if scores else 1.0)
            continue
        answer = _ANSWER_RE.search(step)
        if answer is not None:
            ok = remaining is not None and solves_24(_clean_answer(answer.group("expr")), numbers)
        else:
            remaining = None if remaining is None else _apply_step(step, remaining)
            ok = remaining is not None
        scores.append(1.0 if ok else 0.0)
    return scores


def valid_step(problem: Problem, steps: Sequence[str]) -> float:
    """Rule score of the last of ``steps`` given the ones before it (see ``valid_steps``); 0.0 for none."""
    return valid_steps(problem, steps)[-1] if steps else 0.0


def _clean_answer(text: str) -> str:
    """An answer's expression: a ``\\boxed{}`` around it, "24 =" before it and "= 24" after it removed."""
    boxed = _BOXED_RE.search(text)
    text = _normalise(boxed.group("expr") if boxed else text)
    return _normalise(_TARGET_EQUALS_RE.sub("", _EQUALS_TARGET_RE.sub("", text)))


def extract_expression(completion: str) -> str | None:
    """The final expression: after the last "Answer:" (a ``\\boxed{}`` there unwrapped), in the last
    ``\\boxed{}``, after "the answer is" when an expression follows, or the last line that is an arithmetic
    expression over four numbers ("24 =" / "= 24" removed). None when there is none."""
    if not isinstance(completion, str):
        return None
    lines = [line for line in completion.splitlines() if line.strip()]
    for line in reversed(lines):
        for pattern in (_ANSWER_RE, _BOXED_RE):
            match = pattern.search(line)
            if match and _clean_answer(match.group("expr")):
                return _clean_answer(match.group("expr"))
        match = _ANSWER_IS_RE.search(line)
        if match and evaluate(_clean_answer(match.group("expr"))) is not None:
            return _clean_answer(match.group("expr"))
    for line in reversed(lines):
        found = evaluate(_clean_answer(line))
        if found is not None and len(found[1]) == 4:
            return _clean_answer(line)
    return None


def canonical(answer: str) -> str:
    """The expression in a canonical spelling: no spaces, redundant parentheses and "= 24" dropped."""
    cleaned = _clean_answer(answer)
    tree = _parse(cleaned)
    return "".join((ast.unparse(tree) if tree is not None else cleaned).split())
