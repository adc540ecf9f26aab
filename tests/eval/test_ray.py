"""``run_eval(..., ray=RayOptions())`` on a local two-CPU Ray cluster: same records as a local run, resumable,
and a worker killed mid-job loses and duplicates nothing. Marked ``ray`` (the cluster takes seconds to start)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ponder.catalog import make_registries
from ponder.errors import ConfigError
from ponder.eval.config import EvalConfig
from ponder.eval.distributed import RayOptions
from ponder.eval.runner import Hooks, run_eval
from ponder.eval.store import RunStore

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ponder[ray]')")
pytestmark = pytest.mark.ray

Make = Callable[..., EvalConfig]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def outcomes(out: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
    rows = RunStore(out).records()
    keyed = {(r["config"], r["problem_id"]): (r["answer"], r["correct"], r["n_candidates"]) for r in rows}
    assert len(keyed) == len(rows), "a record was written twice"
    return keyed


def test_ray_run_matches_a_local_run_and_resumes(cluster: None, make_config: Make, tmp_path: Path):
    local = make_config(out=tmp_path / "local")
    distributed = make_config(out=tmp_path / "ray")
    run_eval(local)
    summary = run_eval(distributed, ray=RayOptions(actors=2))
    assert summary.written == summary.expected == 3 * 2 * 6 and summary.errors == 0
    assert outcomes(distributed.out) == outcomes(local.out)
    again = run_eval(distributed, ray=RayOptions(actors=2))
    assert again.written == 0 and again.done_before == again.expected
    assert not ray.util.list_named_actors(), "actors are stopped when the run ends"


def test_a_worker_killed_mid_job_loses_and_duplicates_nothing(cluster: None, make_config: Make, tmp_path: Path):
    marker = tmp_path / "marker"
    marker.mkdir()
    (marker / "hang").write_text("")
    reg = make_registries()
    reg.backends.register("hanging", "tests.eval.ray_helpers:HangingBackend")
    config = make_config(backend="hanging", backend_options={"marker": str(marker)}, budgets=(1, 2), seeds=(0,))
    killed: list[str] = []

    def kill_when_hung() -> None:
        entered = marker / "entered"
        end = time.monotonic() + 60
        while not entered.exists() and time.monotonic() < end:
            time.sleep(0.05)
        (marker / "hang").unlink()  # the retried job runs through
        name = entered.read_text()
        ray.kill(ray.get_actor(name), no_restart=True)
        killed.append(name)

    watcher = threading.Thread(target=kill_when_hung, daemon=True)
    watcher.start()
    notes: list[str] = []
    summary = run_eval(config, registries=reg, hooks=Hooks(notify=notes.append), ray=RayOptions(actors=2))
    watcher.join(5)
    assert killed, "the hanging job was never reached"
    assert any("worker died" in note and "retrying" in note for note in notes), notes
    assert summary.written == summary.expected == 2 * 6 and summary.errors == 0
    records = outcomes(config.out)
    assert len(records) == summary.expected
    assert not RunStore(config.out).errors()


def test_a_bad_backend_option_fails_with_its_own_error(cluster: None, make_config: Make):
    config = make_config(backend_options={"no_such_option": 1})
    with pytest.raises(ConfigError, match="no_such_option"):
        run_eval(config, ray=RayOptions(actors=1))
