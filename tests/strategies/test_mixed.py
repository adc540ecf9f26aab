"""The mixed sampler: program-aided samples first, then reasoning ones, voting together."""

from __future__ import annotations

import pytest

from ponder.api import get_strategy, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.errors import ConfigError
from ponder.tasks.game24 import Game24Task
from ponder.tasks.math_answer import DEFAULT_SYSTEM_PROMPT, MathAnswerTask
from ponder.tasks.program_answer import PROGRAM_SYSTEM_PROMPT
from ponder.types import Problem
from tests.conftest import boxed

PROBLEM = Problem("What is 40 + 2?", id="p")


def program(value: str) -> str:
    return f"```python\ndef solution():\n    return {value}\n```"


class Model:
    """Answers a program prompt with ``programs[i]`` and a reasoning prompt with ``reasoning[i]`` (sample i of
    that prompt), recording which kind of sample was asked for at which position."""

    def __init__(self, programs: list[str], reasoning: list[str]) -> None:
        self.programs, self.reasoning = programs, reasoning
        self.asked: list[tuple[str, int]] = []

    def __call__(self, prompt: str, index: int, seed: int | None) -> str:
        kind = "program" if PROGRAM_SYSTEM_PROMPT in prompt else "reasoning"
        self.asked.append((kind, index))
        replies = self.programs if kind == "program" else self.reasoning
        return replies[index % len(replies)]


def run(make_ctx, model: Model, strategy: str = "mixed", **params):
    ctx = make_ctx(backend=FakeBackend(model))
    [result] = run_chunks(get_strategy(strategy, **params), [PROBLEM], ctx, 1)
    return result


def test_first_samples_are_programs_then_reasoning_each_numbered_from_zero(make_ctx):
    model = Model([program("6 * 7")], [boxed("41")])
    r = run(make_ctx, model, n=5, first=2)
    assert [c.answer for c in r.candidates] == ["42", "42", "41", "41", "41"]
    assert r.answer == "41"  # three reasoning votes beat two program votes
    assert sorted(model.asked) == [("program", 0), ("program", 1), ("reasoning", 0), ("reasoning", 1), ("reasoning", 2)]
    sample = next(e for e in r.trace if e.kind == "sample")
    assert sample.data["formats"] == {"program": 2, "reasoning": 3}


def test_reasoning_samples_are_a_plain_runs_samples(make_ctx):
    plain_ctx = make_ctx(backend=FakeBackend())
    mixed_ctx = make_ctx(backend=FakeBackend())
    [plain] = run_chunks(get_strategy("self_consistency", n=3), [PROBLEM], plain_ctx, 1)
    [mine] = run_chunks(get_strategy("mixed", n=4, first=1), [PROBLEM], mixed_ctx, 1)
    assert len(mine.candidates) == 4
    assert [c.text for c in mine.candidates[1:]] == [c.text for c in plain.candidates]  # same cache entries


def test_a_cascade_stops_before_reasoning_when_the_programs_agree(make_ctx):
    model = Model([program("6 * 7")], [boxed("41")])
    sampler = {"strategy": "mixed", "first": 4}
    r = run(make_ctx, model, "self_consistency", n=8, sampler=sampler, early_stop=True, confidence=0.8, batch=2)
    assert r.answer == "42"
    assert model.asked == [("program", 0), ("program", 1)]  # 2 of 2 agree: P(majority) = 0.875 >= 0.8
    stop = next(e for e in r.trace if e.kind == "stop")
    assert stop.data["after"] == 2


def test_a_cascade_goes_on_to_reasoning_when_the_programs_disagree(make_ctx):
    model = Model([program("6 * 7"), program("6 * 6")], [boxed("42")])
    sampler = {"strategy": "mixed", "first": 2}
    r = run(make_ctx, model, "self_consistency", n=8, sampler=sampler, early_stop=True, confidence=0.8, batch=2)
    assert r.answer == "42"
    assert model.asked == [("program", 0), ("program", 1), ("reasoning", 0), ("reasoning", 1)]
    assert [c.answer for c in r.candidates] == ["42", "36", "42", "42"]


def test_a_batch_across_the_switch_draws_both_formats(make_ctx):
    model = Model([program("6 * 7")], [boxed("7"), boxed("8")])
    sampler = {"strategy": "mixed", "first": 3}
    r = run(make_ctx, model, "self_consistency", n=6, sampler=sampler, early_stop=True, confidence=None, batch=2)
    assert sorted(model.asked) == [("program", 0), ("program", 1), ("program", 2), ("reasoning", 0)]
    assert r.answer == "42"  # 3 of 3 programs with 2 samples left: unassailable after the second batch


