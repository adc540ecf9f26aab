"""Game of 24 ("game24"): the Tree-of-Thoughts paper's search task, with a rule-based answer and step checker.

Problems come from reasoning-gym's ``puzzle24`` generator (item ``i`` of the dataset seeded ``seed`` is drawn
from ``Random(seed + i)``). Puzzles whose numbers (as a multiset) were already given are skipped, so a split
never repeats a puzzle; "test" is the first ``size`` distinct puzzles of the stream and "train" the next
``size`` (disjoint from "test" by construction). Ids are ``game24-<seed>-<i>`` ("test") and
``game24-train-<seed>-<i>``, where ``i`` is the reasoning-gym item index. reasoning-gym finds each puzzle by
rejection sampling through sympy, about 0.1 s per item, so problems are generated lazily and remembered.

The prompt asks for one arithmetic operation per line (the step delimiter is ``"\\n"``), in the ToT format
``4 + 8 = 12 (left: 4 6 12)``, and a last line ``Answer: <expression>``. Grading is by rules only: the
expression, parsed with ``ast`` (nothing is evaluated as Python), may use only integer literals, ``+ - * /``
and parentheses, must use the puzzle's numbers exactly once each, and must equal 24 in exact rational
arithmetic. ``valid_steps`` checks the arithmetic of each step against the numbers still available, for use
as a rule-based process scorer; it sees only the puzzle's numbers, never the reference solution.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import Any

from ponder.errors import ConfigError, TaskError
from ponder.tasks.math_answer import check_limit
from ponder.types import Message, Problem

__all__ = ["Game24Task", "evaluate", "numbers_of", "solves_24", "valid_step", "valid_steps"]

TARGET = 24
SPLITS: tuple[str, ...] = ("test", "train")
MAX_SIZE = 200
"""The most puzzles per split (numbers 1-10 give only a few hundred distinct solvable puzzles)."""
_MAX_EXPRESSION_CHARS = 200
_MAX_MISSES = 200
"""Repeated puzzles in a row after which the stream counts as run dry (about 20 s of generation)."""

DEFAULT_SYSTEM_PROMPT = (
    "You play the Game of 24: combine the four given numbers with +, -, * and / to make exactly 24, using "
    "each number exactly once. Work one operation per line, in the form `a op b = c (left: remaining numbers)`. "
    "After the last operation, write a final line `Answer: <expression>` with one arithmetic expression that "
    "uses each of the four original numbers once and equals 24."
)

FEW_SHOT_EXAMPLES: tuple[tuple[tuple[int, ...], str], ...] = (
    (
        (4, 4, 6, 8),
        "4 + 8 = 12 (left: 4 6 12)\n6 - 4 = 2 (left: 2 12)\n2 * 12 = 24 (left: 24)\nAnswer: (6 - 4) * (4 + 8)",
    ),
    (
        (2, 3, 5, 9),
        "9 - 5 = 4 (left: 2 3 4)\n2 * 3 = 6 (left: 4 6)\n4 * 6 = 24 (left: 24)\nAnswer: (9 - 5) * (2 * 3)",
    ),
    (
        (2, 5, 7, 10),
        "10 + 7 = 17 (left: 2 5 17)\n5 + 2 = 7 (left: 7 17)\n17 + 7 = 24 (left: 24)\nAnswer: 10 + 7 + 5 + 2",
    ),
)
"""Worked examples (numbers, solution) shown as earlier turns when ``few_shot`` > 0."""

_OPS: dict[type[ast.operator], Any] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_ANSWER_RE = re.compile(r"answer\s*(?:is)?\s*[:：]\s*(?P<expr>.+)", re.IGNORECASE)
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
    """Unicode operators and "x" between numbers as ASCII, decoration stripped."""
    text = text.replace("×", "*").replace("·", "*").replace("÷", "/").replace("−", "-").replace("–", "-")
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
    return _normalise(_EQUALS_TARGET_RE.sub("", _normalise(text)))


def extract_expression(completion: str) -> str | None:
    """The final expression: after the last "Answer:", in the last ``\\boxed{}``, or the last line that is an
    arithmetic expression over four numbers (a trailing "= 24" removed). None when there is none."""
    if not isinstance(completion, str):
        return None
    lines = [line for line in completion.splitlines() if line.strip()]
    for line in reversed(lines):
        for pattern in (_ANSWER_RE, _BOXED_RE):
            match = pattern.search(line)
            if match and _clean_answer(match.group("expr")):
                return _clean_answer(match.group("expr"))
    for line in reversed(lines):
        found = evaluate(_clean_answer(line))
        if found is not None and len(found[1]) == 4:
            return _clean_answer(line)
    return None


def _check_int(value: object, option: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{option} must be an integer in [{low}, {high}], got {value!r}")
    return value


class Game24Task:
    """Game of 24 puzzles from reasoning-gym, graded by rules.

    Args:
        seed: task seed (>= 0); the same seed always gives the same puzzles in the same order.
        size: puzzles per split (1 to ``MAX_SIZE``); fewer when the generator runs out of distinct puzzles.
        min_value, max_value: range of the four numbers (reasoning-gym allows 1 to 10).
        few_shot: how many of ``FEW_SHOT_EXAMPLES`` to show first (0 to 3).
        system_prompt: replaces ``DEFAULT_SYSTEM_PROMPT``.
    """

    name: str = "game24"
    step_delimiter: str = "\n"

    def __init__(
        self,
        seed: int = 0,
        *,
        size: int = 100,
        min_value: int = 1,
        max_value: int = 10,
        few_shot: int = 2,
        system_prompt: str | None = None,
    ) -> None:
        self.seed = _check_int(seed, "seed", 0, 2**40)
        self.size = _check_int(size, "size", 1, MAX_SIZE)
        self.min_value = _check_int(min_value, "min_value", 1, 10)
        self.max_value = _check_int(max_value, "max_value", self.min_value, 10)
        self.few_shot = _check_int(few_shot, "few_shot", 0, len(FEW_SHOT_EXAMPLES))
        if system_prompt is not None and (not isinstance(system_prompt, str) or not system_prompt.strip()):
            raise ConfigError(f"system_prompt must be a non-empty string or None, got {system_prompt!r}")
        self.system_prompt = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
        self._dataset: Any = None
        self._distinct: list[tuple[int, dict[str, Any]]] = []
        self._seen: set[tuple[int, ...]] = set()
        self._next_index = 0

    def _gym(self) -> Any:
        if self._dataset is None:
            import reasoning_gym

            self._dataset = reasoning_gym.create_dataset(
                "puzzle24", seed=self.seed, size=2**31 - 1, min_value=self.min_value, max_value=self.max_value
            )
        return self._dataset

    def _entry(self, k: int) -> tuple[int, dict[str, Any]] | None:
        """The k-th distinct puzzle of the stream (generated on demand), or None when it runs dry."""
        dataset = self._gym()
        misses = 0
        while len(self._distinct) <= k:
            if misses >= _MAX_MISSES:
                return None
            index, entry = self._next_index, dataset[self._next_index]
            self._next_index += 1
            key = tuple(sorted(entry["metadata"]["numbers"]))
            if key in self._seen:
                misses += 1
                continue
            misses = 0
            self._seen.add(key)
            self._distinct.append((index, entry))
        return self._distinct[k]

    def problems(self, split: str = "test", limit: int | None = None) -> Iterator[Problem]:
        """The first ``limit`` (default ``size``) puzzles of ``split`` ("test" or "train"); bad arguments
        raise at once."""
        check_limit(limit)
        if split not in SPLITS:
            raise ConfigError(f"unknown game24 split {split!r}; known: {', '.join(SPLITS)}")
        count = self.size if limit is None else min(limit, self.size)
        return self._iter(split, SPLITS.index(split) * self.size, count)

    def _iter(self, split: str, offset: int, count: int) -> Iterator[Problem]:
        for k in range(offset, offset + count):
            problem = self._problem(split, k)
            if problem is None:
                return
            yield problem

    def _problem(self, split: str, k: int) -> Problem | None:
        found = self._entry(k)
        if found is None:
            return None
        index, entry = found
        prefix = "game24" if split == "test" else f"game24-{split}"
        return Problem(
            question=entry["question"],
            id=f"{prefix}-{self.seed}-{index}",
            reference=entry["answer"],
            metadata={"numbers": list(entry["metadata"]["numbers"]), "seed": self.seed, "split": split},
        )

    def messages(self, problem: Problem, few_shot: int | None = None) -> list[Message]:
        """System prompt, worked examples as user/assistant turns, then the puzzle."""
        shots = self.few_shot if few_shot is None else _check_int(few_shot, "few_shot", 0, len(FEW_SHOT_EXAMPLES))
        out = [Message("system", self.system_prompt)]
        for numbers, solution in FEW_SHOT_EXAMPLES[:shots]:
            out += [Message("user", f"Make 24 using {', '.join(map(str, numbers))}."), Message("assistant", solution)]
        out.append(Message("user", problem.question.strip()))
        return out

    def extract_answer(self, completion: str) -> str | None:
        """The final expression (see ``extract_expression``)."""
        return extract_expression(completion)

    def answer_key(self, answer: str) -> str:
        """The expression in a canonical spelling: no spaces, redundant parentheses and "= 24" dropped."""
        cleaned = _clean_answer(answer)
        tree = _parse(cleaned)
        return "".join((ast.unparse(tree) if tree is not None else cleaned).split())

    def is_correct(self, problem: Problem, answer: str | None) -> bool:
        """Whether ``answer`` solves the puzzle (the rules, not the reference expression, decide)."""
        return solves_24(answer, numbers_of(problem))

    def valid_step(self, problem: Problem, steps: Sequence[str]) -> float:
        """See the module function ``valid_step``."""
        return valid_step(problem, steps)

    def gym_score(self, problem: Problem, answer: str | None) -> float:
        """reasoning-gym's own score (1.0 right, 0.01 otherwise); a cross-check. It checks the count and
        range of the numbers used, not that they are the puzzle's, so it accepts some answers we reject."""
        return float(self._gym().score_answer(answer, {"answer": problem.reference}))

    def __repr__(self) -> str:
        return f"Game24Task(seed={self.seed}, size={self.size}, few_shot={self.few_shot})"
