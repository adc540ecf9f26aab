"""When self-consistency may stop sampling early (Adaptive-Consistency, Aggarwal et al. 2023).

Two criteria, checked after every batch of samples, on the vote counts so far:

- **unassailable**: the leader cannot be overtaken even if every remaining sample went to the runner-up:
  ``v1 - v2 > remaining``, or ``v1 - v2 == remaining`` when the leader was seen first (ties go to the
  earliest answer, see ``strategies.base.majority_vote``). Stopping then never changes the answer that
  all ``n`` samples would have given.
- **beta** (the paper's Beta criterion for the top two answers): with a uniform prior, the share
  ``p = p1 / (p1 + p2)`` of the leader among the top two answers has posterior ``Beta(v1 + 1, v2 + 1)``;
  stop once ``P(p > 1/2) >= confidence``. For integer parameters the Beta CDF is a binomial tail:
  ``P(p > 1/2) = P(Binomial(v1 + v2 + 1, 1/2) <= v1)``, computed exactly with ``math.comb``. It may stop
  with an answer that more samples would have changed; ``confidence`` sets how rarely (0.95 in the paper).

What it does not do: sample or vote; ``strategies.self_consistency`` does both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ponder.types import SamplingParams

__all__ = ["Decision", "batch_params", "beta_majority_probability", "decide"]


def beta_majority_probability(v1: int, v2: int) -> float:
    """P(p1 > p2) under the Beta(v1 + 1, v2 + 1) posterior of the leader's share of the top two answers.

    >>> beta_majority_probability(0, 0)
    0.5
    >>> round(beta_majority_probability(4, 0), 4)
    0.9688
    """
    if v1 < 0 or v2 < 0:
        raise ValueError(f"vote counts must be >= 0, got {v1}, {v2}")
    trials = v1 + v2 + 1
    below = sum(math.comb(trials, j) for j in range(v1 + 1))
    return below / 2**trials


@dataclass(frozen=True)
class Decision:
    """Whether to stop after ``seen`` samples, and why."""

    stop: bool
    reason: str
    """"unassailable", "beta", or "continue"."""
    seen: int
    leader_votes: int
    runner_up_votes: int
    p_majority: float
    """The Beta criterion's posterior probability that the leader is the majority of the top two."""


def decide(votes: Sequence[float], leader_first: bool, seen: int, n: int, confidence: float | None) -> Decision:
    """Stop or continue, from the vote counts so far (any order; the leader is the largest).

    ``leader_first``: the leader's first sample came before the runner-up's (it wins a tie).
    ``confidence`` None disables the Beta criterion (only stop when the answer is settled).
    """
    ranked = [*sorted((int(v) for v in votes), reverse=True), 0, 0]
    v1, v2 = ranked[0], ranked[1]
    remaining = n - seen
    p = beta_majority_probability(v1, v2)
    lead = v1 - v2
    if v1 > 0 and (lead > remaining or (lead == remaining and leader_first)):
        return Decision(True, "unassailable", seen, v1, v2, p)
    if confidence is not None and v1 > 0 and p >= confidence:
        return Decision(True, "beta", seen, v1, v2, p)
    return Decision(False, "continue", seen, v1, v2, p)


def batch_params(params: SamplingParams, start: int) -> SamplingParams:
    """The parameters of a batch whose first sample is sample ``start`` of the problem: its samples are
    samples ``start, start + 1, ...`` of a plain run (same seeds, same cache entries) when each sample is one
    backend call; a sampler strategy whose samples take several calls (self-refine, ...) gives valid samples,
    not necessarily the plain run's."""
    return params if start == 0 else params.replace(first_sample=params.first_sample + start)
