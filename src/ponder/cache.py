"""A SQLite cache of sampled completions, as a Backend wrapper (``CachedBackend``).

One row per sample, keyed by (backend name, model, prompt, sampling parameters without the seed, the
logprobs setting, ``first_sample`` and ``offsets``, the sample's own seed ``params.sample_seed(i, p)``, its
position ``params.position(i, p)``). The number of samples asked for (``n``) is not part of the key, so a budget-N run
reuses the first N samples of a budget-2N run with the same seed, and a repeated run makes no backend call at
all. Only seeded calls (``params.seed is not None``) are cached: an unseeded call is meant to be fresh each
time and goes straight to the inner backend.

Exact reuse holds for backends whose sample i depends only on (prompt, i, ``sample_seed(i)``): llamacpp,
fake, and openai without native ``n``. A server that draws all n samples from one seed still gets valid
samples from the cache (same distribution), just not bit-identical to an uncached run.

A prompt with missing samples is generated from its first missing sample on (``SamplingParams.first_sample``
makes a backend start at sample i with sample i's seed), so a budget-2N run after a budget-N run generates
only the N new samples; samples already cached are kept and returned, hits and misses are counted per sample.

Logprobs do not change which tokens are sampled, so they are not part of the key: when the inner backend
reports logprobs, the cache asks it for at least the sampled tokens' logprobs and stores the richest version
of each sample, and a request is served by any stored sample with at least the logprobs it asks for (top
alternatives cut to the k most likely, or dropped). Self-consistency and best-of-N with the ``confidence``
scorer thus share one set of samples.

Place it *under* ``ponder.budget.Metered``: the meter then charges the tokens and FLOPs the strategy used
whether or not they came from the cache (cached rows keep their original prompt-token counts). What the
cache saved is reported separately in ``stats`` (hits, misses, and the original wall seconds of the samples
it replayed). Thread-safe: one connection shared under a lock; WAL mode lets several processes share a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.backends.base import Backend, Wrapper, identity_of
from ponder.errors import ConfigError
from ponder.types import Completion, Generation, SamplingParams, TokenLogprob

__all__ = ["CacheStats", "CachedBackend", "CachedSample", "SampleStore", "sample_key"]

_SCHEMA = """CREATE TABLE IF NOT EXISTS samples_v2 (
    key TEXT PRIMARY KEY, completion TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
    cached_prompt_tokens INTEGER NOT NULL, wall_seconds REAL NOT NULL, created REAL NOT NULL,
    logprobs INTEGER NOT NULL)"""
_UPSERT = """INSERT INTO samples_v2 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET
    completion = excluded.completion, prompt_tokens = excluded.prompt_tokens,
    cached_prompt_tokens = excluded.cached_prompt_tokens, wall_seconds = excluded.wall_seconds,
    created = excluded.created, logprobs = excluded.logprobs WHERE excluded.logprobs > samples_v2.logprobs"""
_KEY_VERSION = 2


@dataclass(frozen=True)
class CachedSample:
    """One stored sample with what its prompt cost when it was generated."""

    completion: Completion
    prompt_tokens: int
    cached_prompt_tokens: int
    wall_seconds: float
    """This sample's share of the wall time of the call that generated it."""
    logprobs: int = -1
    """The logprobs the sample carries: -1 none, 0 the sampled tokens', k > 0 also the top-k alternatives."""


@dataclass
class CacheStats:
    """Samples served from the cache without a backend call (hits), samples the inner backend computed
    (misses), and the original wall seconds of the samples served (what generating them again would cost)."""

    hits: int = 0
    misses: int = 0
    replayed_wall_seconds: float = 0.0

    def add(self, other: CacheStats) -> None:
        self.hits += other.hits
        self.misses += other.misses
        self.replayed_wall_seconds += other.replayed_wall_seconds


def sample_key(backend: str, model: str, prompt: str, params: SamplingParams, index: int, number: int = 0) -> str:
    """The cache key of sample ``index`` of ``prompt``, prompt ``number`` of its call (independent of how many
    samples were asked for)."""
    skip = ("seed", "logprobs", "first_sample", "offsets")
    settings = {k: v for k, v in dataclasses.asdict(params).items() if k not in skip}
    position = params.position(index, number)
    payload = [_KEY_VERSION, backend, model, prompt, settings, params.sample_seed(index, number), position]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=list)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _encode(completion: Completion) -> str:
    return json.dumps(dataclasses.asdict(completion), ensure_ascii=False, separators=(",", ":"))


