"""One contract every registered backend honours (the Backend protocol of ``ponder.backends.base``).

Each registered name gets a factory here: ``fake`` in process, ``openai`` against the fixture HTTP server,
``llamacpp`` over the small test model (skipped, with the reason, without llama-cpp-python or the model),
``vllm`` on a real engine (skipped, with the reason, without vLLM or a CUDA GPU). A backend registered
without a factory here fails the test, so a new backend cannot slip past the contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fixture_server import FixtureServer
from test_vllm import VLLM_MODEL, vllm_gpu_reason

from ponder.api import load_backend
from ponder.backends.base import Backend
from ponder.catalog import make_registries
from ponder.errors import ConfigError
from ponder.types import Message, SamplingParams

NAMES = make_registries().backends.names()
PARAMS = SamplingParams(temperature=0.8, max_tokens=24, seed=5, stop=("\n\n",), logprobs=1)


@pytest.fixture(scope="module", params=NAMES)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """One backend per registered name for the module (tests run grouped by name, in file order)."""
    name = request.param
    if name == "fake":
        made = load_backend("fake")
    elif name == "openai":
        server = FixtureServer().start()
        request.addfinalizer(server.stop)
        made = load_backend("openai", "test-model", base_url=server.url, max_retries=0, timeout=10)
    elif name == "llamacpp":
        request.getfixturevalue("small_model_path")  # skips without llama-cpp-python or the model
        made = load_backend("llamacpp", "smollm2-135m", n_ctx=2048, n_seq_max=16, n_threads=1)
    elif name == "vllm":
        reason = vllm_gpu_reason()
        if reason is not None:
            pytest.skip(f"vllm backend: {reason}")
        made = load_backend("vllm", VLLM_MODEL, gpu_memory_utilization=0.5, max_model_len=2048)
    else:
        pytest.fail(f"backend {name!r} is registered but has no factory in the contract test; add one")
    yield made
    made.close()


def test_protocol_fields(backend: Any):
    assert isinstance(backend, Backend)
    assert backend.name in NAMES and isinstance(backend.model, str) and backend.model
    assert isinstance(backend.n_params, int) and backend.n_params >= 0


def test_batch_of_prompts_gives_n_completions_each(backend: Any):
    prompt = backend.render([Message("user", "Say hello.")])
    assert isinstance(prompt, str) and "Say hello." in prompt
    gens = backend.generate([prompt, prompt + "Hello"], PARAMS, 3)
    assert len(gens) == 2
    for gen in gens:
        assert len(gen.completions) == 3
        assert gen.prompt_tokens > 0 and 0 <= gen.cached_prompt_tokens <= gen.prompt_tokens
        for c in gen.completions:
            assert 0 <= c.n_tokens <= PARAMS.max_tokens
            assert c.finish_reason in ("stop", "length")
            assert "\n\n" not in c.text and c.stop_reason in (None, "\n\n")
            if backend.capabilities.logprobs:
                assert c.logprobs is not None and len(c.logprobs) == c.n_tokens
    assert backend.generate([], PARAMS, 2) == []


def test_seeded_samples_are_reproducible(backend: Any):
    prompt = backend.render([Message("user", "Name a colour.")])
    first = backend.generate([prompt], PARAMS, 3)[0].completions
    again = backend.generate([prompt], PARAMS, 3)[0].completions
    assert [c.text for c in again] == [c.text for c in first]


def test_offsets_give_each_prompt_its_own_sample_positions(backend: Any):
    """Sample i of prompt p in a call with ``offsets`` is sample ``first_sample + offsets[p] + i`` of that
    prompt (seed included): chains continuing the same text side by side in one call draw different samples,
    and a chain's sample follows its offset, not its place in the call. Exact texts are compared only where
    samples are bit-stable: llama.cpp's (and vLLM's) logits change in the last bits with a sequence's slot in
    the batch, which can flip a sampled token."""
    prompt = backend.render([Message("user", "Name a colour.")])
    ordered = backend.generate([prompt] * 3, PARAMS.replace(first_sample=1, offsets=(0, 1, 2)), 1)
    texts = [g.completions[0].text for g in ordered]
    if backend.name != "fake":  # the fake's default reply ignores the seed (tests/test_core.py checks it)
        assert len(set(texts)) == 3, "identical prompts at different positions get different seeds"
    if backend.name in ("fake", "openai"):
        shuffled = backend.generate([prompt] * 3, PARAMS.replace(first_sample=1, offsets=(2, 0, 1)), 1)
        assert [g.completions[0].text for g in shuffled] == [texts[2], texts[0], texts[1]]
        alone = backend.generate([prompt], PARAMS.replace(first_sample=3), 1)
        assert alone[0].completions[0].text == texts[2]
    with pytest.raises(ConfigError, match="offsets has 1 entries for 2 prompts"):
        backend.generate([prompt, prompt], PARAMS.replace(offsets=(1,)), 1)


def test_close_twice_is_safe(backend: Any):  # last: the module's backend is closed afterwards
    backend.close()
    backend.close()
