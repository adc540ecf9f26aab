"""The judge scorer: P("Yes") from logprobs, text fallback, batching, metering, step-level judging."""

from __future__ import annotations

import dataclasses
import math

import pytest

from ponder.backends.fake import FakeBackend, FakeReply
from ponder.budget import Meter, Metered
from ponder.errors import BackendError, ConfigError, ScorerError
from ponder.scorers.base import OutcomeScorer, ProcessScorer
from ponder.scorers.judge import JudgeScorer
from ponder.scorers.yes_no import fill, parse_yes_no, yes_probability
from ponder.tasks.math_answer import MathAnswerTask
from ponder.types import Candidate, Completion, Problem, SamplingParams, TokenLogprob

PROBLEM = Problem("What is 6 * 7?", id="q1")
TASK = MathAnswerTask()


def _calls(backend: Metered) -> list[tuple[tuple[str, ...], SamplingParams, int]]:
    """The calls the FakeBackend inside ``backend`` received."""
    assert isinstance(backend.inner, FakeBackend)
    return backend.inner.calls


def _p(yes: float, no: float) -> float:
    """The expected normalised P(Yes) for logprobs ``yes`` and ``no``."""
    return math.exp(yes) / (math.exp(yes) + math.exp(no))


def _metered(script, *, logprobs: bool = True) -> Metered:
    backend = FakeBackend(script)
    if not logprobs:
        backend.capabilities = dataclasses.replace(backend.capabilities, logprobs=False, top_logprobs=0)
    return Metered(backend, Meter())


def _by_answer(prompt: str, index: int, seed: int | None) -> FakeReply:
    """Says Yes confidently to a solution boxing 42, leans No on 41, and answers off-topic otherwise."""
    if "\\boxed{42}" in prompt:
        return FakeReply("Yes", top=[{" Yes": -0.2, " No": -1.8}])
    if "\\boxed{41}" in prompt:
        return FakeReply("No", top=[{"No": -0.3, "no": -2.0, "Yes": -1.5, "YES": -3.0}])
    return FakeReply("Maybe", top=[{"Maybe": -0.1, "Perhaps": -2.5}])


CANDIDATES = [
    Candidate("Six sevens.\n\nThe answer is \\boxed{42}.", "42"),
    Candidate("Six sevens are 41.\n\nThe answer is \\boxed{41}.", "41"),
    Candidate("I am not sure.", None),
]


def test_logprob_scores_are_normalised_yes_over_yes_plus_no() -> None:
    backend = _metered(_by_answer)
    scores = JudgeScorer(backend, TASK).score(PROBLEM, CANDIDATES)
    p_yes_41 = math.exp(-1.5) + math.exp(-3.0)
    p_no_41 = math.exp(-0.3) + math.exp(-2.0)
    assert scores == pytest.approx([_p(-0.2, -1.8), p_yes_41 / (p_yes_41 + p_no_41), 0.5])


def test_all_candidates_in_one_call_with_one_token_and_top_logprobs() -> None:
    backend = _metered(_by_answer)
    JudgeScorer(backend, TASK).score(PROBLEM, CANDIDATES)
    [(prompts, params, n)] = _calls(backend)
    assert len(prompts) == 3 and n == 1
    assert params.max_tokens == 1 and params.logprobs == 10 and params.temperature == 0.0
    for prompt, cand in zip(prompts, CANDIDATES, strict=True):
        assert cand.text in prompt and PROBLEM.question in prompt
        assert prompt.index(PROBLEM.question) < prompt.index(cand.text), "question first: prefix-friendly"


def test_usage_is_charged_to_the_problem() -> None:
    backend = _metered(_by_answer)
    JudgeScorer(backend, TASK).score(PROBLEM, CANDIDATES)
    usage = backend.meter.usage_for("q1")
    assert usage.calls == 1 and usage.prompt_tokens > 0 and usage.completion_tokens == 3


def test_text_mode_when_the_backend_has_no_logprobs() -> None:
    replies = {"42": "Yes, it is correct.", "41": "No. Six sevens are 42.", "sure": "I cannot tell."}

    def script(prompt: str, index: int, seed: int | None) -> str:
        return next(reply for key, reply in replies.items() if key in prompt.split("Proposed solution:")[1])

    backend = _metered(script, logprobs=False)
    judge = JudgeScorer(backend, TASK)
    assert judge.mode == "text"
    assert judge.score(PROBLEM, CANDIDATES) == [1.0, 0.0, 0.5]
    [(prompts, params, _)] = _calls(backend)
    assert len(prompts) == 3 and params.logprobs is None and params.max_tokens > 1