def _level(logprobs: int | None) -> int:
    return -1 if logprobs is None else logprobs


def _trim(completion: Completion, logprobs: int | None) -> Completion:
    """``completion`` with only the logprobs a request asked for (the ``logprobs`` most likely alternatives)."""
    if completion.logprobs is None:
        return completion
    if logprobs is None:
        return dataclasses.replace(completion, logprobs=None)
    cut = tuple(dataclasses.replace(t, top=dict(list(t.top.items())[:logprobs])) for t in completion.logprobs)
    return dataclasses.replace(completion, logprobs=cut)


def _decode(text: str) -> Completion:
    data: dict[str, Any] = json.loads(text)
    logprobs = data.get("logprobs")
    if logprobs is not None:
        logprobs = tuple(TokenLogprob(t["token"], t["logprob"], t.get("top") or {}) for t in logprobs)
    return Completion(data["text"], data["n_tokens"], data["finish_reason"], logprobs, data.get("stop_reason"))


class SampleStore:
    """The SQLite table of cached samples. Thread-safe; safe to share between CachedBackend views."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise ConfigError(f"cache path must be a file, got the directory {str(self.path)!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(_SCHEMA)
            self._conn.commit()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"cannot open the generation cache {str(self.path)!r}: {exc}") from exc

    def get(self, keys: Sequence[str]) -> dict[str, CachedSample]:
        """The stored samples among ``keys``."""
        out: dict[str, CachedSample] = {}
        unique = list(dict.fromkeys(keys))
        with self._lock:
            for start in range(0, len(unique), 500):
                part = unique[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    "SELECT key, completion, prompt_tokens, cached_prompt_tokens, wall_seconds, logprobs "
                    f"FROM samples_v2 WHERE key IN ({marks})",
                    part,
                ).fetchall()
                for key, text, prompt_tokens, cached, wall, logprobs in rows:
                    out[key] = CachedSample(_decode(text), prompt_tokens, cached, wall, logprobs)
        return out

    def put(self, rows: Sequence[tuple[str, CachedSample]]) -> None:
        """Store samples (a key already present keeps its sample unless the new one carries more logprobs)."""
        now = time.time()
        values = [
            (k, _encode(s.completion), s.prompt_tokens, s.cached_prompt_tokens, s.wall_seconds, now, s.logprobs)
            for k, s in rows
        ]
        with self._lock:
            self._conn.executemany(_UPSERT, values)
            self._conn.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM samples_v2").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()


@dataclass
class _Plan:
    """For one call: every sample's key, what the cache holds, and which prompts must be generated."""

    keys: list[list[str]]
    found: dict[str, CachedSample]
    starts: dict[int, int] = field(default_factory=dict)
    """Prompt j -> its first sample not in the cache (prompts served in full are absent)."""

    def tails(self) -> dict[int, list[int]]:
        """Prompts to generate, grouped by the sample they start at."""
        out: dict[int, list[int]] = {}
        for j, start in self.starts.items():
            out.setdefault(start, []).append(j)
        return out


