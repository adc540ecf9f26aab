"""Helpers shared by the depth-strategy tests (prompt parsing, a fixed scorer), and tests of depth_common."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import pytest

from ponder.api import get_strategy
from ponder.backends.fake import FakeBackend
from ponder.errors import ConfigError
from ponder.strategies.depth_common import check_int, pick_answered, pick_best, pick_last, with_note
from ponder.types import Candidate, Message, Problem

_TURN = re.compile(r"<\|(system|user|assistant)\|>\n")


def turns(prompt: str) -> list[tuple[str, str]]:
    """The (role, content) turns of a prompt rendered by FakeBackend; the open assistant turn comes last."""
    parts = _TURN.split(prompt)[1:]
    out = [(parts[i], parts[i + 1]) for i in range(0, len(parts), 2)]
    return [
        (role, text[:-1] if text.endswith("\n") and i < len(out) - 1 else text) for i, (role, text) in enumerate(out)
    ]


def prompts_of(ctx) -> list[str]:
    """Every prompt the fake backend received, in order."""
    return [p for prompts, _, _ in ctx.backend.inner.calls for p in prompts]


class FixedScorer:
    """An outcome scorer that rates candidates by their answer (``default`` for unknown answers)."""

    name = "fixed"
    needs_logprobs = False

    def __init__(self, by_answer: Mapping[str, float], default: float = 0.0) -> None:
        self.by_answer = dict(by_answer)
        self.default = default
        self.calls: list[list[str | None]] = []

    def score(self, problem: Problem, candidates: Sequence[Candidate]) -> list[float]:
        self.calls.append([c.answer for c in candidates])
        return [self.by_answer.get(c.answer or "", self.default) for c in candidates]


def by_last_user(rules: Sequence[tuple[str, Callable[[str], str]]], default: str) -> Callable[..., str]:
    """A fake script choosing its reply by the start of the prompt's last user turn."""

    def script(prompt: str, index: int, seed: int | None) -> str:
        last_user = [text for role, text in turns(prompt) if role == "user"][-1]
        for marker, reply in rules:
            if marker in last_user:
                return reply(prompt)
        return default

    return script


def test_turns_parses_the_fake_chat_format():
    prompt = "<|system|>\nS\n<|user|>\nQ\n\nmore\n<|assistant|>\nA\n<|user|>\nF\n<|assistant|>\n"
    assert turns(prompt) == [
        ("system", "S"),
        ("user", "Q\n\nmore"),
        ("assistant", "A"),
        ("user", "F"),
        ("assistant", ""),
    ]


def test_with_note_extends_the_question_or_adds_a_user_turn():
    msgs = [Message("system", "s"), Message("user", "q")]
    assert with_note(msgs, "note")[-1] == Message("user", "q\n\nnote")
    assert msgs[-1] == Message("user", "q"), "the task's messages are not mutated"
    assert with_note([Message("assistant", "a")], "n")[-1] == Message("user", "n")


def test_picks_skip_filtered_candidates():
    cands = [Candidate("a", "1", score=0.9), Candidate("b", None, score=0.9), Candidate("c", "3", filtered="x")]
    assert pick_last(cands) == 1
    assert pick_best(cands) == 1, "ties go to the newest kept"
    assert pick_answered(cands) == 0
    assert pick_last([Candidate("c", "3", filtered="x")]) is None


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
def test_check_int_shows_the_bad_value(value):
    with pytest.raises(ConfigError, match=re.escape(repr(value))):
        check_int("s", "rounds", value, 0)


DEPTH = ["self_refine", "reflexion", "deliberate", "revisions", "budget_forcing"]


@pytest.mark.parametrize("name", DEPTH)
def test_problems_are_kept_apart_by_position_not_id(name, make_ctx):
    """Called directly (not through solve), problems may share an empty id; results must not mix."""

    def script(prompt: str, index: int, seed: int | None) -> str:
        return "\\boxed{1}" if "Apples?" in prompt else "\\boxed{2}"

    results = get_strategy(name).run([Problem("Apples?"), Problem("Pears?")], make_ctx(backend=FakeBackend(script)))
    assert [r.answer for r in results] == ["1", "2"]
    assert [{c.answer for c in r.candidates} for r in results] == [{"1"}, {"2"}]
