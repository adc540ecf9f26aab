"""Split a batch's remaining token budget over its problems: by the policy's measured accuracies, or by
predicted difficulty.

``allocate_by_value`` (policies whose entries carry calibrated accuracies): every problem starts at its
probe; each step raises one problem to a higher budget of its bin's curve (budget -> the accuracy calibration
measured for the entry chosen there), the raise with the most accuracy gained per token among those that
still fit; it stops when no raise gains or fits. This is compute-optimal allocation in Snell et al.'s sense,
over a whole batch: a sample goes where the calibration says it buys the most, which may be an easy
question (a third sample breaking a wrong two-sample agreement) as well as a hard one.

``allocate`` (the built-in policy, which has no measured accuracies, and mean-budget policies, whose
entries may cost more than their budget) hands out extra samples one at a time, each to the problem with
the largest ``difficulty / (extras so far + 1)`` (harder problems first, with diminishing returns),
charging each extra sample that problem's largest probe sample in tokens (a conservative estimate of what
one more sample costs). Problems of difficulty 0 (the probe agreed) get nothing extra.
It never plans beyond ``tokens``; the meter's hard cap (``budget.Budget``) still guards the real spend,
since a sample can run longer than its estimate.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence

from ponder.errors import ConfigError

__all__ = ["allocate", "allocate_by_value"]


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


def allocate_by_value(
    curves: Sequence[Mapping[int, float]], sample_tokens: Sequence[int], probe: int, most: int, tokens: int
) -> list[int]:
    """Samples per problem (probe included): at least ``probe``, at most ``most``, a raise from budget a to b
    of problem i costing ``(b - a) x sample_tokens[i]``, ``tokens`` in all. ``curves[i]`` maps budgets to the
    expected accuracy of problem i there (budgets outside [probe, most] are ignored).

    >>> allocate_by_value([{2: 0.7, 3: 0.8}, {2: 0.3, 4: 0.5, 8: 0.6}], [10, 10], probe=2, most=8, tokens=30)
    [3, 4]
    """
    if len(curves) != len(sample_tokens):
        raise ConfigError(f"allocate_by_value needs one token estimate per problem, got {len(sample_tokens)}")
    if probe < 0 or most < probe:
        raise ConfigError(f"allocate_by_value needs 0 <= probe <= most, got probe={probe!r}, most={most!r}")
    levels = [sorted({probe, *(b for b in c if probe < b <= most)}) for c in curves]
    value = [_stepped(c) for c in curves]
    at = [probe] * len(curves)
    left = max(0, tokens)
    while True:
        best: tuple[float, int, int] | None = None  # (gain per token, problem, budget)
        for i, mine in enumerate(levels):
            for b in (b for b in mine if b > at[i]):
                cost = (b - at[i]) * max(1, sample_tokens[i])
                gain = value[i](b) - value[i](at[i])
                if cost <= left and gain > 0 and (best is None or gain / cost > best[0]):
                    best = (gain / cost, i, b)
        if best is None:
            return at
        _, i, b = best
        left -= (b - at[i]) * max(1, sample_tokens[i])
        at[i] = b


def _stepped(curve: Mapping[int, float]) -> Callable[[int], float]:
    """The curve as a step function: a budget's value is that of the largest listed budget <= it (below
    them all, the smallest listed budget's: the policy then runs that entry)."""
    listed = sorted(curve)

    def at(budget: int) -> float:
        below = [b for b in listed if b <= budget]
        return curve[below[-1]] if below else (curve[listed[0]] if listed else 0.0)

    return at