class CachedBackend(Wrapper):
    """A Backend that serves seeded samples from a SampleStore and stores new ones. Same protocol as Backend.

    ``stats`` counts hits and misses over the wrapper's life; ``prompt_stats`` the same per prompt (so a
    caller can attribute them to problems). ``view()`` gives a wrapper sharing the inner backend and store
    with fresh statistics (one per chunk of work).
    """

    def __init__(self, inner: Backend, store: str | Path | SampleStore, *, owner: bool = True) -> None:
        super().__init__(inner)
        self.store = store if isinstance(store, SampleStore) else SampleStore(store)
        self._owns_store = not isinstance(store, SampleStore)
        self._owner = owner
        self.stats = CacheStats()
        self.prompt_stats: dict[str, CacheStats] = {}
        self._lock = threading.Lock()

    def view(self) -> CachedBackend:
        """A wrapper over the same inner backend and store, with its own (empty) statistics."""
        return CachedBackend(self.inner, self.store, owner=False)

    def generate(self, prompts: Sequence[str], params: SamplingParams, n: int = 1) -> list[Generation]:
        """For each prompt, ``n`` completions: cached ones replayed, the rest generated and stored."""
        if params.seed is None or not prompts or n < 1:
            return self.inner.generate(prompts, params, n)
        plan = self._plan(prompts, params, n)
        ask = params
        if params.logprobs is None and self.inner.capabilities.logprobs:
            ask = params.replace(logprobs=0)  # stored with them, the sample also serves requests for them
        fresh: dict[int, Generation] = {}
        for start, group in sorted(plan.tails().items()):
            tail = ask.subset(group).replace(first_sample=params.first_sample + start)
            began = time.perf_counter()
            generated = self.inner.generate([prompts[j] for j in group], tail, n - start)
            wall = time.perf_counter() - began
            news = dict(zip(group, generated, strict=True))
            self._store_new(plan, news, start, wall, _level(ask.logprobs))
            fresh.update(news)
        return [self._assemble(j, prompt, plan, fresh.get(j), params) for j, prompt in enumerate(prompts)]

    def _plan(self, prompts: Sequence[str], params: SamplingParams, n: int) -> _Plan:
        who = identity_of(self.inner)
        keys = [[sample_key(self.name, who, p, params, i, j) for i in range(n)] for j, p in enumerate(prompts)]
        stored = self.store.get([k for row in keys for k in row])
        found = {k: v for k, v in stored.items() if v.logprobs >= _level(params.logprobs)}
        starts = {j: next(i for i, k in enumerate(row) if k not in found) for j, row in enumerate(keys)
                  if any(k not in found for k in row)}  # fmt: skip
        return _Plan(keys, found, starts)

    def _store_new(self, plan: _Plan, fresh: dict[int, Generation], start: int, wall: float, logprobs: int) -> None:
        """Store newly generated samples ``start..n-1``, each with its share of the call's wall time (by tokens)
        and its prompt's tokens: the prompt's, or with a backend that processes the prompt once per sample (no
        native ``n``), its share, so that a replay of k samples charges k shares."""
        new: list[tuple[str, Completion, tuple[int, int], float]] = []
        for j, gen in fresh.items():
            k = max(1, len(gen.completions))
            processed = (gen.prompt_tokens - gen.cached_prompt_tokens) / k
            prompt = (gen.prompt_tokens, gen.cached_prompt_tokens)
            if self._per_sample:
                prompt = (round(gen.prompt_tokens / k), round(gen.cached_prompt_tokens / k))
            for key, completion in zip(plan.keys[j][start:], gen.completions, strict=True):
                if key not in plan.found:
                    new.append((key, completion, prompt, processed + completion.n_tokens))
        total = sum(weight for *_, weight in new) or 1.0
        rows = [(key, CachedSample(c, *p, wall * weight / total, logprobs)) for key, c, p, weight in new]
        self.store.put(rows)

    @property
    def _per_sample(self) -> bool:
        """Whether the inner backend processes a prompt once per sample (it has no native ``n``)."""
        return not self.inner.capabilities.native_n

    def _assemble(self, j: int, prompt: str, plan: _Plan, gen: Generation | None, params: SamplingParams) -> Generation:
        """Prompt j's Generation: cached samples where stored, else the fresh ones, with the logprobs
        ``params`` asks for; statistics updated."""
        cached = [plan.found.get(k) for k in plan.keys[j]]
        start = plan.starts.get(j, len(cached))
        completions = [
            _trim(hit.completion if hit is not None else gen.completions[i - start], params.logprobs)  # type: ignore[union-attr]
            for i, hit in enumerate(cached)
        ]
        replayed = sum(h.wall_seconds for h in cached[:start] if h)
        stats = CacheStats(hits=start, misses=len(cached) - start, replayed_wall_seconds=replayed)
        with self._lock:
            self.stats.add(stats)
            self.prompt_stats.setdefault(prompt, CacheStats()).add(stats)
        if self._per_sample:  # every sample, replayed or new, paid for the prompt
            hits = [h for h in cached[:start] if h is not None]
            tokens = sum(h.prompt_tokens for h in hits) + (gen.prompt_tokens if gen else 0)
            reused = sum(h.cached_prompt_tokens for h in hits) + (gen.cached_prompt_tokens if gen else 0)
            return Generation(tuple(completions), tokens, reused)
        source = gen if gen is not None else cached[0]
        assert source is not None  # a prompt is either generated or served in full
        return Generation(tuple(completions), source.prompt_tokens, source.cached_prompt_tokens)

    def close(self) -> None:
        """Close the inner backend, and the store when this wrapper opened it (a view closes nothing)."""
        if not self._owner:
            return
        self.inner.close()
        if self._owns_store:
            self.store.close()
