"""Budgets and the one metering wrapper that charges every backend call.

``Metered`` wraps a Backend: each ``generate`` call is timed and charged to a running Usage (prompt tokens,
cached prompt tokens, generated tokens, calls, FLOPs = 2 x params x tokens computed, wall time). A Budget
caps tokens / calls / FLOPs; a call is refused with BudgetExhausted once a cap is reached. Nothing else in
ponder counts usage by hand. Scorers that run a model get their own Metered view so their cost is counted
too (verifier FLOPs included).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ponder.backends.base import Backend, Wrapper
from ponder.errors import BackendError, BudgetExhausted, ConfigError
from ponder.types import Generation, SamplingParams, Usage


@dataclass(frozen=True)
class Budget:
    """Caps on compute. None means unlimited."""

    max_completion_tokens: int | None = None
    """Generated tokens, over all calls."""
    max_calls: int | None = None
    """Backend calls (one call may hold many prompts and samples)."""
    max_flops: float | None = None
    """Estimated FLOPs (2 x params x tokens computed)."""

    def __post_init__(self) -> None:
        for name in ("max_completion_tokens", "max_calls", "max_flops"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"budget {name} must be > 0 or None, got {value!r}")

    def exceeded(self, usage: Usage) -> str | None:
        """The name of the first cap ``usage`` has reached, or None."""
        if self.max_completion_tokens is not None and usage.completion_tokens >= self.max_completion_tokens:
            return f"max_completion_tokens={self.max_completion_tokens}"
        if self.max_calls is not None and usage.calls >= self.max_calls:
            return f"max_calls={self.max_calls}"
        if self.max_flops is not None and usage.flops >= self.max_flops:
            return f"max_flops={self.max_flops:g}"
        return None

    def remaining_tokens(self, usage: Usage) -> int | None:
        """Generated tokens still allowed, or None when uncapped."""
        if self.max_completion_tokens is None:
            return None
        return max(0, self.max_completion_tokens - usage.completion_tokens)


class Meter:
    """A running Usage shared by the Metered views of one run. Thread-safe."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or Budget()
        self._usage = Usage()
        self._by_tag: dict[str, Usage] = {}
        self._lock = threading.Lock()

    def usage_for(self, tag: str) -> Usage:
        """Usage charged to prompts tagged ``tag`` (e.g. one problem's id)."""
        with self._lock:
            return self._by_tag.get(tag, Usage())

    @property
    def usage(self) -> Usage:
        with self._lock:
            return self._usage

    def charge(self, usage: Usage, by_tag: dict[str, Usage] | None = None) -> None:
        with self._lock:
            self._usage = self._usage + usage
            for tag, part in (by_tag or {}).items():
                self._by_tag[tag] = self._by_tag.get(tag, Usage()) + part

    def check(self) -> None:
        """Raise BudgetExhausted if a cap is already reached."""
        reason = self.budget.exceeded(self.usage)
        if reason is not None:
            raise BudgetExhausted(f"budget exhausted ({reason}) after {self.usage.completion_tokens} tokens")


