"""Token choice and logprobs for the llamacpp backend, in numpy over one row of raw logits.

Sampling order follows vLLM and Hugging Face: temperature, then top-k, then top-p (nucleus: the smallest set
of tokens whose mass reaches ``top_p``), then one uniform draw from the sequence's own seeded generator
(inverse CDF, so a seed gives the same tokens whatever else is in the batch). Temperature 0 is greedy
(argmax, ties to the lowest id). Logprobs are the log-softmax of the raw logits (temperature 1), whatever
the sampling temperature. No model here; see ``llamacpp_engine``.
"""

from __future__ import annotations

import numpy as np

from ponder.types import SamplingParams

_DRAW_BLOCK = 1024


def choose(row: np.ndarray, params: SamplingParams, rng: np.random.Generator) -> int:
    """The next token from one row of raw logits."""
    if params.temperature == 0:
        return int(np.argmax(row))
    x = row / np.float32(params.temperature)
    ids: np.ndarray | None = None
    if 0 < params.top_k < x.size:
        ids = np.argpartition(-x, params.top_k - 1)[: params.top_k]
        x = x[ids]
    p = np.exp(x - x.max())
    if params.top_p < 1.0:
        keep = _nucleus(p, params.top_p)
        ids = keep if ids is None else ids[keep]
        p = p[keep]
    j = _draw(p, rng.random())
    return int(ids[j]) if ids is not None else j


def _draw(p: np.ndarray, u: float) -> int:
    """Inverse-CDF draw from unnormalised weights ``p`` with uniform ``u``: the cumulative sum is taken over
    blocks first, then inside one block (a float64 cumsum of the whole vocabulary costs ~20x more)."""
    block = _DRAW_BLOCK
    cum = np.cumsum(np.add.reduceat(p, np.arange(0, p.size, block), dtype=np.float64))
    target = u * cum[-1]
    b = min(int(np.searchsorted(cum, target, side="right")), cum.size - 1)
    inner = np.cumsum(p[b * block : (b + 1) * block], dtype=np.float64) + (cum[b - 1] if b else 0.0)
    return b * block + min(int(np.searchsorted(inner, target, side="right")), inner.size - 1)


def _nucleus(p: np.ndarray, top_p: float) -> np.ndarray:
    """Indices of the smallest most-likely set with mass >= ``top_p`` (of unnormalised ``p``), likeliest first."""
    target = top_p * p.sum(dtype=np.float64)
    # the nucleus is usually small: sort only the top candidates, widening while they hold too little mass
    for size in [s for s in (1024, 16384) if s < p.size] + [p.size]:
        cand = np.argpartition(-p, size - 1)[:size] if size < p.size else np.arange(p.size)
        order = cand[np.argsort(-p[cand], kind="stable")]
        cum = np.cumsum(p[order], dtype=np.float64)
        if cum[-1] >= target or size == p.size:
            break
    return order[: min(int(np.searchsorted(cum, target, side="left")) + 1, order.size)]


def log_softmax(row: np.ndarray) -> np.ndarray:
    """Log-probabilities of one row of raw logits (float32 values, normalised in float64)."""
    m = row.max()
    return row - (m + np.float32(np.log(np.exp(row - m).sum(dtype=np.float64))))


def top_ids(logprobs: np.ndarray, k: int) -> list[int]:
    """The ``k`` most likely token ids, most likely first (ties to the lowest id)."""
    if k <= 0:
        return []
    k = min(k, logprobs.size)
    part = np.argpartition(-logprobs, k - 1)[:k]
    return [int(i) for i in part[np.lexsort((part, -logprobs[part]))]]


def make_rng(seed: int | None) -> np.random.Generator:
    """A sequence's own generator: seeded when ``seed`` is given, else from OS entropy."""
    return np.random.default_rng(seed)
