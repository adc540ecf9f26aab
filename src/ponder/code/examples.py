"""Public examples read from a function's docstring, probe inputs made from them, and runnable programs.

``public_examples(prompt, entry_point)`` finds the worked examples a coding prompt shows its reader:
doctest lines (``>>> f(1, 2)`` followed by the expected output, or ``>>> f(1, 2) == 3`` alone) and example
lines such as ``f(1, 2) == 3``, ``f(1, 2) ==> 3``, ``f(1, 2) ➞ 3``, ``f(1, 2) => 3``, ``f(1, 2) -> 3``,
``f(1, 2) returns 3``, ``f(1, 2) = 3``. Each becomes
an ``Example`` whose ``test`` is an ``assert``. Only what the prompt shows is used: hidden tests never
reach this module. ``probe_inputs`` mutates the examples' literal arguments (deterministically, from a
seed) into fresh inputs on which candidate programs can be compared. ``build_program`` joins the prompt
(imports, helpers) and a candidate's code into one program.
"""

from __future__ import annotations

import ast
import builtins
import random
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Example", "build_program", "code_key", "probe_inputs", "public_examples"]

_ARROWS = ("==>", "==", "➞", "=>", "->", "should return", "returns", "=")
"""Tried in order: a longer arrow before its prefix ("==>" before "==", "=" last)."""
_OPERATOR_START = tuple("+-*/%=<>&|^")
"""Text after an expected value that starts like this means the value was part of a formula: not an example."""


@dataclass(frozen=True)
class Example:
    """One worked example: ``call`` (a Python expression) should equal ``expected``."""

    call: str
    expected: str
    args: tuple[Any, ...] | None = None
    """The call's positional arguments when they are all literals (for making probe inputs), else None."""

    @property
    def test(self) -> str:
        """An assert statement checking the example."""
        return f"assert (\n{self.call}\n) == (\n{self.expected}\n), {self.call!r}"


def public_examples(prompt: str, entry_point: str) -> list[Example]:
    """The examples shown in ``prompt`` for the function ``entry_point`` (duplicates dropped, in order)."""
    if not entry_point.isidentifier():
        return []
    lines = prompt.splitlines()
    found: list[Example] = []
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith(">>>"):
            example = _doctest_example(text[3:].strip(), lines[i + 1 :], entry_point)
        elif text.startswith(f"{entry_point}("):
            example = _arrow_example(text, entry_point)
        else:
            example = None
        if example is not None and example not in found:
            found.append(example)
    return found


def _doctest_example(call: str, following: list[str], entry_point: str) -> Example | None:
    """A doctest example: the expected output is the longest literal formed by the next lines (up to a blank
    line or the next prompt)."""
    call = call.split("  #")[0].split(" # ")[0].strip() if not _is_expression(call) else call
    if f"{entry_point}(" not in call or not _is_expression(call) or not _names_known(call, entry_point):
        return None
    output: list[str] = []
    for line in following:
        if not line.strip() or line.strip().startswith(">>>") or line.strip().startswith('"""'):
            break
        output.append(line.strip())
    for count in range(len(output), 0, -1):  # the longest run of lines that is one literal
        expected = " ".join(output[:count])
        if _is_literal(expected):
            return Example(call, expected, _literal_args(call))
    return _comparison_example(call, entry_point)


def _comparison_example(text: str, entry_point: str) -> Example | None:
    """``f(args) == literal`` written as a doctest line with no output below it."""
    node = ast.parse(text, mode="eval").body
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return None
    call, expected = ast.get_source_segment(text, node.left), ast.get_source_segment(text, node.comparators[0])
    if call is None or expected is None or not call.startswith(f"{entry_point}(") or not _is_literal(expected):
        return None
    return Example(call, expected, _literal_args(call))


def _arrow_example(text: str, entry_point: str) -> Example | None:
    """An example line ``f(args) <arrow> expected`` (with optional ``#`` and trailing prose)."""
    end = _call_end(text, len(entry_point))
    if end is None:
        return None
    call, rest = text[:end], text[end:].strip().lstrip("#").strip()
    for arrow in _ARROWS:
        if rest.startswith(arrow):
            expected = _literal_prefix(rest[len(arrow) :].strip())
            if expected is not None and _is_expression(call) and _names_known(call, entry_point):
                return Example(call, expected, _literal_args(call))
    return None


