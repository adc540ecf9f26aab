"""Grading a math answer against ground truth: ``is_equivalent(answer, reference)``.

math-verify decides (``\\frac{1}{2}`` = ``0.5``, sets, intervals, ...), after cheap checks on the voting
keys of ``tasks.answers``; when math-verify fails, key equality decides. Never raises.
"""

from __future__ import annotations

import re
import threading

from ponder.tasks.answers import answer_key, clean_answer, strip_latex_noise

__all__ = ["is_equivalent"]

_NUMERIC_KEY_RE = re.compile(r"-?\d+(?:/\d+)?")
_MAX_VERIFY_CHARS = 400
"""Longer answers skip math-verify (it can stall on huge expressions when it runs without a timeout)."""


def is_equivalent(answer: str | None, reference: str) -> bool:
    """Whether ``answer`` is mathematically the same as ``reference`` (math-verify; never raises).

    Numerically equal keys are accepted at once; otherwise both sides are parsed and compared by
    math-verify (``\\frac{1}{2}`` = ``0.5``, ``\\sqrt{18}`` = ``3\\sqrt{2}``, sets, intervals, ...). Off the
    main thread math-verify runs without its ``signal.alarm`` timeout (which only works on the main thread),
    and over-long answers skip it. When math-verify fails, the ``answer_key`` equality decides. A None or
    blank answer is never correct.
    """
    if answer is None or not answer.strip():
        return False
    if None is not _variable(answer) != _variable(reference) is not None:
        return False  # "x = 2" is not "y = 2", though both keys are "2"
    answer_k, reference_k = answer_key(answer), answer_key(reference)
    if answer_k == reference_k and (_NUMERIC_KEY_RE.fullmatch(answer_k) or answer.strip() == reference.strip()):
        return True
    if max(len(answer), len(reference)) > _MAX_VERIFY_CHARS:
        return answer_k == reference_k
    try:
        return _math_verify(answer, reference)
    except Exception:  # math-verify can fail in many ways on odd input; the key decides then
        return answer_k == reference_k


def _variable(answer: str) -> str | None:
    """The variable a single-letter assignment answer ("x = 5") assigns, else None."""
    assignment = re.fullmatch(r"\s*([A-Za-z])\s*=[^=]+", strip_latex_noise(clean_answer(answer)))
    return assignment.group(1) if assignment else None


def _math_verify(answer: str, reference: str) -> bool:
    """math-verify's verdict, with timeouts only where ``signal.alarm`` works (the main thread)."""
    from math_verify import verify

    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    gold = _mv_parse(reference, timeout)
    target = _mv_parse(answer, timeout)
    if not gold or not target:
        return answer_key(answer) == answer_key(reference)
    return bool(verify(gold, target, timeout_seconds=timeout))


def _mv_parse(answer: str, timeout: int | None) -> list[object]:
    """Parse an answer with math-verify, as a boxed LaTeX answer first and as plain text second."""
    from math_verify import parse

    cleaned = clean_answer(answer)
    parsed: list[object] = parse(f"\\boxed{{{cleaned}}}", parsing_timeout=timeout)  # type: ignore[arg-type]
    if not parsed:
        parsed = parse(cleaned, parsing_timeout=timeout)  # type: ignore[arg-type]
    return parsed
