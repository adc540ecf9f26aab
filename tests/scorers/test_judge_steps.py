"""Step-level judging: each step asked about given the earlier ones, batched, prefix-friendly, remembered."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from ponder.backends.fake import FakeBackend, FakeReply
from ponder.budget import Meter, Metered
from ponder.errors import ConfigError
from ponder.scorers.judge import DEFAULT_CONTINUE_PROMPT, JudgeScorer
from ponder.tasks.math_answer import MathAnswerTask
from ponder.types import Problem, SamplingParams

PROBLEM = Problem("What is 6 * 7?", id="q1")
STEPS = ["6 * 7 is six sevens.", "Six sevens are 41.", "The answer is \\boxed{41}."]
OTHER = ["Seven sixes.", "That is 42."]
# P(Yes) scripted per judged step (the last step shown in the prompt).
LOGPROBS = {
    "6 * 7 is six sevens.": (-0.1, -2.5),
    "Six sevens are 41.": (-2.0, -0.2),
    "The answer is \\boxed{41}.": (-1.0, -0.6),
    "Seven sixes.": (-0.4, -1.2),
    "That is 42.": (-0.05, -3.0),
}


def _calls(backend: Metered) -> list[tuple[tuple[str, ...], SamplingParams, int]]:
    """The calls the FakeBackend inside ``backend`` received."""
    assert isinstance(backend.inner, FakeBackend)
    return backend.inner.calls


def _p(yes: float, no: float) -> float:
    return math.exp(yes) / (math.exp(yes) + math.exp(no))


def _script(prompt: str, index: int, seed: int | None) -> FakeReply:
    """Answers about the step the prompt asks about: the last "Step n:" block, whose number must match."""
    question = re.search(r"Is step (\d+) correct", prompt)
    assert question is not None
    asked = int(question.group(1))
    blocks = re.findall(r"Step (\d+):\n(.*?)(?=\n\nStep \d+:|\n\nIs step)", prompt, re.DOTALL)
    number, latest = blocks[-1]
    assert int(number) == asked == len(blocks)
    yes, no = LOGPROBS[latest]
    return FakeReply("Yes", top=[{"Yes": yes, "No": no}])


def _judge() -> tuple[JudgeScorer, Metered]:
    backend = Metered(FakeBackend(_script), Meter())
    return JudgeScorer(backend, MathAnswerTask()), backend


def test_each_step_is_judged_given_the_earlier_ones_in_one_call() -> None:
    judge, backend = _judge()
    scores = judge.score_steps(PROBLEM, [STEPS, OTHER])
    assert scores[0] == pytest.approx([_p(*LOGPROBS[s]) for s in STEPS])
    assert scores[1] == pytest.approx([_p(*LOGPROBS[s]) for s in OTHER])
    [(prompts, params, _)] = _calls(backend)
    assert len(prompts) == 5 and params.max_tokens == 1
    assert backend.meter.usage_for("q1").calls == 1


def test_step_prompts_extend_each_other_up_to_the_final_question() -> None:
    judge, backend = _judge()
    judge.score_steps(PROBLEM, [STEPS])
    [(prompts, _, _)] = _calls(backend)
    heads = [p[: p.index("\n\nIs step")] for p in prompts]
    assert heads[1].startswith(heads[0]) and heads[2].startswith(heads[1])
    assert heads[0].index(PROBLEM.question) < heads[0].index(STEPS[0])


def test_judged_steps_are_remembered_and_only_new_steps_cost() -> None:
    judge, backend = _judge()
    first = judge.score_steps(PROBLEM, [STEPS[:2]])
    again = judge.score_steps(PROBLEM, [STEPS, STEPS, STEPS[:1]])
    assert again[0][:2] == first[0] and again[0] == again[1] and again[2] == first[0][:1]
    assert [len(prompts) for prompts, _, _ in _calls(backend)] == [2, 1]
    judge.score_steps(PROBLEM, [STEPS])
    assert len(_calls(backend)) == 2, "nothing new: no backend call"


def test_cache_off_judges_again_and_other_problems_are_separate() -> None:
    backend = Metered(FakeBackend(_script), Meter())
    judge = JudgeScorer(backend, MathAnswerTask(), cache=False)
    judge.score_steps(PROBLEM, [STEPS[:1]])
    judge.score_steps(PROBLEM, [STEPS[:1]])
    assert len(_calls(backend)) == 2
    cached, backend2 = _judge()
    cached.score_steps(PROBLEM, [STEPS[:1]])
    cached.score_steps(Problem("What is 7 * 6?", id="q2"), [STEPS[:1]])
    assert len(_calls(backend2)) == 2 and backend2.meter.usage_for("q2").calls == 1


GEN_PROMPT = "<|user|>\nSolve: What is 6 * 7?\n<|assistant|>\n"
ASK = DEFAULT_CONTINUE_PROMPT


def _continued(prompt: str, index: int, seed: int | None) -> FakeReply:
    """Answers about the last step before the judge's question, in a continued generation prompt (fresh-style
    prompts go to ``_script``)."""
    if not prompt.startswith(GEN_PROMPT):
        return _script(prompt, index, seed)
    body = prompt[len(GEN_PROMPT) : prompt.index("\n<|user|>\n" + ASK)]
    latest = body.split("\n\n")[-2]  # each step is followed by the delimiter
    yes, no = LOGPROBS[latest]
    return FakeReply("Yes", top=[{"Yes": yes, "No": no}])


def test_given_the_generation_prompt_the_judge_continues_it_with_a_short_question() -> None:
    backend = Metered(FakeBackend(_continued), Meter())
    judge = JudgeScorer(backend, MathAnswerTask())
    scores = judge.score_steps(PROBLEM, [STEPS], prompt=GEN_PROMPT)
    assert scores[0] == pytest.approx([_p(*LOGPROBS[s]) for s in STEPS])
    [(prompts, _, _)] = _calls(backend)
    turn = f"\n<|user|>\n{ASK}\n<|assistant|>\n"
    # Exactly the text the policy decoded (prompt, steps, delimiters), then the turn change and question.
    assert prompts[1] == GEN_PROMPT + STEPS[0] + "\n\n" + STEPS[1] + "\n\n" + turn
    assert all(p.startswith(GEN_PROMPT + "".join(s + "\n\n" for s in STEPS[:i])) for i, p in enumerate(prompts))


def test_continued_scores_are_remembered_per_generation_prompt() -> None:
    backend = Metered(FakeBackend(_continued), Meter())
    judge = JudgeScorer(backend, MathAnswerTask())
    judge.score_steps(PROBLEM, [STEPS[:2]], prompt=GEN_PROMPT)
    judge.score_steps(PROBLEM, [STEPS], prompt=GEN_PROMPT)
    assert [len(prompts) for prompts, _, _ in _calls(backend)] == [2, 1]
    fresh = judge.score_steps(PROBLEM, [STEPS[:1]])  # no prompt: the fresh style, a different question
    assert len(_calls(backend)) == 3 and "Is step 1 correct" in _calls(backend)[-1][0][0]
    assert 0.0 <= fresh[0][0] <= 1.0


def test_step_style_fresh_ignores_the_prompt_and_continue_requires_one() -> None:
    backend = Metered(FakeBackend(_script), Meter())
    judge = JudgeScorer(backend, MathAnswerTask(), step_style="fresh")
    judge.score_steps(PROBLEM, [STEPS[:1]], prompt=GEN_PROMPT)
    assert not _calls(backend)[0][0][0].startswith(GEN_PROMPT)
    strict = JudgeScorer(Metered(FakeBackend(_script), Meter()), MathAnswerTask(), step_style="continue")
    with pytest.raises(ConfigError, match="needs the generation prompt"):
        strict.score_steps(PROBLEM, [STEPS[:1]])
    with pytest.raises(ConfigError, match=r"step_style must be one of .*'sideways'"):
        JudgeScorer(Metered(FakeBackend(_script), Meter()), MathAnswerTask(), step_style="sideways")


def test_a_backend_that_cannot_continue_a_prompt_gets_fresh_prompts():
    fake = FakeBackend(_script)
    fake.capabilities = dataclasses.replace(fake.capabilities, continuation=False)
    backend = Metered(fake, Meter())
    judge = JudgeScorer(backend, MathAnswerTask())
    assert judge.step_style == "fresh"
    judge.score_steps(PROBLEM, [STEPS[:1]], prompt=GEN_PROMPT)
    assert "Is step 1 correct" in _calls(backend)[0][0][0]
    with pytest.raises(ConfigError, match="needs a backend that continues a prompt"):
        JudgeScorer(backend, MathAnswerTask(), step_style="continue")
