"""Scripts for adaptive tests: answers given by the sample's index among all samples of its prompt."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tests.conftest import boxed


def sequence_script(answers: Mapping[str, Sequence[str]] | Sequence[str]) -> Callable[[str, int, int | None], str]:
    """Sample k of a prompt (its index counted across calls, ``SamplingParams.first_sample`` included) answers
    ``answers[k]`` (per question substring, or for all); the last answer repeats."""

    def script(prompt: str, index: int, seed: int | None) -> str:
        mine = answers[next(k for k in answers if k in prompt)] if isinstance(answers, Mapping) else answers
        return boxed(mine[min(index, len(mine) - 1)])

    return script
