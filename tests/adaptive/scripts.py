"""Scripts for adaptive tests: answers given by the k-th sample a prompt has received, whatever the batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from tests.conftest import boxed


def sequence_script(answers: Mapping[str, Sequence[str]] | Sequence[str]) -> Callable[[str, int, int | None], str]:
    """Sample k of a problem (counted across calls) answers ``answers[k]`` (per question substring, or for all);
    the last answer repeats."""
    seen: dict[str, int] = defaultdict(int)

    def script(prompt: str, index: int, seed: int | None) -> str:
        if isinstance(answers, Mapping):
            key = next(k for k in answers if k in prompt)
            mine = answers[key]
        else:
            key, mine = "", answers
        k = seen[prompt + key]
        seen[prompt + key] += 1
        return boxed(mine[min(k, len(mine) - 1)])

    return script
