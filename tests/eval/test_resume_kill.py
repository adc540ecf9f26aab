"""SIGKILL a running eval part-way, then resume: nothing lost, nothing duplicated, the grid completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ponder.backends.fake import FakeBackend
from ponder.eval.runner import Hooks, run_eval
from ponder.eval.store import RECORDS, TRACES, RunStore, read_jsonl
from tests.eval.slow_eval import GRID, config

SCRIPT = Path(__file__).with_name("slow_eval.py")
PROBLEMS = 6
GRID_SIZE = len(GRID["strategies"]) * len(GRID["budgets"]) * len(GRID["seeds"]) * PROBLEMS


def complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_run_then_resume(tmp_path: Path, task_file: Path):
    out = tmp_path / "run"
    with subprocess.Popen(
        [sys.executable, str(SCRIPT), str(out), str(task_file), "0.05"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            deadline = time.monotonic() + 60
            while complete_lines(out / RECORDS) < 6:
                assert proc.poll() is None, f"the run ended before it was killed: {proc.stderr.read()!r}"  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "no records appeared"
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL
    before = complete_lines(out / RECORDS)
    assert 6 <= before < GRID_SIZE
    with (out / RECORDS).open("ab") as f:  # and as if the kill had landed mid-line
        f.write(b'{"id": "0123/qa-5", "config": "01')

    notes: list[str] = []
    summary = run_eval(config(out, task_file), backend=FakeBackend(), hooks=Hooks(notify=notes.append))
    assert any("repaired a truncated last line" in n for n in notes)
    assert summary.done_before == before and summary.written == GRID_SIZE - before

    rows, bad = read_jsonl(out / RECORDS)
    assert not bad
    keys = [(r["config"], r["problem_id"]) for r in rows]
    assert len(keys) == len(set(keys)) == GRID_SIZE
    store = RunStore(out)
    assert all(store.trace(r) is not None for r in rows)
    assert read_jsonl(out / TRACES)[1] == []
