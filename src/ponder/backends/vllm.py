"""Backend on the vLLM offline engine (``vllm.LLM``) with prefix caching, for GPUs (optional extra ``vllm``).

``VLLMBackend`` loads one model into one ``vllm.LLM`` with ``enable_prefix_caching=True`` and serves the
Backend protocol (``backends.base``): ``render`` applies the model's own chat template (the Hugging Face
tokenizer's), ``generate`` tokenises each rendered prompt once (``add_special_tokens=False``: the template
already holds BOS) and hands vLLM token-id prompts, so a prompt that extends an earlier one (step-wise
search, budget forcing) reuses the earlier prompt's KV blocks.

Sampling: sample ``i`` of a prompt is its own vLLM request with ``n=1`` and ``seed=params.sample_seed(i)``,
so a seeded sample does not depend on how many samples were asked for, as with ponder's other backends.
That is what vLLM does itself for ``n > 1`` (one child request per sample, sharing the prompt's blocks
through the prefix cache), so nothing is lost. Stop strings are cut by vLLM (not included in the text) and
the matched one is reported as ``stop_reason``; ``logprobs=k`` returns the sampled token's logprob and its
top ``k`` alternatives (by vLLM's rank). ``cached_prompt_tokens`` is vLLM's ``num_cached_tokens`` of the
prompt's first sample. Calls are serialised with a lock (``vllm.LLM`` is not thread-safe); batch instead.

vLLM is imported only when a VLLMBackend is built, so this module imports anywhere; without vLLM the
constructor raises a ConfigError naming the extra. The conversion from vLLM's outputs (``to_generation``)
only reads attributes, so it is tested here with stand-in objects. This module does not meter or cache.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ponder.backends.base import Capabilities, check_request
from ponder.errors import BackendError, ConfigError
from ponder.types import Completion, Generation, Message, SamplingParams, TokenLogprob

__all__ = ["VLLMBackend", "engine_identity", "request_params", "to_completion", "to_generation", "to_logprobs"]

MAX_LOGPROBS = 20
"""Alternatives per position ponder asks for at most (SamplingParams.logprobs is capped at 20)."""
SAME_SAMPLES = frozenset(
    {
        "model",
        "seed",
        "gpu_memory_utilization",
        "max_model_len",
        "tensor_parallel_size",
        "enable_prefix_caching",
        "enforce_eager",
        "max_num_seqs",
        "max_num_batched_tokens",
        "swap_space",
        "disable_log_stats",
    }
)
"""Engine options that change where and how fast the model runs, not what it samples (seeds are per
request); every other option (dtype, quantization, revision, kv_cache_dtype, ...) is part of the identity."""


def engine_identity(model: str, options: Mapping[str, Any]) -> str:
    """What makes this engine's samples its own (see ``backends.base.identity_of``): the model, plus every
    option that can change the samples, so that the cache never replays a bf16 model's samples for an AWQ one."""
    own = {k: v for k, v in sorted(options.items()) if k not in SAME_SAMPLES and not (k == "dtype" and v == "auto")}
    return model + "".join(f"|{k}={v}" for k, v in own.items())


def import_vllm() -> Any:
    """The ``vllm`` module, or a ConfigError saying how to get it."""
    try:
        import vllm
    except ImportError as exc:
        raise ConfigError(f"the vllm backend needs vLLM and a CUDA GPU: pip install 'ponder[vllm]' ({exc})") from exc
    return vllm


