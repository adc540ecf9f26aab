"""The vLLM backend: its conversion of vLLM's outputs (stand-ins shaped like vLLM's classes, runs anywhere)
and, where vLLM and a CUDA GPU are present, a real engine."""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from ponder.api import load_backend
from ponder.backends.vllm import engine_identity, request_params, to_completion, to_generation
from ponder.errors import BackendError, ConfigError
from ponder.types import Message, SamplingParams

# -- stand-ins with the fields of vllm.outputs.CompletionOutput / RequestOutput and vllm.logprobs.Logprob --


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int] | None
    prompt_logprobs: Any
    outputs: list[CompletionOutput]
    finished: bool = True
    num_cached_tokens: int | None = None
    metrics: Any = field(default=None)


def sample(text: str, ids: list[int], finish: str = "stop", stop: int | str | None = None, lps: Any = None) -> Any:
    return CompletionOutput(0, text, ids, None, lps, finish, stop)


def request(out: CompletionOutput, prompt_ids: int = 10, cached: int | None = 0) -> RequestOutput:
    return RequestOutput("r", None, list(range(prompt_ids)), None, [out], True, cached)


def test_request_params_seed_each_sample_like_the_other_backends():
    params = SamplingParams(temperature=0.7, top_p=0.9, top_k=5, max_tokens=32, stop=("\n\n",), seed=3, logprobs=2)
    kwargs = [request_params(params, i) for i in range(3)]
    assert [k["seed"] for k in kwargs] == [params.sample_seed(i) for i in range(3)]
    assert kwargs[0] == {
        "n": 1,
        "temperature": 0.7,
        "top_p": 0.9,
        "top_k": 5,
        "max_tokens": 32,
        "stop": ["\n\n"],
        "seed": params.sample_seed(0),
        "logprobs": 2,
        "include_stop_str_in_output": False,
    }
    unseeded = request_params(SamplingParams(), 1)
    assert unseeded["seed"] is None and unseeded["stop"] is None and unseeded["logprobs"] is None


def test_generation_from_request_outputs():
    params = SamplingParams(stop=("\n\n", "###"), max_tokens=3)
    outs = [
        request(sample("Step one.", [5, 6], "stop", "\n\n"), prompt_ids=12, cached=8),
        request(sample("a b c", [1, 2, 3], "length"), prompt_ids=12, cached=12),
        request(sample("Done", [7], "stop", 151645)),  # an int stop_reason is a stop token id (EOS)
    ]
    gen = to_generation(outs, params)
    assert gen.prompt_tokens == 12 and gen.cached_prompt_tokens == 8  # the prompt's first sample
    assert [c.text for c in gen.completions] == ["Step one.", "a b c", "Done"]
    assert [c.n_tokens for c in gen.completions] == [2, 3, 1]
    assert [c.finish_reason for c in gen.completions] == ["stop", "length", "stop"]
    assert [c.stop_reason for c in gen.completions] == ["\n\n", None, None]
    assert all(c.logprobs is None for c in gen.completions)


def test_logprobs_sampled_token_and_top_alternatives_by_rank():
    lps = [
        {11: Logprob(-0.5, 2, " two"), 10: Logprob(-0.2, 1, " one"), 12: Logprob(-3.0, 3, " three")},
        {20: Logprob(-0.1, 1, "!")},
    ]
    out = sample(" two!", [11, 20], lps=lps)
    one = to_completion(out, SamplingParams(logprobs=1))
    assert one.logprobs is not None
    first, second = one.logprobs
    assert first.token == " two" and first.logprob == -0.5 and dict(first.top) == {" one": -0.2}
    assert second.token == "!" and dict(second.top) == {"!": -0.1}
    two = to_completion(out, SamplingParams(logprobs=2)).logprobs
    assert two is not None and list(two[0].top) == [" one", " two"]
    zero = to_completion(out, SamplingParams(logprobs=0)).logprobs
    assert zero is not None and [t.logprob for t in zero] == [-0.5, -0.1] and all(not t.top for t in zero)
    missing = to_completion(sample("x", [99], lps=[{}]), SamplingParams(logprobs=0)).logprobs
    assert missing is not None and missing[0].token == "" and math.isnan(missing[0].logprob)


def test_unfinished_or_malformed_outputs_are_backend_errors():
    with pytest.raises(BackendError, match="abort"):
        to_completion(sample("x", [1], "abort"), SamplingParams())
    with pytest.raises(BackendError, match="no output"):
        to_generation([], SamplingParams())
    two = RequestOutput("r", None, [1], None, [sample("a", [1]), sample("b", [2])])
    with pytest.raises(BackendError, match="2 outputs"):
        to_generation([two], SamplingParams())


def test_engine_identity_keeps_options_that_change_the_samples():
    base = {"model": "m", "seed": 0, "gpu_memory_utilization": 0.9, "max_model_len": None, "dtype": "auto"}
    assert engine_identity("m", base) == "m"  # the cache and eval configurations of earlier runs stay valid
    assert engine_identity("m", {**base, "gpu_memory_utilization": 0.5, "tensor_parallel_size": 2}) == "m"
    awq = engine_identity("m", {**base, "quantization": "awq"})
    bf16 = engine_identity("m", {**base, "dtype": "bfloat16"})
    assert len({"m", awq, bf16}) == 3 and "quantization=awq" in awq and "dtype=bfloat16" in bf16


def test_missing_vllm_is_a_config_error_naming_the_extra():
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    with pytest.raises(ConfigError, match=r"ponder\[vllm\]"):
        load_backend("vllm", "Qwen/Qwen2.5-0.5B-Instruct")
    with pytest.raises(ConfigError, match="needs model="):
        load_backend("vllm")


def vllm_gpu_reason() -> str | None:
    """Why the real-engine test cannot run here, or None when it can."""
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install 'ponder[vllm]')"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU"
    return None


VLLM_MODEL = os.environ.get("PONDER_VLLM_TEST_MODEL", "Qwen/Qwen2.5-0.5B-Instruct")


@pytest.mark.skipif(vllm_gpu_reason() is not None, reason=str(vllm_gpu_reason()))
def test_real_vllm_engine_samples_seeds_stops_and_caches_prefixes():
    backend = load_backend("vllm", VLLM_MODEL, gpu_memory_utilization=0.5, max_model_len=2048)
    try:
        prompt = backend.render([Message("user", "Count from 1 to 20, one number per line.")])
        params = SamplingParams(temperature=0.8, max_tokens=64, seed=1, stop=("\n5",), logprobs=2)
        [gen] = backend.generate([prompt], params, 3)
        assert len(gen.completions) == 3 and gen.prompt_tokens > 0
        again = backend.generate([prompt], params, 2)[0].completions
        assert [c.text for c in again] == [c.text for c in gen.completions[:2]]  # per-sample seeds
        assert again and gen.completions[0].logprobs is not None
        for c in gen.completions:
            assert c.finish_reason in ("stop", "length") and "\n5" not in c.text
            if c.stop_reason is not None:
                assert c.stop_reason == "\n5"
        [longer] = backend.generate([prompt + gen.completions[0].text], params.replace(seed=2), 1)
        assert longer.cached_prompt_tokens > 0  # the earlier prompt's blocks were reused
    finally:
        backend.close()