def test_text_mode_can_be_forced_and_logprobs_mode_needs_logprobs() -> None:
    assert JudgeScorer(_metered(_by_answer), TASK, mode="text").mode == "text"
    with pytest.raises(ConfigError, match="top_logprobs=0"):
        JudgeScorer(_metered(_by_answer, logprobs=False), TASK, mode="logprobs")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"mode": "vibes"}, "'vibes'"),
        ({"prompt": "Is it right?"}, r"\{solution\}"),
        ({"step_prompt": "Step ok?"}, r"\{steps\}"),
        ({"temperature": -1.0}, "-1.0"),
    ],
)
def test_bad_options_are_config_errors(options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        JudgeScorer(_metered(_by_answer), TASK, **options)


def test_a_plain_backend_is_refused() -> None:
    with pytest.raises(ConfigError, match="Metered"):
        JudgeScorer(FakeBackend(), TASK)


def test_custom_prompt_keeps_other_braces() -> None:
    backend = _metered(_by_answer)
    JudgeScorer(backend, TASK, prompt="Q: {question}\nA: {solution}\nFormat \\boxed{} ok? {other}").score(
        PROBLEM, CANDIDATES[:1]
    )
    [((prompt,), _, _)] = _calls(backend)
    assert "Q: What is 6 * 7?\nA: Six sevens." in prompt and "\\boxed{} ok? {other}" in prompt


def test_backend_failure_propagates() -> None:
    backend = Metered(FakeBackend(fail_on_call=1))
    with pytest.raises(BackendError):
        JudgeScorer(backend, TASK).score(PROBLEM, CANDIDATES)


def test_missing_logprobs_in_a_reply_is_a_scorer_error() -> None:
    with pytest.raises(ScorerError, match="no logprobs"):
        yes_probability(Completion("Yes", 1, "stop", None))


def test_yes_probability_details() -> None:
    sampled_only = Completion("Yes", 1, "stop", (TokenLogprob("Yes", -0.5, {}),))
    assert yes_probability(sampled_only) == 1.0
    empty = Completion("", 0, "stop", ())
    assert yes_probability(empty) == 0.5
    variants = {" No": -1.0, "▁Yes": -1.0, "yes": -1.0, "Maybe": -0.5}
    summed = Completion(" yes", 1, "stop", (TokenLogprob(" yes", -1.0, variants),))
    assert yes_probability(summed) == pytest.approx(2 / 3), "variants summed, other words ignored"
    only_top = Completion("Maybe", 1, "stop", (TokenLogprob("Maybe", -0.1, {"Maybe": -0.1, "No": -3.0}),))
    assert yes_probability(only_top) == 0.0
    with pytest.raises(ScorerError, match="nan"):
        yes_probability(Completion("Yes", 1, "stop", (TokenLogprob("Yes", float("nan"), {}),)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Yes", 1.0), ("  no.", 0.0), ("**YES**", 1.0), ("Not sure, yes", 1.0), ("Nope", 0.5), ("", 0.5)],
)
def test_parse_yes_no(text: str, expected: float) -> None:
    assert parse_yes_no(text) == expected


def test_fill_replaces_only_named_placeholders() -> None:
    assert fill("{a} {b} {c} \\boxed{}", a="1", b="{c}") == "1 {c} {c} \\boxed{}"


def test_judge_is_both_an_outcome_and_a_process_scorer() -> None:
    judge = JudgeScorer(_metered(_by_answer), TASK)
    assert isinstance(judge, OutcomeScorer) and isinstance(judge, ProcessScorer)
    assert judge.name == "judge" and judge.needs_logprobs is False


def test_empty_batch_makes_no_call() -> None:
    backend = _metered(_by_answer)
    judge = JudgeScorer(backend, TASK)
    assert judge.score(PROBLEM, []) == [] and judge.score_steps(PROBLEM, [[]]) == [[]]
    assert _calls(backend) == []