def request_params(params: SamplingParams, index: int, prompt: int = 0) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for sample ``index`` of prompt number ``prompt`` of a call
    (one sample per request)."""
    return {
        "n": 1,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k,  # 0 disables, in ponder and in vLLM
        "max_tokens": params.max_tokens,
        "stop": list(params.stop) or None,
        "seed": params.sample_seed(index, prompt),
        "logprobs": params.logprobs,
        "include_stop_str_in_output": False,
    }


def to_logprobs(token_ids: Sequence[int], positions: Any, k: int) -> tuple[TokenLogprob, ...]:
    """ponder's per-token logprobs from vLLM's ``CompletionOutput.logprobs``: for each position a mapping
    token id -> ``Logprob(logprob, rank, decoded_token)`` holding the sampled token and the top alternatives."""
    out = []
    for token_id, entry in zip(token_ids, positions, strict=False):
        entry = entry or {}
        chosen = entry.get(token_id)
        ranked = sorted(entry.items(), key=lambda item: _rank(item[1]))
        top: dict[str, float] = {}
        for alt_id, alt in ranked:
            if len(top) >= k:
                break
            top.setdefault(_text(alt, alt_id), float(alt.logprob))
        token = _text(chosen, token_id) if chosen is not None else ""
        out.append(TokenLogprob(token, float(chosen.logprob) if chosen is not None else float("nan"), top))
    return tuple(out)


def _rank(logprob: Any) -> int:
    rank = getattr(logprob, "rank", None)
    return rank if isinstance(rank, int) else 1 << 30


def _text(logprob: Any, token_id: int) -> str:
    decoded = getattr(logprob, "decoded_token", None)
    return decoded if isinstance(decoded, str) else f"<{token_id}>"


def to_completion(output: Any, params: SamplingParams) -> Completion:
    """A Completion from one vLLM ``CompletionOutput`` (text, token_ids, logprobs, finish/stop reason)."""
    reason = getattr(output, "finish_reason", None)
    if reason not in ("stop", "length"):
        raise BackendError(f"vLLM did not finish the sample (finish_reason={reason!r})", retryable=True)
    stop = getattr(output, "stop_reason", None)
    stop_reason = stop if isinstance(stop, str) and stop in params.stop else None  # an int is a stop token id
    token_ids = list(output.token_ids)
    logprobs = None
    if params.logprobs is not None and output.logprobs is not None:
        logprobs = to_logprobs(token_ids, output.logprobs, params.logprobs)
    return Completion(output.text, len(token_ids), reason, logprobs, stop_reason)


def to_generation(requests: Sequence[Any], params: SamplingParams) -> Generation:
    """One prompt's Generation from its ``n`` vLLM ``RequestOutput``s (one sample each, in sample order)."""
    if not requests:
        raise BackendError("vLLM returned no output for a prompt", retryable=False)
    completions = []
    for request in requests:
        if len(request.outputs) != 1:
            raise BackendError(f"vLLM returned {len(request.outputs)} outputs for a one-sample request")
        completions.append(to_completion(request.outputs[0], params))
    first = requests[0]
    prompt_tokens = len(first.prompt_token_ids or ())
    cached = min(int(getattr(first, "num_cached_tokens", 0) or 0), prompt_tokens)
    return Generation(tuple(completions), prompt_tokens, cached)


class VLLMBackend:
    """vLLM's offline engine as a ponder Backend (GPU; ``pip install 'ponder[vllm]'``).

    Args:
        model: a Hugging Face model id or local path (required).
        n_params: the model's parameter count, for FLOPs estimates (0 = unknown).
        seed: the engine's seed (used by samples whose ``params.seed`` is None).
        gpu_memory_utilization, max_model_len, tensor_parallel_size, dtype: as ``vllm.LLM``.
        engine_options: any other ``vllm.LLM`` keyword argument (``enable_prefix_caching`` stays on).
    """

    name = "vllm"

    def __init__(
        self,
        model: str | None = None,
        *,
        n_params: int = 0,
        seed: int = 0,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not model:
            raise ConfigError("the vllm backend needs model= (a Hugging Face model id or a local path)")
        vllm = import_vllm()
        options = {
            "model": model,
            "seed": seed,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "tensor_parallel_size": tensor_parallel_size,
            "dtype": dtype,
            **dict(engine_options or {}),
            "enable_prefix_caching": True,
        }
        try:
            self._llm: Any = vllm.LLM(**options)
        except (RuntimeError, ValueError, OSError) as exc:
            raise BackendError(f"vLLM could not load {model!r}: {exc}", retryable=False) from exc
        self._sampling = vllm.SamplingParams
        self._tokenizer = self._llm.get_tokenizer()
        self.model = model
        self.identity = engine_identity(model, options)
        self.n_params = n_params
        self.capabilities = Capabilities(
            logprobs=True,
            top_logprobs=MAX_LOGPROBS,
            native_n=True,
            continuation=True,
            stop_strings=True,
            prefix_cache=True,
        )
        self._lock = threading.Lock()
        self._closed = False

    def render(self, messages: Sequence[Message]) -> str:
        """The model's chat template applied to ``messages``, ending with the assistant turn's opening."""
        chat = [{"role": m.role, "content": m.content} for m in messages]
        return str(self._tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        """``n`` completions of each prompt, all prompts and samples in one engine call."""
        check_request(prompts, n, params)
        if not prompts:
            return []
        with self._lock:
            if self._closed:
                raise BackendError("the vllm backend is closed")
            inputs, sampling = [], []
            for p, prompt in enumerate(prompts):
                ids = list(self._tokenizer.encode(prompt, add_special_tokens=False))
                for i in range(n):
                    inputs.append({"prompt_token_ids": ids})
                    sampling.append(self._sampling(**request_params(params, i, p)))
            try:
                outputs = self._llm.generate(inputs, sampling, use_tqdm=False)
            except (RuntimeError, ValueError) as exc:
                raise BackendError(f"vLLM generation failed: {exc}", retryable=False) from exc
        if len(outputs) != len(inputs):
            raise BackendError(f"vLLM returned {len(outputs)} outputs for {len(inputs)} requests")
        return [to_generation(outputs[p * n : (p + 1) * n], params) for p in range(len(prompts))]

    def close(self) -> None:
        """Drop the engine (GPU memory is freed when it is garbage-collected). Safe to call twice."""
        with self._lock:
            self._closed = True
            self._llm = None
