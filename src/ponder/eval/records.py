"""Turn a strategy's Result for one problem into a graded record (and its trace line).

A record is one JSON object per (configuration, problem):

    id, config, series, label, task, strategy, budget, seed, params   what ran (``params``: all parameters)
    problem_id, level, reference, answer, correct                      the graded outcome
    n_candidates, candidate_answers, candidate_keys, candidate_correct  every candidate, for maj@k and pass@k
    usage                                                             ponder.types.Usage as a dict
    cache {hits, misses, replayed_wall_seconds}                       what the generation cache served
    model, n_params, time, trace {file, offset}                       (``trace`` is set by RunStore.append)

``candidate_keys`` are the task's answer keys (None for an abstention or a guardrail-filtered candidate), so
majority votes over any prefix can be recomputed; ``candidate_correct`` grades every candidate against the
reference (each distinct answer graded once). ``level`` is the problem's ``metadata["level"]`` (e.g.
MATH-500's 1-5), or None. Cache statistics are attributed to a problem through the prompts that contain its
question (the longest such question wins when one question contains another).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ponder.cache import CacheStats
from ponder.errors import StrategyError
from ponder.eval.grid import Cell
from ponder.tasks.base import Task
from ponder.types import Problem, Result, to_jsonable

__all__ = ["attribute_cache", "error_entry", "make_record"]


def make_record(
    cell: Cell, problem: Problem, result: Result, task: Task, cache: CacheStats, backend: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record of ``result`` (graded against ``problem.reference``) and its trace line."""
    graded: dict[str, bool] = {}

    def grade(answer: str | None) -> bool:
        if answer is None:
            return False
        key = task.answer_key(answer)
        if key not in graded:
            graded[key] = bool(task.is_correct(problem, answer))
        return graded[key]

    cands = result.candidates
    record_id = f"{cell.config}/{problem.id}"
    record = {
        "id": record_id,
        **cell_fields(cell),
        "params": to_jsonable(cell.identity.get("params", cell.params)),
        "problem_id": problem.id,
        "level": problem.metadata.get("level"),
        "reference": problem.reference,
        "answer": result.answer,
        "correct": grade(result.answer),
        "n_candidates": len(cands),
        "candidate_answers": [c.answer for c in cands],
        "candidate_keys": [None if c.answer is None or c.filtered else task.answer_key(c.answer) for c in cands],
        "candidate_correct": [grade(c.answer) for c in cands],
        "usage": to_jsonable(result.usage),
        "cache": {"hits": cache.hits, "misses": cache.misses, "replayed_wall_seconds": cache.replayed_wall_seconds},
        "model": getattr(backend, "model", None),
        "n_params": getattr(backend, "n_params", 0),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    trace = {
        "id": record_id,
        "selected": result.selected,
        "candidates": [to_jsonable(c) for c in cands],
        "trace": [to_jsonable(e) for e in result.trace],
    }
    return record, trace


def error_entry(cell: Cell, problem: Problem, exc: BaseException, detail: str) -> dict[str, Any]:
    """One errors.jsonl line: which configuration and problem failed, and why (the cause a StrategyError
    wraps, when there is one)."""
    if isinstance(exc, StrategyError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return {
        **cell_fields(cell),
        "problem_id": problem.id,
        "error": f"{type(exc).__name__}: {exc}",
        "detail": detail,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def attribute_cache(prompt_stats: Mapping[str, CacheStats], problems: Sequence[Problem]) -> dict[str, CacheStats]:
    """Cache statistics per problem id, from statistics per prompt (a prompt belongs to the problem whose
    question it contains; the longest question wins; prompts matching none are left out)."""
    out = {p.id: CacheStats() for p in problems}
    by_length = sorted(problems, key=lambda p: -len(p.question))
    # as written in the prompt: plain, or JSON-escaped (chat-mode HTTP backends encode messages as JSON)
    forms = {p.id: (p.question, json.dumps(p.question, ensure_ascii=False)[1:-1]) for p in problems}
    for prompt, stats in prompt_stats.items():
        owner = next((p for p in by_length if any(f in prompt for f in forms[p.id])), None)
        if owner is None and len(problems) == 1:
            owner = problems[0]
        if owner is not None:
            out[owner.id].add(stats)
    return out


def cell_fields(cell: Cell) -> dict[str, Any]:
    """The configuration fields every record and error line carries."""
    return {
        "config": cell.config,
        "series": cell.series,
        "label": cell.label,
        "task": cell.task,
        "strategy": cell.strategy,
        "budget": cell.budget,
        "seed": cell.seed,
    }
