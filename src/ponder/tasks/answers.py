"""Final-answer extraction and voting keys for math-style answers (grading is in ``tasks.grading``).

Shared by every math task:

- ``extract_answer(text)``: the final answer written in a completion, or None (never raises).
- ``answer_key(answer)``: a cheap canonical form for voting without ground truth (no math-verify).
- ``clean_answer`` and ``strip_latex_noise``: the normalisations both build on, also used by grading.

This module does not prompt, read data or know about problems; tasks do that.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["answer_key", "clean_answer", "extract_answer", "strip_latex_noise"]

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*")
_ANSWER_IS_RE = re.compile(  # a lookahead, so that overlapping phrases on one line are all found
    r"\banswer(?=(?:\*\*)?\s*(?:is\b\s*:?|:)(?:\*\*)?\s*(?P<ans>[^\n]*))", re.IGNORECASE
)
_HASHES_RE = re.compile(r"####\s*(?P<ans>[^\n]+)")
_NUMBER_RE = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?")
_SENTENCE_END_RE = re.compile(r"\.(?:\s|$)")
_THOUSANDS_RE = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")

_DECIMAL_RE = re.compile(r"-?\d+(?:\.\d+)?")
_SLASH_RE = re.compile(r"(-?\d+)\s*/\s*(\d+)")
_FRAC_RE = re.compile(r"(-?)\\frac\{(-?\d+)\}\{(-?\d+)\}")
_FRAC_SHORT_RE = re.compile(r"(-?)\\frac(\d)(\d)")
_UNIT_WORD = r"[A-Za-z]{2,}(?:/[A-Za-z]+)?"
_UNITS_RE = re.compile(
    rf"(?P<num>-?\d[\d.,]*(?:/\d+)?)(?P<unit>\s*/\s*[A-Za-z]+|\s+{_UNIT_WORD}(?:\s+{_UNIT_WORD}){{0,2}})"
)
_NOT_UNITS = frozenset(
    {"pi", "sqrt", "and", "or", "to", "times", "over", "squared", "cubed"}
    | {"hundred", "thousand", "million", "billion", "trillion", "dozen", "hundreds", "thousands", "millions"}
)
"""Words after a number that change its value: "10 thousand" is not "10"."""
_FILLER_RE = re.compile(r"^(?:(?:therefore|thus|hence|then|so|simply|clearly|just|indeed|exactly|now)\b[\s,:]*)+", re.I)
_LEAD_NUMBER_RE = re.compile(r"\\?\$?\s*(?P<num>-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?)(?P<rest>.*)")
_LIST_TAIL_RE = re.compile(
    r"(?:\s*,\s*(?:and\s+)?-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+)?)+(?=\s*(?:\.|$))"
)
"""Further items after a leading number, up to the end of the phrase: ", 5, and 7"."""
_STOP_WORD_RE = re.compile(
    r"\s(?:because|since|as|which|so|and|but|if|when|for|from|after|before|given|while|that|with)\b.*", re.I
)
_ASSIGN_RE = re.compile(r"[A-Za-z]\s*=\s*(?P<rhs>[^=]+)")
_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_LATEX_NOISE_RE = re.compile(r"\\left(?![A-Za-z])|\\right(?![A-Za-z])|\\[,!;: ]|\^\s*\{?\\circ\}?|°|\\?%|\\?\$")
_SPACE_AROUND_PUNCT_RE = re.compile(r"\s*([^\w\s\\])\s*")


def extract_answer(text: str) -> str | None:
    """The final answer in ``text``, or None when there is none.

    Tried in order, first hit wins: the last complete ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces
    allowed), the later of the last "The (final) answer is X" / "Answer: X" (X read as an answer, see
    ``_answer_phrase``) and the last "#### X" (GSM8K style), and the last number in the text (integers,
    decimals, negatives, "1,000", "3/4"). The result is cleaned: whitespace, surrounding ``$...$``, bold
    ``**``, currency ``$``/``\\$`` and a trailing "." are stripped, and thousands commas are removed from
    plain numbers ("1,000" -> "1000").

    >>> extract_answer("so 1/2 + 1/2 = 1, hence \\\\boxed{\\\\frac{1}{2}} or \\\\boxed{1}")
    '1'
    >>> extract_answer("The answer is $1,000.")
    '1000'
    >>> extract_answer("no digits here") is None
    True
    """
    if not isinstance(text, str) or not text:
        return None
    text = text.replace("\u2212", "-")  # the Unicode minus sign some models write
    for finder in (_last_boxed, _last_marked, _last_number):
        found = finder(text)
        if found is not None:
            cleaned = clean_answer(found)
            if cleaned:
                return cleaned
    return None


def _last_boxed(text: str) -> str | None:
    """Content of the last complete, non-empty ``\\boxed``/``\\fbox`` in ``text``."""
    for match in reversed(list(_BOXED_RE.finditer(text))):
        content = _group_at(text, match.end())
        if content is not None and content.strip():
            return content
    return None


def _group_at(text: str, start: int) -> str | None:
    """The brace group starting at ``text[start]`` (without its braces), or the next bare token.

    Escaped braces (``\\{``, ``\\}``) do not count. None when the group never closes (a truncated text).
    """
    if start >= len(text):
        return None
    if text[start] != "{":
        bare = re.match(r"[^\s$]+", text[start:])
        return bare.group(0) if bare else None
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    return None


def _last_marked(text: str) -> str | None:
    """The later of the last "answer is X" / "answer: X" and the last GSM8K-style "#### X"."""
    found = [f for f in (_last_answer_is(text), _last_hashes(text)) if f is not None]
    return max(found)[1] if found else None


def _last_answer_is(text: str) -> tuple[int, str] | None:
    """Position and answer of the last "answer is X" / "answer: X" whose X reads as an answer."""
    for match in reversed(list(_ANSWER_IS_RE.finditer(text))):
        answer = _answer_phrase(_SENTENCE_END_RE.split(match.group("ans"), maxsplit=1)[0])
        if answer is not None and clean_answer(answer):
            return match.start(), answer
    return None


def _answer_phrase(phrase: str) -> str | None:
    """The answer at the start of the words after "answer is": fillers ("therefore") dropped; a ``$...$``
    span; a number with at most three unit words ("18 because ..." -> "18"); otherwise the phrase up to a
    connecting word. None for prose ("reasonable: 3+4=7") and for an empty or unclosed ``\\boxed``."""
    text = _FILLER_RE.sub("", phrase.strip())
    if not text or "\\boxed" in text or "\\fbox" in text:
        return None
    if text.startswith("$") and not text.startswith("$$"):
        span = re.match(r"\$((?:\\.|[^$\\])+)\$", text)  # an escaped "\$" inside does not close it
        lead = _LEAD_NUMBER_RE.fullmatch(text)
        return span.group(1) if span else (lead.group("num") if lead else None)
    lead = _LEAD_NUMBER_RE.fullmatch(text)
    if lead and not re.match(r"\s*[-+*/^=<>]", lead.group("rest")):
        listed = _LIST_TAIL_RE.match(lead.group("rest"))
        if listed:  # "3, 5, 7": every item
            return lead.group("num") + listed.group(0)
        units = re.match(r"(?:\s+[A-Za-z]{2,}(?:/[A-Za-z]+)?){0,3}", _STOP_WORD_RE.sub("", lead.group("rest")))
        return lead.group("num") + (units.group(0) if units else "")
    text = _STOP_WORD_RE.sub("", text).strip()
    if re.match(r"[A-Za-z]{2,}\s*:", text):
        return None
    number = _NUMBER_RE.search(text) if re.match(r"[A-Za-z]{2,}\s", text) else None
    return number.group(0) if number else text or None  # "She makes $18 a day" -> "18"; "Monday" stays


def _last_hashes(text: str) -> tuple[int, str] | None:
    """Position and answer of the last GSM8K-style "#### X"."""
    matches = list(_HASHES_RE.finditer(text))
    return (matches[-1].start(), matches[-1].group("ans")) if matches else None


def _last_number(text: str) -> str | None:
    """The last number in ``text``."""
    matches = _NUMBER_RE.findall(text)
    return matches[-1] if matches else None


def clean_answer(answer: str) -> str:
    """Strip decoration around an extracted answer (see ``extract_answer``)."""
    previous = None
    text = answer.strip()
    while text != previous:
        previous = text
        text = text.strip().strip("*").strip()
        if len(text) >= 2 and text[0] == "$" and text[-1] == "$":
            text = text[1:-1]
        elif text.startswith(("\\(", "\\[")) and text.endswith(("\\)", "\\]")):
            text = text[2:-2]
        text = text.removeprefix("\\$").removeprefix("$").removesuffix("$").rstrip(".").rstrip()
    if _THOUSANDS_RE.fullmatch(text):
        text = text.replace(",", "")
    return text


def answer_key(answer: str) -> str:
    """A canonical form of ``answer``: answers with equal keys are the same vote.

    Numbers are keyed by their exact rational value: integers as "1000", other rationals as a reduced
    fraction "p/q" ("0.5", "1/2", "\\frac{1}{2}", "\\dfrac12" all give "1/2"; "5.0" gives "5"). Before that,
    LaTeX noise is dropped: ``$``, ``\\$``, ``\\left``/``\\right``, spacing commands, ``\\text{...}`` wrappers,
    degree signs and percent signs (so "50%" and "50" are the same vote), a trailing ".", thousands commas, a
    single-letter assignment ("x = 5" -> "5"), and up to three trailing unit words after a number
    ("18 dollars" -> "18"). Anything else is lowercased, with spaces around symbols removed and other runs
    of spaces collapsed. Pure string work, no math-verify: it is called once per candidate.

    >>> [answer_key(a) for a in ["1,000", "0.50", "\\\\frac{1}{2}", "$18", "50%", "x = 5", "Monday "]]
    ['1000', '1/2', '1/2', '18', '50', '5', 'monday']
    """
    text = strip_latex_noise(clean_answer(answer))
    assignment = _ASSIGN_RE.fullmatch(text)
    if assignment:
        text = assignment.group("rhs").strip()
    value = _as_fraction(text)
    if value is None:
        units = _UNITS_RE.fullmatch(text)
        if units and not (set(units.group("unit").lower().split()) & _NOT_UNITS):
            value = _as_fraction(units.group("num"))
    if value is not None:
        return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    text = _SPACE_AROUND_PUNCT_RE.sub(r"\1", text.lower())
    return " ".join(text.split())


def strip_latex_noise(text: str) -> str:
    """Remove LaTeX that does not change a value (see ``answer_key``)."""
    text = _TEXT_CMD_RE.sub(r"\1", text)
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = _LATEX_NOISE_RE.sub("", text).strip().rstrip(".").strip()
    if _THOUSANDS_RE.fullmatch(text):
        text = text.replace(",", "")
    return text


def _as_fraction(text: str) -> Fraction | None:
    """The exact value of a plain number, "a/b" or "\\frac{a}{b}", or None when ``text`` is not one."""
    text = text.strip()
    if _THOUSANDS_RE.fullmatch(text):
        text = text.replace(",", "")
    try:
        if _DECIMAL_RE.fullmatch(text):
            return Fraction(text)
        for pattern in (_SLASH_RE, _FRAC_RE, _FRAC_SHORT_RE):
            match = pattern.fullmatch(text)
            if match:
                *sign, num, den = match.groups()
                value = Fraction(int(num), int(den))
                return -value if sign and sign[0] else value
    except ZeroDivisionError:
        return None
    return None
