"""Test-only: run a small eval grid in-process with a FakeBackend that sleeps on every sample.

    python tests/eval/slow_eval.py OUT_DIR TASK_FILE SECONDS_PER_SAMPLE

Used by test_resume_kill.py, which kills this process with SIGKILL part-way and then resumes the run.
The grid (``GRID``) is the same whatever the delay, so a resumed run in-process completes it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from ponder.backends.fake import FakeBackend, default_script
from ponder.eval.config import EvalConfig
from ponder.eval.runner import run_eval

GRID: dict[str, Any] = {
    "task": "jsonl",
    "strategies": ("self_consistency", "best_of_n"),
    "budgets": (1, 2, 4),
    "seeds": (0, 1),
    "scorer": "rule",
    "backend": "fake",
    "limit": None,
    "chunk_size": 1,
    "max_tokens": 64,
}


def config(out: Path, task_file: Path) -> EvalConfig:
    return EvalConfig(out=out, task_options={"path": str(task_file), "metadata_fields": ["level"]}, **GRID)


def slow_backend(delay: float) -> FakeBackend:
    def script(prompt: str, index: int, seed: int | None) -> str:
        time.sleep(delay)
        return default_script(prompt, index, seed)

    return FakeBackend(script)


if __name__ == "__main__":
    out, task_file, delay = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    run_eval(config(out, task_file), backend=slow_backend(delay))
