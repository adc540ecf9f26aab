"""Per-call state of the llamacpp engine: requests (prompts), sequences (samples) and what each produced.

A ``Seq`` is one sample being generated: its token ids, its own seeded generator, its text so far (with stop
strings), its logprobs and why it ended. ``Seq.push`` takes the logits row of its next position, picks the
token and records it; the KV-cache side (slots, decoding) is the engine's business, not this module's.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ponder.backends.llamacpp_sampling import choose, log_softmax, top_ids
from ponder.backends.llamacpp_text import TextStream
from ponder.types import Completion, FinishReason, Generation, SamplingParams, TokenLogprob


@dataclass
class Request:
    """One prompt of a call."""

    tokens: list[int]
    first_logits: np.ndarray | None = None
    """Logits after the whole prompt, kept so later samples of the prompt need not recompute them."""
    processed: int = 0
    """Prompt positions evaluated for this request (the rest came from the cache)."""


@dataclass
class Vocab:
    """What a sequence needs to know about tokens: end of generation, bytes, display text."""

    is_eog: Callable[[int], bool]
    piece: Callable[[int], bytes]
    text: Callable[[int], str]


@dataclass
class Seq:
    """One sample being generated."""

    request: int
    index: int
    rng: np.random.Generator
    max_new: int
    stream: TextStream
    out: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    slot: int = -1
    order: int = 0
    """Admission order (the latest admitted is preempted first)."""
    finish: FinishReason | None = None

    def push(self, row: np.ndarray, params: SamplingParams, vocab: Vocab) -> None:
        """Pick the next token from the raw logits ``row``; record its logprob; see whether the sample ended."""
        token = choose(row, params, self.rng)
        self.out.append(token)
        if params.logprobs is not None:
            lp = log_softmax(row)
            top: dict[str, float] = {}
            for t in top_ids(lp, params.logprobs):
                top.setdefault(vocab.text(t), float(lp[t]))
            self.logprobs.append(TokenLogprob(vocab.text(token), float(lp[token]), top))
        if vocab.is_eog(token) or self.stream.feed(vocab.piece(token)):
            self.finish = "stop"
        elif len(self.out) >= self.max_new:
            self.finish = "length"

    def completion(self, with_logprobs: bool) -> Completion:
        return Completion(
            self.stream.finish(),
            len(self.out),
            self.finish or "length",
            tuple(self.logprobs) if with_logprobs else None,
            self.stream.stop_reason,
        )


@dataclass
class Call:
    """One ``generate`` call: its prompts, the samples waiting, running and done."""

    params: SamplingParams
    requests: list[Request]
    queue: deque[Seq]
    active: list[Seq] = field(default_factory=list)
    finished: list[Seq] = field(default_factory=list)
    blocked: bool = False
    """Set by a preemption: admit nothing new until a live sequence finishes."""

    def generations(self) -> list[Generation]:
        by_request: list[list[Seq]] = [[] for _ in self.requests]
        for seq in sorted(self.finished, key=lambda s: s.index):
            by_request[seq.request].append(seq)
        with_logprobs = self.params.logprobs is not None
        return [
            Generation(
                tuple(s.completion(with_logprobs) for s in seqs),
                prompt_tokens=len(r.tokens),
                cached_prompt_tokens=max(0, len(r.tokens) - r.processed),
            )
            for r, seqs in zip(self.requests, by_request, strict=True)
        ]

    def fresh_group(self, limit: int) -> list[Seq]:
        """The not-yet-started samples of the first queued prompt, from the queue's front (at most ``limit``)."""
        request = self.queue[0].request
        same = itertools.takewhile(lambda s: s.request == request and not s.out, self.queue)
        return list(itertools.islice(same, limit))
