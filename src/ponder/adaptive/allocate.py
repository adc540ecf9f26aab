"""Split a batch's remaining token budget over its problems by predicted difficulty.

After every problem has been probed, ``allocate`` hands out extra samples one at a time, each to the
problem with the largest ``difficulty / (extras so far + 1)`` (harder problems first, with diminishing
returns), charging each extra sample that problem's largest probe sample in tokens (a conservative
estimate of what one more sample costs). Problems of difficulty 0 (the probe agreed) get nothing extra.
It never plans beyond ``tokens``; the meter's hard cap (``budget.Budget``) still guards the real spend,
since a sample can run longer than its estimate.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from ponder.errors import ConfigError

__all__ = ["allocate"]


def allocate(
    difficulties: Sequence[float], sample_tokens: Sequence[int], probe: int, most: int, tokens: int
) -> list[int]:
    """Samples per problem (probe included): at least ``probe``, at most ``most``, extras costing
    ``sample_tokens[i]`` each and ``tokens`` in all.

    >>> allocate([0.0, 0.5, 0.75], [10, 10, 10], probe=2, most=8, tokens=40)
    [2, 4, 4]
    """
    if len(difficulties) != len(sample_tokens):
        raise ConfigError(f"allocate needs one token estimate per problem, got {len(sample_tokens)}")
    if probe < 0 or most < probe:
        raise ConfigError(f"allocate needs 0 <= probe <= most, got probe={probe!r}, most={most!r}")
    extras = [0] * len(difficulties)
    left = max(0, tokens)
    heap = [(-d, i) for i, d in enumerate(difficulties) if d > 0 and most > probe]
    heapq.heapify(heap)
    while heap:
        _, i = heapq.heappop(heap)
        cost = max(1, sample_tokens[i])
        if cost > left:
            continue  # this problem's next sample does not fit; cheaper ones may
        left -= cost
        extras[i] += 1
        if probe + extras[i] < most:
            heapq.heappush(heap, (-difficulties[i] / (extras[i] + 1), i))
    return [probe + e for e in extras]
