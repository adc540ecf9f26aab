"""Answer extraction, voting keys (ponder.tasks.answers) and math-verify grading (ponder.tasks.grading)."""

from __future__ import annotations

import doctest
import threading

import pytest

from ponder.tasks import answers, grading
from ponder.tasks.answers import answer_key, extract_answer
from ponder.tasks.grading import is_equivalent

EXTRACTION = [
    # boxed, with nested braces and several boxes
    (r"so the result is \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
    (r"first \boxed{3}, then corrected: \boxed{4}", "4"),
    (r"\boxed{\frac{\sqrt{3}}{2}} and text after", r"\frac{\sqrt{3}}{2}"),
    (r"The final answer is $\boxed{12}$.", "12"),
    (r"\fbox{7}", "7"),
    (r"\boxed 9 is it", "9"),
    (r"\boxed{\{1,2\}}", r"\{1,2\}"),
    (r"\boxed{1,000}", "1000"),
    (r"a complete \boxed{2} then a truncated \boxed{\frac{1}{2}", "2"),
    (r"an empty \boxed{} then the answer is 5", "5"),
    # "the answer is"
    ("The answer is $1,000.", "1000"),
    ("Step one.\n\nThe final answer is 42. I hope that helps, 7", "42"),
    ("The final answer is: **42**", "42"),
    ("**Final Answer:** $\\frac{3}{4}$", r"\frac{3}{4}"),
    ("Answer:\n\n18", "18"),
    ("The answer is 3.5.", "3.5"),
    ("The answer is -12.", "-12"),
    ("The answer is \\$18.", "18"),
    ("the answer is 2 and later the answer is 3", "3"),
    # ... read as an answer, not as the rest of the sentence
    ("The answer is therefore 3.", "3"),
    ("The answer is 18 because she keeps 2.", "18"),
    ("The answer is 5 apples.", "5 apples"),
    ("The answer is (A) because it fits.", "(A)"),
    ("The answer is x^2 + 2x + 1.", "x^2 + 2x + 1"),
    ("Let me check whether the answer is reasonable: 3+4=7", "7"),  # prose: the last number decides
    (r"Therefore, the answer is $\boxed{}$.", None),
    # the later of "answer is" and "####" (GSM8K solutions have both)
    ("The answer is <<8=8>>8.\n#### 8", "8"),
    ("so the answer is 15 gallons * 8 pints = <<15*8=120>>120 pints\n#### 120", "120"),
    ("#### 5\nOn reflection, the answer is 6.", "6"),
    # GSM8K style
    ("She pays 9 * 8 = 72 dollars.\n#### 72", "72"),
    ("#### 1,234", "1234"),
    # last-number fallback
    ("I got 3 apples, then 5 apples", "5"),
    ("the temperature fell to -7", "-7"),
    ("the temperature fell to \u22127", "-7"),
    ("it costs 3.25 dollars", "3.25"),
    ("a total of 1,234,567 people", "1234567"),
    ("so 3/4 of them", "3/4"),
    ("5-3 is 2, not x2", "2"),
    # an escaped dollar inside a $...$ answer; prose or a list after the marker
    ("Janet makes 9 * 2 = 18 dollars.\nThe answer is $\\$18$.", "18"),
    ("Final Answer: The final answer is $\\$1,250$. I hope it is correct.", "1250"),
    ("She sells 9 eggs.\n\nAnswer: She makes $18 per day.", "18"),
    ("The final answer is 3, 5, 7.", "3, 5, 7"),
    ("Answer: -2, 1", "-2, 1"),
    ("The answer is 18, because she sells 9.", "18"),
    ("The answer is Monday.", "Monday"),
    # nothing
    ("no digits here at all", None),
    ("", None),
    ("   \n\n  ", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTION)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


def test_extract_answer_never_raises_on_odd_input() -> None:
    for text in ["\\boxed{", "\\boxed", "}}}{{{", "####", "The answer is", "$$", "\\boxed{\\}"]:
        extract_answer(text)  # any result, but no exception
    assert extract_answer(None) is None  # type: ignore[arg-type]


SAME_KEY = [
    ("1,000", "1000"),
    ("5.0", "5"),
    ("0.50", "0.5"),
    (r"\frac{1}{2}", "1/2"),
    (r"\dfrac12", "0.5"),
    (r"-\frac{3}{6}", "-0.5"),
    ("$18", "18"),
    (r"\$18", "18"),
    ("50%", "50"),
    (r"50\%", "50"),
    ("x = 5", "5"),
    ("18 dollars", "18"),
    (r"5\text{ cm}", "5"),
    (r"10^\circ", "10"),
    (r"\left( 1, 2 \right)", "(1,2)"),
    ("x + 1", "x+1"),
    ("  New   York ", "new york"),
    ("Monday", "monday"),
]

DIFFERENT_KEY = [
    ("1", "2"),
    ("-1", "1"),
    ("0.5", "0.05"),
    ("1/2", "1/3"),
    ("1 2", "12"),
    ("2 pi", "2"),
    ("(1,2)", "[1,2]"),
    ("0.3333", "1/3"),
    ("10 thousand", "10"),  # scale words change the value
    ("2 million", "2"),
    ("5 squared", "5"),
]


@pytest.mark.parametrize(("a", "b"), SAME_KEY)
def test_answer_key_equal(a: str, b: str) -> None:
    assert answer_key(a) == answer_key(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT_KEY)
def test_answer_key_different(a: str, b: str) -> None:
    assert answer_key(a) != answer_key(b)


def test_answer_key_canonical_forms() -> None:
    assert answer_key("1,000") == "1000"
    assert answer_key("0.50") == "1/2"
    assert answer_key(r"\frac{4}{2}") == "2"
    assert answer_key("1/0") == "1/0"  # not a number: kept as text, no ZeroDivisionError


EQUIVALENT = [
    ("0.5", r"\frac{1}{2}"),
    (r"\frac{1}{2}", "0.5"),
    ("1,000", "1000"),
    ("5.0", "5"),
    (r"3\sqrt{2}", r"\sqrt{18}"),
    ("x^2+2x+1", "(x+1)^2"),
    ("2, 3", r"\{2,3\}"),
    ("Monday", r"\text{Monday}"),
    ("18 dollars", "18"),
    ("x=5", "5"),
    ("12 km/h", "12"),
    ("18/hour", "18"),
]

NOT_EQUIVALENT = [
    ("3", "4"),
    ("-1", "1"),
    ("0.5", r"\frac{1}{3}"),
    ("(1,2)", "[1,2]"),
    ("28080.5", "28080"),
    ("10 thousand", "10"),
    ("5 squared", "5"),
]


@pytest.mark.parametrize(("answer", "reference"), EQUIVALENT)
def test_is_equivalent_true(answer: str, reference: str) -> None:
    assert is_equivalent(answer, reference)


@pytest.mark.parametrize(("answer", "reference"), NOT_EQUIVALENT)
def test_is_equivalent_false(answer: str, reference: str) -> None:
    assert not is_equivalent(answer, reference)


@pytest.mark.parametrize(("answer", "reference"), [("x = 5", "y = 5"), ("y=-2", "$x=-2$")])
def test_assignments_to_different_variables_are_not_equivalent(answer: str, reference: str) -> None:
    assert not is_equivalent(answer, reference)  # a vertical asymptote is not a horizontal one
    assert is_equivalent(answer, answer.replace(" ", "")) and is_equivalent(answer, answer.split("=")[1])


@pytest.mark.parametrize("answer", [None, "", "   "])
def test_missing_answer_is_wrong(answer: str | None) -> None:
    assert not is_equivalent(answer, "1")


def test_is_equivalent_in_worker_threads() -> None:
    """math-verify's signal.alarm timeout fails off the main thread; is_equivalent must not."""
    pairs = EQUIVALENT[:4] + NOT_EQUIVALENT[:3]
    results: list[list[bool]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append([is_equivalent(a, r) for a, r in pairs])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert results == [[True] * 4 + [False] * 3] * 3


def test_is_equivalent_falls_back_to_key_when_math_verify_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(answer: str, reference: str) -> bool:
        raise RuntimeError("math-verify blew up")

    monkeypatch.setattr(grading, "_math_verify", broken)
    assert is_equivalent("Paris", "paris")
    assert not is_equivalent("Paris", "London")


def test_extracted_then_graded() -> None:
    completion = "Half of 48 is 24.\n\n24 / 4 = 6.\n\nThe final answer is \\boxed{6}."
    assert is_equivalent(extract_answer(completion), "6")
    assert not is_equivalent(extract_answer(completion), "7")


def test_doctests() -> None:
    failures, tried = doctest.testmod(answers)
    assert tried > 0
    assert failures == 0
