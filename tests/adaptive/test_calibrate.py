"""Calibration through the eval runner on the fake backend; adaptive in `ponder eval`; batch budgets."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ponder.adaptive.calibrate import CalibrationRun, calibrate, outcomes
from ponder.adaptive.policy import load_policy
from ponder.backends.fake import FakeBackend
from ponder.cli.main import app
from ponder.errors import ConfigError
from ponder.eval.config import EvalConfig
from ponder.eval.runner import run_eval
from ponder.eval.store import RunStore
from tests.eval.conftest import write_task


def _grid(tmp_path: Path, **changes) -> EvalConfig:
    task_file = write_task(tmp_path / "qa.jsonl", n=12)
    base = {
        "out": tmp_path / "runs",
        "task": "jsonl",
        "task_options": {"path": str(task_file)},
        "limit": None,
        "strategies": ("self_consistency", "revisions"),
        "budgets": (1, 2, 4),
        "seeds": (0,),
        "backend": "fake",
        "chunk_size": 4,
        "max_tokens": 64,
    }
    return EvalConfig(**{**base, **changes})


def test_calibrate_runs_the_grid_and_writes_a_validated_policy(tmp_path):
    run = CalibrationRun(_grid(tmp_path), tmp_path / "policy.json", probe=2, bins=3)
    policy = calibrate(run, backend=FakeBackend())
    again = load_policy(tmp_path / "policy.json")
    assert again == policy and policy.model == "fake" and policy.task == "jsonl"
    assert policy.estimator in ("agreement", "entropy") and set(policy.correlations) == {"agreement", "entropy"}
    assert {e.budget for e in policy.entries} == {1, 2, 4}
    assert all(e.strategy in ("self_consistency", "revisions") and e.params["n"] >= 1 for e in policy.entries)
    val = policy.validation
    assert (val["folds"], val["held_out_problems"], val["fit_problems"]) == (2, 12, 6)
    assert set(val["accuracy_by_budget"]) == {"1", "2", "4"}
    # The probe is one more cell of the same eval directory (resumable, cached).
    rows = RunStore(tmp_path / "runs").records()
    assert {(r["strategy"], r["budget"]) for r in rows} >= {("self_consistency", 2), ("revisions", 4)}
    fake = FakeBackend()
    calibrate(run, backend=fake)
    assert fake.calls == []  # a second calibration resumes: nothing to run


def test_calibration_fits_only_its_own_problems_of_a_shared_directory(tmp_path):
    run_eval(_grid(tmp_path, offset=6), backend=FakeBackend())  # other problems' records, same directory
    run = CalibrationRun(_grid(tmp_path, limit=6), tmp_path / "policy.json", probe=2, bins=2)
    policy = calibrate(run, backend=FakeBackend())
    assert policy.validation["held_out_problems"] == 6


def test_adaptive_runs_in_eval_with_a_policy_and_a_batch_budget_is_never_exceeded(tmp_path):
    run = CalibrationRun(_grid(tmp_path), tmp_path / "policy.json", probe=2, bins=3)
    calibrate(run, backend=FakeBackend())
    cap = 900
    cfg = _grid(
        tmp_path,
        out=tmp_path / "adaptive",
        strategies=("adaptive",),
        budgets=(8,),
        strategy_params={"adaptive": {"policy": str(tmp_path / "policy.json")}},
        chunk_size=100,
        total_budget_tokens=cap,
    )
    summary = run_eval(cfg, backend=FakeBackend())
    assert summary.errors == 0 and summary.written == 12
    rows = RunStore(cfg.out).records()
    assert sum(r["usage"]["completion_tokens"] for r in rows) <= cap
    assert all(r["params"]["budget"] == 8 for r in rows)


def test_the_calibrate_command_prints_tables_and_writes_the_policy(tmp_path):
    task_file = write_task(tmp_path / "qa.jsonl", n=8)
    out = tmp_path / "p.json"
    args = ["calibrate", "--task", "jsonl", "--task-option", f"path={task_file}", "--backend", "fake"]
    args += ["--split", "test", "--strategies", "self_consistency", "--budgets", "1..2", "--probe", "2"]
    args += ["--out", str(out), "-q"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Cross-validated accuracy" in res.output and "Spearman" in res.output
    assert json.loads(out.read_text())["task"] == "jsonl" and (tmp_path / "p.runs" / "records.jsonl").exists()
    shared = tmp_path / "shared.sqlite"  # --offset and --cache reach the grid: the later problems, one cache
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "q.json"), "--offset", "4", "--cache", str(shared)])
    assert res.exit_code == 0, res.output
    ids = {r["problem_id"] for r in RunStore(tmp_path / "q.runs").records()}
    assert ids == {"qa-5", "qa-6", "qa-7", "qa-8"}  # the first run had all eight
    assert shared.exists() and not (tmp_path / "q.runs" / "cache.sqlite").exists()
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "m.json"), "--budget-kind", "mean"])
    assert res.exit_code == 0, res.output
    assert "mean budgets" in res.output and load_policy(tmp_path / "m.json").budget_kind == "mean"
    samples = load_policy(tmp_path / "m.json").validation["accuracy_by_budget"]["2"]["policy_samples"]
    assert f"[{samples:.1f}]" in res.output
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "x.json"), "--budget-kind", "median"])
    assert isinstance(res.exception, ConfigError) and "'median'" in str(res.exception)  # main(): one line, exit 2
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "x.runs").exists()  # refused before the grid


def test_calibration_counts_only_the_newest_record_of_a_problem(tmp_path):
    run = CalibrationRun(_grid(tmp_path, limit=6), tmp_path / "policy.json", probe=2, bins=2)
    calibrate(run, backend=FakeBackend())
    old, _, _ = outcomes(run)
    # As after an upgrade that changed revisions' defaults: the resumed run wrote newer records.
    rows = [r for r in RunStore(run.grid.out).records() if r["strategy"] == "revisions"]
    with (run.grid.out / "records.jsonl").open("a") as f:
        f.writelines(json.dumps(dict(r, config=f"new-{r['config']}", correct=not r["correct"])) + "\n" for r in rows)
    new, _, _ = outcomes(run)
    for before, after in zip(old, new, strict=True):
        for (strategy, budget), value in before.correct.items():
            expected = 1 - value if strategy == "revisions" else value
            assert after.correct[(strategy, budget)] == expected


def test_eval_redoes_adaptive_when_the_policy_file_chooses_differently(tmp_path):
    run = CalibrationRun(_grid(tmp_path), tmp_path / "policy.json", probe=2, bins=3)
    calibrate(run, backend=FakeBackend())
    cfg = _grid(
        tmp_path, out=tmp_path / "adaptive", strategies=("adaptive",), budgets=(4,),
        strategy_params={"adaptive": {"policy": str(tmp_path / "policy.json")}},
    )  # fmt: skip
    assert run_eval(cfg, backend=FakeBackend()).written == 12
    data = json.loads((tmp_path / "policy.json").read_text())
    data["notes"] = "re-worded"  # notes and measurements do not change a choice: nothing to redo
    (tmp_path / "policy.json").write_text(json.dumps(data))
    fake = FakeBackend()
    assert run_eval(cfg, backend=fake).written == 0 and fake.calls == []
    for entry in data["entries"]:  # every choice becomes self-consistency over 3 samples
        entry.update(strategy="self_consistency", params={"n": 3})
    (tmp_path / "policy.json").write_text(json.dumps(data))
    assert run_eval(cfg, backend=FakeBackend()).written == 12
    rows = RunStore(cfg.out).records()  # each record names the policy it used
    assert [r["params"]["policy_digest"] for r in rows[-12:]] == [load_policy(tmp_path / "policy.json").digest()] * 12
    assert len({r["params"]["policy_digest"] for r in rows}) == 2
