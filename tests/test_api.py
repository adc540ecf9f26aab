"""The library front door: solve(), names, errors, partial results."""

from __future__ import annotations

import pytest

from ponder import ConfigError, Problem, StrategyError, solve
from ponder.api import get_strategy, get_task, run_chunks
from ponder.backends.fake import FakeBackend
from ponder.types import Candidate, Result, Usage
from tests.conftest import boxed


def test_solve_with_the_fake_backend_is_reproducible():
    a = solve(["What is 6 * 7?", "And 40 + 2?"], "self_consistency", backend="fake", n=6, seed=1)
    b = solve(["What is 6 * 7?", "And 40 + 2?"], "self_consistency", backend="fake", n=6, seed=1)
    assert [r.problem_id for r in a] == ["q0", "q1"]
    assert [(r.answer, [c.text for c in r.candidates]) for r in a] == [
        (r.answer, [c.text for c in r.candidates]) for r in b
    ]
    assert all(len(r.candidates) == 6 for r in a)


def test_unknown_names_suggest_alternatives():
    with pytest.raises(ConfigError, match="Did you mean 'self_consistency'"):
        solve(["q?"], "self-consistency", backend="fake")
    with pytest.raises(ConfigError, match="Did you mean 'fake'"):
        solve(["q?"], backend="fak")
    with pytest.raises(ConfigError, match="Did you mean 'judge'"):
        solve(["q?"], "best_of_n", backend="fake", scorer="judg")


@pytest.mark.parametrize(
    ("strategy", "flag"), [("self_consistency", "early_stop"), ("best_of_n", "weighted"), ("adaptive", "early_stop")]
)
def test_a_flag_that_is_not_a_bool_is_refused_with_the_value(strategy, flag):
    with pytest.raises(ConfigError, match=rf"{strategy} {flag} must be true or false, got 'False'"):
        get_strategy(strategy, **{flag: "False"})  # a string "False" is truthy: never silently on


def test_unknown_strategy_parameter_lists_the_known_ones():
    with pytest.raises(
        ConfigError, match=r"beam_width.*it takes: batch, confidence, early_stop, max_tokens, n, sampler, temperature"
    ):
        solve(["q?"], "self_consistency", backend="fake", beam_width=4)


def test_a_single_string_is_refused():
    with pytest.raises(ConfigError, match="list of questions"):
        solve("What is 2+2?", backend="fake")  # type: ignore[arg-type]


def test_failure_mid_run_keeps_earlier_results():
    backend = FakeBackend([boxed("3")], fail_on_call=2)
    with pytest.raises(StrategyError) as info:
        solve([Problem("a?", id="a"), Problem("b?", id="b")], "self_consistency", backend=backend, n=2, chunk_size=1)
    assert [r.problem_id for r in info.value.partial] == ["a"]
    assert info.value.partial[0].answer == "3"


class _DropsOne:
    """A strategy that returns one Result fewer than it was given problems."""

    name = "stub"

    def run(self, problems, ctx):
        return [Result(p.id, self.name, "1", (Candidate("1", "1"),), Usage()) for p in problems[1:]]


def _context():
    from ponder.api import make_context
    from ponder.catalog import make_registries

    return make_context(FakeBackend([boxed("1")]), get_task("math"), make_registries())


def test_a_strategy_returning_too_few_results_is_refused():
    with pytest.raises(StrategyError, match="stub returned 1 results for 2 problems"):
        run_chunks(_DropsOne(), [Problem("ok", id="a"), Problem("ok", id="b")], _context(), 2)
