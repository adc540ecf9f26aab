"""Fixtures for evaluation tests: a small leveled JSONL task file and an EvalConfig builder over it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ponder.eval.config import EvalConfig


def write_task(path: Path, n: int = 6) -> Path:
    """``n`` questions; the fake backend's default script answers 42 most of the time, so rows whose
    reference is 42 are mostly right and the others always wrong. Levels 1..3 cycle."""
    rows = [
        {
            "question": f"Question {i}: what is {i} plus {i}?",
            "answer": "42" if i % 2 == 0 else str(2 * i),
            "level": 1 + i % 3,
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    return write_task(tmp_path / "qa.jsonl")


@pytest.fixture
def make_config(tmp_path: Path, task_file: Path) -> Callable[..., EvalConfig]:
    def build(**changes: Any) -> EvalConfig:
        base: dict[str, Any] = {
            "out": tmp_path / "run",
            "task": "jsonl",
            "task_options": {"path": str(task_file), "metadata_fields": ["level"]},
            "limit": None,
            "strategies": ("self_consistency",),
            "budgets": (1, 2, 4),
            "seeds": (0, 1),
            "backend": "fake",
            "chunk_size": 2,
            "max_tokens": 64,
        }
        base.update(changes)
        return EvalConfig(**base)

    return build
