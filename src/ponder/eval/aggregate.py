"""Aggregate evaluation records into points (one per task x series x budget [x level]) and comparisons.

A point averages over problems (seeds first averaged within a problem) with 95% bootstrap CIs: accuracy of
the chosen answer, pass@1 (mean fraction of correct candidates, the unbiased pass@1), and coverage (any
candidate correct). Cost is the mean per problem-run: generated tokens, prompt tokens computed, FLOPs
(2·N·tokens, verifier included) and wall seconds. Wall seconds are the run's measured share of batched calls
plus, for samples replayed from the generation cache, the wall seconds they took when first generated, so a
budget served from the cache is not shown as free. ``cache_hit_rate`` says how much was replayed.

``k_curves`` subsamples the largest budget of each series (its first k candidates, as peers do with one
large run): maj@k and unbiased pass@k for k = 1, 2, 4, ... ``comparisons`` pairs every series with the first
one (the baseline) at each budget of each task.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ponder.eval.metrics import Comparison, Estimate, estimate, maj_at_k, paired, pass_at_k

__all__ = [
    "KCurve",
    "Pair",
    "Point",
    "comparisons",
    "disambiguate",
    "k_curves",
    "latest",
    "levels",
    "point_key",
    "points",
    "series_order",
]


@dataclass(frozen=True)
class Point:
    """One configuration family at one budget (all seeds), optionally restricted to one difficulty level."""

    task: str
    series: str
    label: str
    strategy: str
    budget: int
    level: str | None
    seeds: int
    problems: int
    records: int
    errors: int
    """Problems of these configurations that failed and have no record yet."""
    accuracy: Estimate
    pass1: Estimate
    coverage: Estimate
    completion_tokens: float
    prompt_tokens: float
    """Prompt tokens computed (not reused from a prefix cache), per problem-run."""
    flops: float
    wall_seconds: float
    cache_hit_rate: float


@dataclass(frozen=True)
class KCurve:
    """maj@k and pass@k of one series, subsampled from its largest budget."""

    task: str
    series: str
    label: str
    budget: int
    ks: tuple[int, ...]
    maj: tuple[Estimate, ...]
    pass_k: tuple[Estimate, ...]


@dataclass(frozen=True)
class Pair:
    """Series ``a`` against the baseline ``b`` at one budget."""

    task: str
    budget: int
    a: str
    b: str
    result: Comparison


def latest(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """One record per (task, series, budget, seed, problem): the last one written, and how many older ones
    were dropped. Two configurations of one series differ only in parameters nobody fixed, i.e. a strategy's
    defaults changed between runs (a ponder upgrade); the resumed run redoes the problems under the new
    configuration, and the newer record supersedes the older instead of counting the problem twice."""
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    total = 0
    for r in records:
        total += 1
        kept[point_key(r)] = r
    return list(kept.values()), total - len(kept)


def point_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """(task, series, budget, seed, problem_id) of a record or an error line."""
    return tuple(row.get(k) for k in ("task", "series", "budget", "seed", "problem_id"))


def series_order(records: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    """(task, series) in order of first appearance."""
    return list(dict.fromkeys((r["task"], r["series"]) for r in records))


def disambiguate(records: Sequence[dict[str, Any]]) -> None:
    """Make labels unique per task: series sharing a label get their model, then their series hash, added."""
    by_label: dict[tuple[str, str], set[str]] = {}
    for r in records:
        by_label.setdefault((r["task"], r["label"]), set()).add(r["series"])
    models: dict[str, set[str]] = {}
    for r in records:
        models.setdefault(r["series"], set()).add(str(r.get("model")))
    for r in records:
        clash = by_label[(r["task"], r["label"])]
        if len(clash) > 1:
            model_sets = {frozenset(models[s]) for s in clash}
            suffix = ",".join(sorted(models[r["series"]])) if len(model_sets) == len(clash) else r["series"][:6]
            r["label"] = f"{r['label']} [{suffix}]"


def levels(records: Iterable[dict[str, Any]]) -> list[str]:
    """The distinct difficulty levels present (as strings, naturally sorted)."""
    found = {str(r["level"]) for r in records if r.get("level") is not None}
    return sorted(found, key=lambda s: (len(s), s))


def _by_problem(records: Sequence[dict[str, Any]], value: Any) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in records:
        out.setdefault(r["problem_id"], []).append(float(value(r)))
    return out


def _mean(records: Sequence[dict[str, Any]], value: Any) -> float:
    return sum(value(r) for r in records) / len(records) if records else math.nan


def _wall(r: dict[str, Any]) -> float:
    return float(r["usage"]["wall_seconds"]) + float(r.get("cache", {}).get("replayed_wall_seconds", 0.0))


def _point(group: list[dict[str, Any]], level: str | None, errors: int) -> Point:
    first = group[0]
    hits = sum(r.get("cache", {}).get("hits", 0) for r in group)
    served = hits + sum(r.get("cache", {}).get("misses", 0) for r in group)
    return Point(
        task=first["task"],
        series=first["series"],
        label=first["label"],
        strategy=first["strategy"],
        budget=int(first["budget"]),
        level=level,
        seeds=len({r["seed"] for r in group}),
        problems=len({r["problem_id"] for r in group}),
        records=len(group),
        errors=errors,
        accuracy=estimate(_by_problem(group, lambda r: r["correct"])),
        pass1=estimate(_by_problem(group, lambda r: _fraction(r["candidate_correct"]))),
        coverage=estimate(_by_problem(group, lambda r: any(r["candidate_correct"]))),
        completion_tokens=_mean(group, lambda r: r["usage"]["completion_tokens"]),
        prompt_tokens=_mean(group, lambda r: r["usage"]["prompt_tokens"] - r["usage"]["cached_prompt_tokens"]),
        flops=_mean(group, lambda r: r["usage"]["flops"]),
        wall_seconds=_mean(group, _wall),
        cache_hit_rate=hits / served if served else 0.0,
    )


def _fraction(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def points(
    records: Sequence[dict[str, Any]], errors: Sequence[dict[str, Any]] = (), *, by_level: bool = False
) -> list[Point]:
    """One point per (task, series, budget), or per (task, series, budget, level) with ``by_level``."""
    done = {(r["config"], r["problem_id"]) for r in records}
    open_errors = {(e.get("config"), e.get("problem_id")) for e in errors} - done
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in records:
        level = str(r["level"]) if by_level and r.get("level") is not None else None
        if by_level and level is None:
            continue
        groups.setdefault((r["task"], r["series"], int(r["budget"]), level), []).append(r)
    order = {key: i for i, key in enumerate(series_order(records))}
    out = []
    for (_, _, _, level), group in groups.items():
        configs = {r["config"] for r in group}
        n_errors = sum(1 for config, _ in open_errors if config in configs) if level is None else 0
        out.append(_point(group, level, n_errors))
    level_rank = {lv: i for i, lv in enumerate(levels(records))}
    return sorted(out, key=lambda p: (order[(p.task, p.series)], level_rank.get(p.level or "", -1), p.budget))


SAMPLING_STRATEGIES: frozenset[str] = frozenset({"self_consistency", "best_of_n"})
"""Strategies whose candidates are independent samples, the assumption behind maj@k and pass@k curves."""


def k_curves(records: Sequence[dict[str, Any]]) -> list[KCurve]:
    """maj@k and pass@k curves of each sampling series (``SAMPLING_STRATEGIES``), from its largest budget
    (when its records all have >= 2 candidates)."""
    out = []
    for task, series in series_order(records):
        mine = [r for r in records if r["task"] == task and r["series"] == series]
        if mine[0]["strategy"] not in SAMPLING_STRATEGIES:
            continue
        top = max(int(r["budget"]) for r in mine)
        group = [r for r in mine if int(r["budget"]) == top]
        n = min(r["n_candidates"] for r in group)
        if n < 2:
            continue
        ks = tuple(sorted({2**i for i in range(int(math.log2(n)) + 1)} | {n}))
        maj = tuple(
            estimate(_by_problem(group, lambda r, k=k: maj_at_k(r["candidate_keys"], r["candidate_correct"], k)))
            for k in ks
        )
        pk = tuple(
            estimate(
                _by_problem(
                    group, lambda r, k=k: pass_at_k(len(r["candidate_correct"]), sum(r["candidate_correct"]), k)
                )
            )
            for k in ks
        )
        out.append(KCurve(task, series, group[0]["label"], top, ks, maj, pk))
    return out


def comparisons(records: Sequence[dict[str, Any]]) -> list[Pair]:
    """Each series against the task's first series, at every budget both have (paired over problem, seed)."""
    out = []
    order = series_order(records)
    labels = {(r["task"], r["series"]): r["label"] for r in records}
    graded: dict[tuple[str, str, int], dict[tuple[Any, Any], bool]] = {}
    for r in records:
        graded.setdefault((r["task"], r["series"], int(r["budget"])), {})[(r["problem_id"], r["seed"])] = r["correct"]
    for task in dict.fromkeys(t for t, _ in order):
        mine = [s for t, s in order if t == task]
        base = mine[0]
        for other in mine[1:]:
            budgets = sorted(
                {b for t, s, b in graded if t == task and s == other}
                & {b for t, s, b in graded if t == task and s == base}
            )
            for budget in budgets:
                result = paired(graded[(task, other, budget)], graded[(task, base, budget)])
                out.append(Pair(task, budget, labels[(task, other)], labels[(task, base)], result))
    return out
