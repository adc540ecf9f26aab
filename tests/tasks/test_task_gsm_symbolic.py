"""Generated GSM-Symbolic problems (ponder.tasks.gsm_symbolic): reproducibility, splits, grading."""

from __future__ import annotations

import itertools

import pytest

from ponder.errors import ConfigError
from ponder.tasks.gsm_symbolic import SPLITS, GSMSymbolicTask, dataset_seed
from ponder.types import Problem


def questions(task: GSMSymbolicTask, split: str = "test", limit: int | None = None) -> list[str]:
    return [p.question for p in task.problems(split, limit)]


def test_same_seed_same_problems() -> None:
    first = list(GSMSymbolicTask(seed=3, size=20).problems())
    again = list(GSMSymbolicTask(seed=3, size=20).problems())
    assert first == again
    assert first[0].id == "gsm_symbolic-3-0"
    assert len({p.id for p in first}) == 20


def test_different_seed_different_problems() -> None:
    a = set(questions(GSMSymbolicTask(seed=0, size=50)))
    b = set(questions(GSMSymbolicTask(seed=1, size=50)))
    assert len(a & b) <= 1  # a few templates have few value combinations; near-disjoint is what matters


def test_limit_is_a_prefix_and_does_not_depend_on_size() -> None:
    task = GSMSymbolicTask(seed=5, size=30)
    assert questions(task, limit=7) == questions(task)[:7]
    assert questions(GSMSymbolicTask(seed=5, size=10)) == questions(task, limit=10)
    assert len(questions(task, limit=0)) == 0
    assert len(questions(task, limit=1000)) == 30


def test_splits_are_disjoint() -> None:
    task = GSMSymbolicTask(seed=0, size=400)
    by_split = {split: questions(task, split) for split in SPLITS}
    for split, items in by_split.items():
        assert len(items) == 400
        assert len(set(items)) == 400, f"repeated question in {split}"
    assert not set(by_split["test"]) & set(by_split["calibration"])
    assert not set(by_split["test"]) & set(by_split["train"])
    calibration = next(iter(task.problems("calibration")))
    assert calibration.id.startswith("gsm_symbolic-calibration-0-")
    assert calibration.metadata["split"] == "calibration"


def test_split_seeds_are_spaced() -> None:
    seeds = sorted(dataset_seed(seed, split) for seed in range(3) for split in SPLITS)
    assert all(b - a >= 2**20 for a, b in itertools.pairwise(seeds))


def test_reference_graded_against_itself_and_not_off_by_one() -> None:
    task = GSMSymbolicTask(seed=0, size=40)
    for problem in task.problems():
        assert problem.reference is not None
        assert task.is_correct(problem, problem.reference), problem
        assert not task.is_correct(problem, str(float(problem.reference) + 1)), problem


def test_gym_score_agrees_with_math_verify() -> None:
    task = GSMSymbolicTask(seed=1, size=30)
    for problem in task.problems():
        ref = problem.reference
        assert ref is not None
        for answer in (ref, str(float(ref) + 1), f"{ref}.0" if "." not in ref else ref):
            assert task.is_correct(problem, answer) == (task.gym_score(problem, answer) == 1.0), answer


def test_gym_score_misreads_negative_answers() -> None:
    """The documented disagreement: reasoning-gym reads "-1" as 1; math-verify grading is right."""
    task = GSMSymbolicTask()
    problem = Problem(question="q", reference="-1")
    assert task.is_correct(problem, "-1")
    assert task.gym_score(problem, "-1") < 1.0


def test_metadata_does_not_leak_the_answer() -> None:
    problem = next(iter(GSMSymbolicTask(seed=2).problems()))
    assert set(problem.metadata) == {"seed", "split", "index", "difficulty"}
    assert "Give the result as your final answer" in problem.question


def test_model_style_completion_is_graded() -> None:
    task = GSMSymbolicTask(seed=0)
    problem = next(iter(task.problems()))
    completion = f"Step one.\n\nStep two.\n\nThe final answer is \\boxed{{{problem.reference}}}."
    assert task.is_correct(problem, task.extract_answer(completion))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": "0"}, "seed"),
        ({"size": 0}, "size"),
        ({"size": 2**30}, "size"),
        ({"difficulty": 2.0}, "difficulty"),
        ({"difficulty": "hard"}, "difficulty"),
        ({"few_shot": 9}, "few_shot"),
    ],
)
def test_bad_options(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        GSMSymbolicTask(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(("split", "limit"), [("tset", None), ("test", -1), ("test", 1.5)])
def test_bad_problem_arguments_raise_at_call(split: str, limit: object) -> None:
    with pytest.raises(ConfigError):
        GSMSymbolicTask().problems(split, limit)  # type: ignore[arg-type]
