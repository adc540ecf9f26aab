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

from collections.abc import Iterator, Sequence
from typing import Any

from ponder.errors import ConfigError
from ponder.tasks.game24_rules import (
    canonical,
    evaluate,
    extract_expression,
    numbers_of,
    solves_24,
    valid_step,
    valid_steps,
)
from ponder.tasks.math_answer import check_limit
from ponder.types import Message, Problem

__all__ = ["Game24Task", "evaluate", "numbers_of", "solves_24", "valid_step", "valid_steps"]

SPLITS: tuple[str, ...] = ("test", "train")
MAX_SIZE = 200
"""The most puzzles per split (numbers 1-10 give only a few hundred distinct solvable puzzles)."""
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
        return canonical(answer)

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