def test_the_task_variant_asks_for_the_other_format_and_is_built_once():
    task = MathAnswerTask(system_prompt="Think hard.")
    assert task.solving_with("reasoning") is task
    code = task.solving_with("program")
    assert code is task.solving_with("program")
    assert code.messages(PROBLEM)[0].content == PROGRAM_SYSTEM_PROMPT  # a custom prompt stays with its mode
    assert code.solving_with("reasoning").messages(PROBLEM)[0].content == DEFAULT_SYSTEM_PROMPT
    assert task.messages(PROBLEM)[0].content == "Think hard."
    assert code.extract_answer(program("6 * 7")) == "42"  # run
    assert task.extract_answer(program("6 * 7")) == "7"  # read as text: its last number
    with pytest.raises(ConfigError, match="solve_with must be one of reasoning, program, got 'code'"):
        task.solving_with("code")


def test_a_task_with_one_format_is_refused(make_ctx):
    from ponder.api import make_context
    from ponder.catalog import make_registries

    ctx = make_context(FakeBackend(), Game24Task(), make_registries())
    with pytest.raises(ConfigError, match="needs a task with several formats"):
        run_chunks(get_strategy("mixed"), [Problem("1 2 3 4", id="g")], ctx, 1)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n": 0}, "mixed n must be an integer >= 1, got 0"),
        ({"first": -1}, "mixed first must be an integer >= 0, got -1"),
        ({"first_with": "code"}, "mixed first_with must be one of reasoning, program, got 'code'"),
        ({"then_with": None}, "mixed then_with must be one of reasoning, program, got None"),
        ({"then_with": "program"}, "mixed first_with and then_with must differ, got 'program' for both"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(ConfigError, match=message):
        get_strategy("mixed", **params)


def _policy(tmp_path, strategy, params):
    from ponder.adaptive.policy import Entry, Policy, save_policy

    entry = Entry(bin=0, budget=5, strategy=strategy, params=params)
    policy = Policy(model="fake", task="math", scorer=None, estimator="agreement", probe=2, entries=[entry])
    return str(save_policy(policy, tmp_path / "policy.json"))


def test_adaptive_hands_the_probe_to_an_entrys_mixed_sampler_as_its_first_samples(make_ctx, tmp_path):
    sampler = {"strategy": "mixed", "first": 3, "first_with": "reasoning", "then_with": "program"}
    path = _policy(tmp_path, "self_consistency", {"n": 5, "sampler": sampler})
    model = Model([program("6 * 7")], [boxed("41"), boxed("40"), boxed("39")])
    r = run(make_ctx, model, "adaptive", policy=path, budget=5)
    # the probe's 2 reasoning samples are the sampler's first 2; it adds reasoning sample 2, then 2 programs
    assert model.asked == [("reasoning", 0), ("reasoning", 1), ("reasoning", 2), ("program", 0), ("program", 1)]
    assert [c.answer for c in r.candidates] == ["41", "40", "39", "42", "42"]
    assert r.answer == "42"


def test_a_mixed_entry_runs_after_the_probes_positions(make_ctx, tmp_path):
    path = _policy(tmp_path, "mixed", {"n": 4, "first": 3, "first_with": "reasoning", "then_with": "program"})
    model = Model([program("6 * 7")], [boxed("41"), boxed("40"), boxed("39")])
    r = run(make_ctx, model, "adaptive", policy=path, budget=6)
    assert model.asked == [("reasoning", i) for i in range(3)] + [("program", i) for i in range(3)]
    assert [c.answer for c in r.candidates] == ["39", "42", "42", "42", "41", "40"]  # its 4, then the probe's
    sample = next(e for e in r.trace if e.kind == "sample")
    assert sample.data["formats"] == {"reasoning": 1, "program": 3}


@pytest.mark.parametrize("strategy", ["self_consistency", "mixed"])
def test_adaptive_refuses_a_mixed_entry_whose_first_samples_are_not_the_probes(make_ctx, tmp_path, strategy):
    mixed = {"first": 4, "first_with": "program", "then_with": "reasoning"}
    params = {"n": 5, "sampler": {"strategy": "mixed", **mixed}} if strategy == "self_consistency" else mixed
    model = Model([program("6 * 7")], [boxed("41")])
    with pytest.raises(ConfigError, match=r"must draw its first 2 samples \(the probe's\) as plain samples"):
        run(make_ctx, model, "adaptive", policy=_policy(tmp_path, strategy, params), budget=5)
    assert model.asked == []  # refused before the probe


def test_adaptive_keeps_other_samplers_apart_from_the_probe(make_ctx, tmp_path):
    sampler = {"strategy": "budget_forcing", "max_thinking": 64}
    path = _policy(tmp_path, "self_consistency", {"n": 3, "sampler": sampler})
    r = run(make_ctx, Model([program("1")], [boxed("42")]), "adaptive", policy=path, budget=5)
    assert len(r.candidates) == 3 + 2  # its own 3 budget-forced samples, then the probe's 2 (not reused)
