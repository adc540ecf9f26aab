"""A thin, typed wrapper over llama-cpp-python's low-level (ctypes) API for the llamacpp backend.

``Native`` owns one model, one context (a unified KV cache shared by up to ``n_seq_max`` sequences) and one
token batch: it tokenizes, turns tokens into bytes, reads GGUF metadata, runs ``llama_decode`` over a list of
(token, position, sequence, wants-logits) rows and exposes the KV-cache sequence operations. It holds no
generation logic (see ``llamacpp_engine``) and frees everything in ``close()`` (safe twice).
"""

from __future__ import annotations

import ctypes
import logging
import os
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import BackendError, ConfigError


def import_llama_cpp() -> Any:
    """The ``llama_cpp`` module, or ConfigError telling how to install it."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise ConfigError(
            "the llamacpp backend needs llama-cpp-python: pip install 'ponder[cpu]' "
            f"(llama-cpp-python==0.3.36); import failed: {exc}"
        ) from exc
    logger = logging.getLogger("llama-cpp-python")
    if logger.level == logging.NOTSET and not os.environ.get("PONDER_LLAMA_VERBOSE"):
        logger.setLevel(logging.ERROR)  # llama.cpp's load chatter; set PONDER_LLAMA_VERBOSE=1 to see it
    return llama_cpp


def default_threads() -> int:
    """Threads for llama.cpp: $PONDER_THREADS, else the CPUs this process may run on.

    All usable cores is fastest on an idle machine; on a loaded one llama.cpp's spinning threads collapse
    (22 -> 0.3 tok/s with 2 threads on 2 busy cores), so set PONDER_THREADS lower when sharing the machine.
    """
    env = os.environ.get("PONDER_THREADS")
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ConfigError(f"PONDER_THREADS must be a positive integer, got {env!r}") from None
        if value < 1:
            raise ConfigError(f"PONDER_THREADS must be a positive integer, got {env!r}")
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Native:
    """One loaded model with its context, KV memory and batch. Not thread-safe: callers serialise."""

    ctx: Any
    batch: Any
    mem: Any
    _tok: np.ndarray
    _pos: np.ndarray
    _nseq: np.ndarray
    _want: np.ndarray

    def __init__(self, path: Path, *, n_ctx: int, n_batch: int, n_seq_max: int, n_threads: int) -> None:
        self.lib = L = import_llama_cpp()
        L.llama_backend_init()
        self._handles = _Handles()
        self._close = weakref.finalize(self, _free, L, self._handles)  # frees even if close() is never called
        self.model = self._handles.model = L.llama_model_load_from_file(
            str(path).encode(), L.llama_model_default_params()
        )
        if not self.model:
            raise BackendError(f"llama.cpp could not load the model file {path}")
        try:
            self._init_context(n_ctx, n_batch, n_seq_max, n_threads)
        except BaseException:
            self.close()
            raise
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = int(L.llama_vocab_n_tokens(self.vocab))
        self.n_ctx = int(L.llama_n_ctx(self.ctx))  # llama.cpp may round the requested size up
        self.n_batch, self.n_seq_max = n_batch, n_seq_max
        self.bos = int(L.llama_vocab_bos(self.vocab))
        self.add_bos = bool(L.llama_vocab_get_add_bos(self.vocab))
        self.tokens_decoded = 0
        """Tokens evaluated by llama_decode since load (prompt and generated); for tests and stats."""
        self._texts: dict[int, str] = {}

    def _init_context(self, n_ctx: int, n_batch: int, n_seq_max: int, n_threads: int) -> None:
        L = self.lib
        cp = L.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = n_ctx, n_batch, n_batch, n_seq_max
        cp.n_threads = cp.n_threads_batch = n_threads
        cp.kv_unified = True  # one pool of cells: sequences copied from one another share the prefix's cells
        cp.swa_full = True  # sliding-window models keep every position, so cached prefixes stay reusable
        self.ctx = self._handles.ctx = L.llama_init_from_model(self.model, cp)
        if not self.ctx:
            raise BackendError(f"llama.cpp could not create a context (n_ctx={n_ctx}, n_seq_max={n_seq_max})")
        self.mem = L.llama_get_memory(self.ctx)
        self.batch = self._handles.batch = L.llama_batch_init(n_batch, 0, 1)
        self._tok = np.ctypeslib.as_array(self.batch.token, shape=(n_batch,))
        self._pos = np.ctypeslib.as_array(self.batch.pos, shape=(n_batch,))
        self._nseq = np.ctypeslib.as_array(self.batch.n_seq_id, shape=(n_batch,))
        self._want = np.ctypeslib.as_array(self.batch.logits, shape=(n_batch,))

    # -- vocabulary -------------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``, special tokens parsed, BOS added when the model asks for one (never twice)."""
        data = text.encode("utf-8")
        cap = len(data) + 8
        buf = (self.lib.llama_token * cap)()
        n = self.lib.llama_tokenize(self.vocab, data, len(data), buf, cap, True, True)
        if n < 0:
            raise BackendError(f"tokenization failed ({n}) for a prompt of {len(data)} bytes")
        tokens = list(buf[:n])
        if self.add_bos and len(tokens) > 1 and tokens[0] == tokens[1] == self.bos:
            tokens = tokens[1:]  # the chat template already wrote the BOS text
        return tokens

    def piece(self, token: int) -> bytes:
        """The bytes of one token, special tokens rendered."""
        buf = ctypes.create_string_buffer(64)
        n = self.lib.llama_token_to_piece(self.vocab, token, buf, 64, 0, True)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self.lib.llama_token_to_piece(self.vocab, token, buf, -n, 0, True)
        return buf.raw[:n]

    def text(self, token: int) -> str:
        """A token's bytes as text for display (cached; a partial UTF-8 character shows as U+FFFD)."""
        text = self._texts.get(token)
        if text is None:
            text = self._texts[token] = self.piece(token).decode("utf-8", "replace")
        return text

    def token_text(self, token: int) -> str:
        """The vocabulary text of a token ('' for -1), e.g. '<|im_start|>'."""
        if token < 0:
            return ""
        return (self.lib.llama_vocab_get_text(self.vocab, token) or b"").decode("utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        return bool(self.lib.llama_vocab_is_eog(self.vocab, token))

    def eos(self) -> int:
        return int(self.lib.llama_vocab_eos(self.vocab))

    def meta(self, key: str) -> str | None:
        """A GGUF metadata value as a string, or None when absent."""
        size = 4096
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self.lib.llama_model_meta_val_str(self.model, key.encode(), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.value.decode("utf-8", "replace")
            size = n + 1

    def n_params(self) -> int:
        return int(self.lib.llama_model_n_params(self.model))

    # -- decoding ----------------------------------------------------------------------------------------

    def decode(self, tokens: Sequence[int], positions: Sequence[int], seqs: Sequence[int], want: Sequence[bool]) -> int:
        """Evaluate one batch of rows; returns llama_decode's code (0 ok, 1 no KV room, else failure)."""
        n = len(tokens)
        if not 0 < n <= self.n_batch:
            raise BackendError(f"batch of {n} tokens does not fit n_batch={self.n_batch}")
        self._tok[:n] = tokens
        self._pos[:n] = positions
        self._nseq[:n] = 1
        self._want[:n] = want
        seq_id = self.batch.seq_id
        for i, s in enumerate(seqs):
            seq_id[i][0] = s
        self.batch.n_tokens = n
        code = int(self.lib.llama_decode(self.ctx, self.batch))
        if code == 0:
            self.tokens_decoded += n
        return code

    def logits(self, n_rows: int) -> np.ndarray:
        """The logits of the last decode's output rows (in batch order), as a (n_rows, n_vocab) float32 view.

        The view is valid only until the next decode."""
        ptr = self.lib.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(ptr, shape=(n_rows, self.n_vocab))

    # -- KV memory -----------------------------------------------------------------------------------------

    def seq_cp(self, src: int, dst: int, p0: int, p1: int) -> None:
        self.lib.llama_memory_seq_cp(self.mem, src, dst, p0, p1)

    def seq_rm(self, seq: int, p0: int, p1: int) -> bool:
        return bool(self.lib.llama_memory_seq_rm(self.mem, seq, p0, p1))

    def clear(self) -> None:
        self.lib.llama_memory_clear(self.mem, True)

    def close(self) -> None:
        """Free batch, context and model. Safe to call twice."""
        self._close()
        self.ctx = self.batch = self.model = None


class _Handles:
    """The native objects to free (kept apart from Native so a finalizer can free them)."""

    model: Any = None
    ctx: Any = None
    batch: Any = None


def _free(lib: Any, handles: _Handles) -> None:
    if handles.batch is not None:
        lib.llama_batch_free(handles.batch)
    if handles.ctx:
        lib.llama_free(handles.ctx)
    if handles.model:
        lib.llama_model_free(handles.model)
    handles.batch = handles.ctx = handles.model = None
