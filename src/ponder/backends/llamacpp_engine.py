"""The generation loop of the llamacpp backend: shared prompts, one decode per step, a prefix cache.

For one call (prompts x n samples) the engine admits sequences while sequence slots and KV cells allow:
a prompt is evaluated once (only the tokens past the longest prefix already in the cache), its KV is copied
to each of its samples (``seq_cp``, sharing cells), and then every live sequence of every prompt advances
by one token per ``llama_decode``. Finished sequences stay in the cache for prefix reuse (LRU-evicted).
When the cells run out, cached sequences are evicted first; then the most recently admitted live sequence
is preempted (dropped from the cache, resumed later by recomputing its prefix, its sampler state kept) and
no new sequence is admitted until one finishes. A failed or interrupted decode clears the cache before
raising, so it never disagrees with the bookkeeping. Sampling is in ``llamacpp_sampling``.

Reproducibility: results are deterministic for a given backend configuration and call history, and a
prompt's samples do not depend on what else shares the batch. Once evictions have reordered KV cells they
can change at floating-point noise level: llama.cpp's CPU attention accumulates in FP16, in cell order.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ponder.backends.llamacpp_kv import KVCache
from ponder.backends.llamacpp_native import Native
from ponder.backends.llamacpp_sampling import make_rng
from ponder.backends.llamacpp_seq import Call, Request, Seq, Vocab
from ponder.backends.llamacpp_text import TextStream
from ponder.errors import BackendError
from ponder.types import Generation, SamplingParams


class Engine:
    """Runs generation calls on one Native model, keeping its KV cache between calls.

    ``seed`` seeds the samples of calls whose ``params.seed`` is None (None: fresh OS entropy each call).
    """

    def __init__(self, native: Native, seed: int | None = None) -> None:
        self.native = native
        self.kv = KVCache(native, native.n_seq_max, native.n_ctx)
        self.vocab = Vocab(native.is_eog, native.piece, native.text)
        self._seeds = np.random.default_rng(seed)
        self._order = 0

    def run(self, prompts: list[list[int]], params: SamplingParams, n: int) -> list[Generation]:
        """``n`` completions for each tokenized prompt."""
        n_ctx = self.native.n_ctx
        for i, tokens in enumerate(prompts):
            if not tokens or len(tokens) >= n_ctx:
                raise BackendError(f"prompt {i} has {len(tokens)} tokens; the context holds n_ctx={n_ctx}")
        queue = deque(
            Seq(r, i, self._rng(params, i, r), min(params.max_tokens, n_ctx - len(t)), TextStream(params.stop))
            for r, t in enumerate(prompts)
            for i in range(n)
        )
        call = Call(params, [Request(list(t)) for t in prompts], queue)
        try:
            while call.queue or call.active:
                self._admit(call)
                if not call.active and call.queue:
                    raise BackendError("no sequence could be admitted (KV cache too small for this request)")
                if call.active:
                    self._step(call)
        except BaseException:
            self.kv.reset()  # an interrupted decode may have left llama.cpp's cache ahead of the bookkeeping
            raise
        return call.generations()

    def _rng(self, params: SamplingParams, index: int, prompt: int) -> np.random.Generator:
        seed = params.sample_seed(index, prompt)
        return make_rng(seed if seed is not None else int(self._seeds.integers(2**63)))

    # -- admission ------------------------------------------------------------------------------------------

    def _admit(self, call: Call) -> None:
        while call.queue and len(call.active) < self.kv.n_slots:
            if call.blocked and call.active:
                return
            seq = call.queue[0]
            if seq.out:
                if not self._resume(seq, call):
                    return
                call.queue.popleft()
                continue
            group = call.fresh_group(self.kv.n_slots - len(call.active))
            started = self._start(group, call)
            if not started:
                return
            for _ in range(started):
                call.queue.popleft()

    def _start(self, group: list[Seq], call: Call) -> int:
        """Start fresh samples of one prompt; returns how many were started (0: wait for room)."""
        request = call.requests[group[0].request]
        tokens = request.tokens
        limit = len(tokens) if request.first_logits is not None else len(tokens) - 1
        src, k = self.kv.best_prefix(tokens)
        k = min(k, limit)
        if not self._make_room(len(tokens) - k + len(call.active) + len(group), src):
            if call.active:
                return 0
            self._make_room(self.kv.n_cells, None)  # nothing is generating: make all the room there is
            group = group[: max(1, self.kv.free_cells - len(tokens))]
        slot, k = self._claim(tokens, limit)
        self.kv.activate(slot)
        if k < len(tokens):
            if not self._prefill(slot, tokens, k, want_last=True, call=call):
                return 0
            request.first_logits = self.native.logits(1)[0].copy()
            request.processed += len(tokens) - k
        slots = [slot] + [self._claim_copy(slot, len(tokens)) for _ in group[1:]]
        for seq, s in zip(group, slots, strict=True):
            self._enter(seq, s, call)
            assert request.first_logits is not None
            seq.push(request.first_logits, call.params, self.vocab)
            if seq.finish:
                self._retire(seq, call)
        return len(group)

    def _resume(self, seq: Seq, call: Call) -> bool:
        """Bring a preempted sequence back: recompute (or reuse) its prefix, keep its sampler state."""
        request = call.requests[seq.request]
        tokens = request.tokens + seq.out[:-1]
        src, k = self.kv.best_prefix(tokens)
        if not self._make_room(len(tokens) - k + len(call.active) + 1, src) and call.active:
            return False
        slot, k = self._claim(tokens, len(tokens))
        self.kv.activate(slot)
        if k < len(tokens):
            if not self._prefill(slot, tokens, k, want_last=False, call=call):
                return False
            request.processed += max(0, len(request.tokens) - k)
        self._enter(seq, slot, call)
        return True

    def _enter(self, seq: Seq, slot: int, call: Call) -> None:
        self._order += 1
        seq.slot, seq.order = slot, self._order
        self.kv.activate(slot)
        call.active.append(seq)

    def _claim(self, tokens: list[int], limit: int) -> tuple[int, int]:
        """A slot for ``tokens`` already holding its longest cached prefix (at most ``limit`` tokens)."""
        src, k = self.kv.best_prefix(tokens)
        k = min(k, limit)
        free = self.kv.slots_in("free")
        if free:
            slot = free[0]
        else:
            victim = self.kv.lru_cached(exclude=src)
            if victim is None:
                if src is None or self.kv.state[src] != "cached":
                    raise BackendError("no free sequence slot (all are generating)")
                if not self.kv.truncate(src, k):
                    self.kv.evict(src)
                    return src, 0
                return src, k
            self.kv.evict(victim)
            slot = victim
        if src is not None and k > 0:
            self.kv.copy_prefix(src, slot, k)
        return slot, k if src is not None else 0

    def _claim_copy(self, src: int, n: int) -> int:
        slot = self._claim([], 0)[0]
        self.kv.copy_prefix(src, slot, n)
        self.kv.activate(slot)
        return slot

    def _make_room(self, cells: int, keep: int | None) -> bool:
        """Evict cached sequences (LRU, ``keep`` last) until ``cells`` cells are free."""
        while self.kv.free_cells < cells:
            victim = self.kv.lru_cached(exclude=keep)
            if victim is None:
                return False
            self.kv.evict(victim)
        return True

    def _prefill(self, slot: int, tokens: list[int], start: int, *, want_last: bool, call: Call) -> bool:
        """Evaluate ``tokens[start:]`` into ``slot`` (logits of the last one if ``want_last``); False: no room."""
        step = self.native.n_batch
        for lo in range(start, len(tokens), step):
            chunk = tokens[lo : lo + step]
            last = lo + len(chunk) == len(tokens)
            want = [False] * len(chunk)
            want[-1] = want_last and last
            code = self._decode(chunk, list(range(lo, lo + len(chunk))), [slot] * len(chunk), want)
            if code == 1:
                self.kv.evict(slot)
                if not call.active:
                    raise BackendError(f"the KV cache (n_ctx={self.native.n_ctx}) cannot hold this prompt")
                return False
            self.kv.appended(slot, chunk)
        return True

    # -- decoding ----------------------------------------------------------------------------------------------

    def _step(self, call: Call) -> None:
        """One llama_decode advancing every live sequence by one token."""
        self._ensure_room(call)
        while True:
            active = call.active
            tokens = [s.out[-1] for s in active]
            positions = [len(call.requests[s.request].tokens) + len(s.out) - 1 for s in active]
            code = self._decode(tokens, positions, [s.slot for s in active], [True] * len(active))
            if code == 0:
                break
            if len(active) == 1:
                self._fail(code, "a single sequence does not fit the KV cache")
            self._preempt(call)
        logits = self.native.logits(len(active))
        for i, seq in enumerate(active):
            self.kv.appended(seq.slot, [seq.out[-1]])
            seq.push(logits[i], call.params, self.vocab)
        for seq in [s for s in active if s.finish]:
            self._retire(seq, call)

    def _ensure_room(self, call: Call) -> None:
        while self.kv.free_cells < len(call.active):
            victim = self.kv.lru_cached()
            if victim is not None:
                self.kv.evict(victim)
            elif len(call.active) > 1:
                self._preempt(call)
            else:
                return

    def _preempt(self, call: Call) -> None:
        seq = max(call.active, key=lambda s: s.order)
        call.active.remove(seq)
        self.kv.evict(seq.slot)
        seq.slot = -1
        call.queue.appendleft(seq)
        call.blocked = True

    def _decode(self, tokens: list[int], positions: list[int], seqs: list[int], want: list[bool]) -> int:
        """llama_decode, evicting cached sequences while it reports no room; other failures raise."""
        while True:
            code = self.native.decode(tokens, positions, seqs, want)
            if code == 0:
                return 0
            if code != 1:
                self._fail(code, "llama_decode failed")
            victim = self.kv.lru_cached()
            if victim is None:
                return 1
            self.kv.evict(victim)

    def _fail(self, code: int, what: str) -> None:
        self.kv.reset()
        raise BackendError(f"{what} (code {code}); the KV cache was cleared", retryable=code == 1)

    def _retire(self, seq: Seq, call: Call) -> None:
        if seq in call.active:
            call.active.remove(seq)
        self.kv.release(seq.slot)
        call.finished.append(seq)
        call.blocked = False