def _call_end(text: str, open_at: int) -> int | None:
    """The index just past the parenthesis closing the one at ``open_at`` (strings respected), or None."""
    depth, quote = 0, ""
    for i in range(open_at, len(text)):
        ch = text[i]
        if quote:
            quote = "" if ch == quote and text[i - 1] != "\\" else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _literal_prefix(text: str) -> str | None:
    """The longest prefix of ``text`` that is a Python literal followed by nothing, a space or punctuation
    (cutting trailing prose), unless what follows is arithmetic (then the line is a formula, not an example)."""
    text = text.split(" #")[0].strip()
    for end in range(len(text), 0, -1):
        piece, rest = text[:end].strip(), text[end:]
        if piece and not text[end - 1].isspace() and _is_literal(piece):
            ends_well = not rest or rest[0].isspace() or rest[0] in ".,;"
            return piece if ends_well and not rest.strip().startswith(_OPERATOR_START) else None
    return None


def _names_known(call: str, entry_point: str) -> bool:
    """Whether every name the call uses is the function itself or a builtin (``f(abc)`` with an unquoted
    string is prose, not code)."""
    names = {n.id for n in ast.walk(ast.parse(call, mode="eval")) if isinstance(n, ast.Name)}
    return names <= {entry_point, *dir(builtins)}


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return True


def _literal_args(call: str) -> tuple[Any, ...] | None:
    """The positional arguments of a plain call ``f(a, b)`` when all are literals, else None."""
    try:
        node = ast.parse(call, mode="eval").body
        if not isinstance(node, ast.Call) or node.keywords:
            return None
        return tuple(ast.literal_eval(arg) for arg in node.args)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def probe_inputs(examples: list[Example], count: int, seed: int = 0) -> list[tuple[Any, ...]]:
    """Up to ``count`` distinct argument tuples: the examples' own, then small mutations of them."""
    bases = [e.args for e in examples if e.args is not None]
    out: list[tuple[Any, ...]] = []
    for args in bases:
        if args not in out and len(out) < count:
            out.append(args)
    rng = random.Random(seed)
    for _ in range(count * 20):
        if not bases or len(out) >= count:
            break
        args = rng.choice(bases)
        mutated = tuple(_mutate(a, rng) if rng.random() < 0.7 else a for a in args)
        if mutated not in out and len(repr(mutated)) < 2000:
            out.append(mutated)
    return out


def _mutate(value: Any, rng: random.Random) -> Any:
    """A nearby value of the same type (numbers nudged, sequences shortened, reversed or extended)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + rng.choice((-2, -1, 1, 2, 5)) if rng.random() < 0.8 else value * 2
    if isinstance(value, float):
        return round(value + rng.choice((-1.5, -0.5, 0.5, 1.5)), 3)
    if isinstance(value, str):
        choice = rng.randrange(4)
        if choice == 0:
            return value[::-1]
        if choice == 1:
            return value[:-1]
        return value + (value[:1] or "a") if choice == 2 else value.swapcase()
    if isinstance(value, list | tuple):
        items = list(value)
        choice = rng.randrange(3)
        if choice == 0:
            items = items[::-1]
        elif choice == 1:
            items = items[:-1]
        elif items:
            items = [*items, _mutate(items[rng.randrange(len(items))], rng)]
        return type(value)(items)
    return value


def build_program(prompt: str, code: str, entry_point: str) -> str:
    """One runnable program: the prompt (its imports and helper functions) followed by the candidate code.

    Code that defines ``entry_point`` itself replaces the prompt's stub (a later ``def`` wins); code that
    does not is taken as the body continuing the prompt's signature.
    """
    if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE):
        return f"{prompt.rstrip()}\n    pass\n\n\n{code.strip()}\n" if _needs_body(prompt) else f"{prompt}\n{code}\n"
    return f"{prompt}{code}\n"


def _needs_body(prompt: str) -> bool:
    """Whether the prompt ends in a function with no statement (not even a docstring) after its signature."""
    return prompt.rstrip().endswith(":")


def code_key(code: str) -> str:
    """A canonical form of code for voting: parsed and unparsed (comments and formatting dropped)."""
    try:
        return ast.unparse(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "\n".join(line.rstrip() for line in code.strip().splitlines())