class Metered(Wrapper):
    """A Backend that charges every call to a Meter and enforces its Budget. Same protocol as Backend."""

    def __init__(self, backend: Backend, meter: Meter | None = None) -> None:
        super().__init__(backend)
        self.meter = meter or Meter()

    @property
    def usage(self) -> Usage:
        return self.meter.usage

    def generate(
        self, prompts: Sequence[str], params: SamplingParams, n: int = 1, *, tags: Sequence[str] | None = None
    ) -> list[Generation]:
        """Generate through the inner backend and charge the call. ``tags[i]`` names whom prompt i is for
        (a problem id), so usage can also be read per problem with ``meter.usage_for``.

        Under a token cap the call never overshoots it. When the budget caps tokens only and the prompts'
        samples could not all run to ``max_tokens`` within what is left, the call runs as consecutive calls
        of as many prompts as can (each charged before the next is sized, so real lengths, usually far below
        ``max_tokens``, leave room for more, and every later sample keeps at least one token); otherwise, or
        when not even one prompt's samples fit at full length, each sample gets an even share of what is
        left."""
        if tags is not None and len(tags) != len(prompts):
            raise ConfigError(f"tags must match prompts: {len(tags)} tags for {len(prompts)} prompts")
        if params.offsets and len(params.offsets) != len(prompts):  # checked here: a split call slices them
            raise ConfigError(f"offsets must match prompts: {len(params.offsets)} offsets for {len(prompts)} prompts")
        out: list[Generation] = []
        start = 0
        while True:  # once for an empty call too
            count, call = self._fit(params, n, len(prompts) - start)
            end = start + count
            if params.offsets:
                call = call.replace(offsets=params.offsets[start:end])
            try:
                out += self._charged(prompts[start:end], call, n, None if tags is None else tags[start:end])
            except BackendError as exc:
                exc.spent = (*out, *exc.spent)  # the earlier parts too, for a meter wrapping this one
                raise
            start = end
            if start >= len(prompts):
                return out

    def _fit(self, params: SamplingParams, n: int, prompts: int) -> tuple[int, SamplingParams]:
        """How many of the next ``prompts`` prompts the next call takes, and its params (see ``generate``)."""
        self.meter.check()
        remaining = self.meter.budget.remaining_tokens(self.meter.usage)
        samples = max(1, n)
        per_prompt = params.max_tokens * samples
        if remaining is None or remaining >= per_prompt * prompts:
            return prompts, params
        # Prompts at full length, leaving one token for each sample of the others: full < prompts here. Only
        # under a cap on tokens alone: a call or FLOPs cap could refuse a later part after paying for some.
        only_tokens = self.meter.budget.max_calls is None and self.meter.budget.max_flops is None
        full = (remaining - prompts * samples) // (per_prompt - samples) if per_prompt > samples else 0
        full = full if only_tokens else 0
        if full >= 1:
            return full, params
        share = remaining // (prompts * samples)
        if share < 1:
            raise BudgetExhausted(f"budget exhausted: {remaining} tokens left for {prompts * samples} samples")
        return prompts, params.replace(max_tokens=min(params.max_tokens, share))

    def _charged(
        self, prompts: Sequence[str], params: SamplingParams, n: int, tags: Sequence[str] | None
    ) -> list[Generation]:
        """One call of the inner backend, charged to the meter (what it finished before failing included)."""
        start = time.perf_counter()
        try:
            out = self.inner.generate(prompts, params, n)
        except BackendError as exc:  # what the backend finished before failing was spent all the same
            if exc.spent:
                spent = sum((self._usage_of(g) for g in exc.spent), Usage(calls=1))
                self.meter.charge(spent + Usage(wall_seconds=time.perf_counter() - start), {})
            raise
        wall = time.perf_counter() - start
        parts = [self._usage_of(g) for g in out]
        computed = sum(p.processed_prompt_tokens + p.completion_tokens for p in parts) or 1
        total = Usage(calls=1, wall_seconds=wall)
        by_tag: dict[str, Usage] = {}
        for i, part in enumerate(parts):
            total = total + part
            if tags is not None:
                wall_share = wall * (part.processed_prompt_tokens + part.completion_tokens) / computed
                by_tag[tags[i]] = by_tag.get(tags[i], Usage(calls=1)) + part + Usage(wall_seconds=wall_share)
        self.meter.charge(total, by_tag)
        return out

    def _usage_of(self, g: Generation) -> Usage:
        completion = sum(c.n_tokens for c in g.completions)
        flops = 2.0 * self.n_params * (g.prompt_tokens - g.cached_prompt_tokens + completion)
        return Usage(g.prompt_tokens, g.cached_prompt_tokens, completion, 0, flops, 0.0)

    def close(self) -> None:
        self.inner.close()
