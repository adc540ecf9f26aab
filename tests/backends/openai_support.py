"""Shared names of the OpenAIBackend tests (test_openai*.py): endpoints, sampling parameters, seeds."""

from __future__ import annotations

from collections.abc import Callable

from ponder.backends.openai import OpenAIBackend
from ponder.types import SamplingParams

COMPLETIONS, CHAT = "/v1/completions", "/v1/chat/completions"
PARAMS = SamplingParams(temperature=0.7, max_tokens=64, seed=11)
S0, S1, S2 = (PARAMS.sample_seed(i) for i in range(3))

Make = Callable[..., OpenAIBackend]
