"""Reports (Markdown, PNG, HTML, JSON) from records, and the `ponder eval` / `ponder report` commands."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ponder.backends.fake import FakeBackend
from ponder.cli.eval_cmd import budget_list, eval_, parse_options, report
from ponder.errors import ConfigError
from ponder.eval.config import EvalConfig
from ponder.eval.grid import drop_unused_scorer
from ponder.eval.report import Exchange, summarize, write_report
from ponder.eval.runner import run_eval
from ponder.eval.store import RunStore

Make = Callable[..., EvalConfig]


@pytest.fixture
def finished(make_config: Make) -> EvalConfig:
    config = make_config(strategies=("self_consistency", "best_of_n"), scorer="rule")
    run_eval(config, backend=FakeBackend())
    return config


def test_report_files_hold_the_accuracy_of_the_records(finished: EvalConfig):
    summary = summarize(finished.out)
    paths = write_report(summary)
    for kind in ("markdown", "html", "json", "accuracy_vs_budget", "accuracy_vs_tokens", "accuracy_vs_flops",
                 "accuracy_vs_wall", "accuracy_by_level"):  # fmt: skip
        assert paths[kind].exists() and paths[kind].stat().st_size > 0, kind
    assert paths["accuracy_vs_budget"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = paths["markdown"].read_text()
    rows = RunStore(finished.out).records()
    for strategy in ("self_consistency", "best_of_n"):
        for budget in (1, 2, 4):
            mine = [r for r in rows if r["strategy"] == strategy and r["budget"] == budget]
            by_problem: dict[str, list[bool]] = {}
            for r in mine:
                by_problem.setdefault(r["problem_id"], []).append(r["correct"])
            accuracy = sum(sum(v) / len(v) for v in by_problem.values()) / len(by_problem)
            assert f"| {budget} | 2 | 6 | {accuracy:.3f} [" in markdown
    assert "By difficulty level" in markdown and "maj@k" in markdown and "sign test" in markdown
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 5 and "<table>" in page
    data = json.loads(paths["json"].read_text())
    assert data["records"] == len(rows) and len(data["points"]) == 6 and data["level_points"]


def test_labels_name_the_scorer_only_where_the_strategy_uses_it(finished: EvalConfig):
    labels = {r["strategy"]: r["label"] for r in RunStore(finished.out).records()}
    assert labels == {"self_consistency": "self_consistency", "best_of_n": "best_of_n (scorer=rule)"}
    assert drop_unused_scorer("self_consistency", "self_consistency (scorer=rule, batch=4)") == (
        "self_consistency (batch=4)"
    )  # records written before scorer-free strategies were labelled without it
    assert drop_unused_scorer("self_consistency", "self_consistency (scorer=rule)") == "self_consistency"
    kept = ["best_of_n (scorer=rule)", "self_consistency (scorer=rule, sampler=best_of_n)"]
    assert [drop_unused_scorer(label.split(" ")[0], label) for label in kept] == kept
    old = [dict(r, label=f"{r['label']} (scorer=rule)") if r["strategy"] == "self_consistency" else r
           for r in RunStore(finished.out).records()]  # fmt: skip
    (finished.out / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    assert {p.label for p in summarize(finished.out).points} == set(labels.values())


def _point_errors(summary) -> int:
    return sum(p.errors for p in summary.points)


def test_a_newer_configuration_of_a_series_supersedes_the_older_records(finished: EvalConfig):
    rows = RunStore(finished.out).records()
    before = {(p.strategy, p.budget): p for p in summarize(finished.out).points}
    # As after an upgrade that changed self_consistency's defaults: same series, new config, other outcomes.
    newer = [dict(r, config=f"new-{r['config']}", correct=not r["correct"]) for r in rows
             if r["strategy"] == "self_consistency" and r["budget"] == 4]  # fmt: skip
    with (finished.out / "records.jsonl").open("a") as f:
        f.writelines(json.dumps(r) + "\n" for r in newer)
    # An error of the old configuration that its successor has since answered is not an open error.
    old = {k: newer[0][k] for k in ("task", "series", "label", "strategy", "budget", "seed", "problem_id")}
    error = {**old, "config": newer[0]["config"].removeprefix("new-"), "error": "BackendError: timeout"}
    (finished.out / "errors.jsonl").write_text(json.dumps(error) + "\n")
    summary = summarize(finished.out)
    assert summary.errors == 0 and _point_errors(summary) == 0
    after = {(p.strategy, p.budget): p for p in summary.points}
    assert summary.records == len(rows) and after[("self_consistency", 4)].records == len(newer)
    flipped = 1 - before[("self_consistency", 4)].accuracy.mean
    assert after[("self_consistency", 4)].accuracy.mean == pytest.approx(flipped)
    assert after[("best_of_n", 4)].accuracy == before[("best_of_n", 4)].accuracy
    assert any(f"{len(newer)} record(s) superseded" in m for m in summary.messages)


def test_a_problem_that_failed_in_several_runs_counts_once(finished: EvalConfig):
    error = {"config": "ghost", "problem_id": "p9", "error": "BackendError: down"}
    (finished.out / "errors.jsonl").write_text((json.dumps(error) + "\n") * 3)  # three runs, same failure
    assert summarize(finished.out).errors == 1


def test_exchange_rate_section(finished: EvalConfig):
    summary = summarize(finished.out, Exchange(large_params=2e6, pretrain_tokens=1e13, inference_tokens=1e12))
    assert summary.exchange is not None
    assert summary.exchange["M"] == pytest.approx(2) and summary.exchange["K"] == pytest.approx(32)
    markdown = write_report(summary)["markdown"].read_text()
    assert "Pretraining vs test-time compute" in markdown
    with pytest.raises(ConfigError, match="must be at least"):
        summarize(finished.out, Exchange(large_params=10, pretrain_tokens=1, inference_tokens=1))


def test_report_of_an_empty_directory_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="no records"):
        summarize(tmp_path)


def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command("eval")(eval_)
    cli.command()(report)
    return cli


def test_eval_and_report_commands(tmp_path: Path, task_file: Path):
    out = tmp_path / "run"
    args = ["eval", "--task", "jsonl", "--task-option", f"path={task_file}", "--task-option", "metadata_fields=level",
            "--strategies", "self_consistency,beam_search", "--scorer", "rule", "--budgets", "1,2", "--seeds", "2",
            "--limit", "4", "--backend", "fake", "--out", str(out), "--workers", "2",
            "--param", "beam_search.max_depth=3", "-q"]  # fmt: skip
    result = CliRunner().invoke(app(), args)
    assert result.exit_code == 0, result.output
    rows = RunStore(out).records()
    assert len(rows) == 2 * 2 * 2 * 4
    assert {r["params"]["max_depth"] for r in rows if r["strategy"] == "beam_search"} == {3}
    result = CliRunner().invoke(app(), ["report", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {p["budget"] for p in data["points"]} == {1, 2}
    assert (out / "report" / "report.html").exists()


def test_command_errors(tmp_path: Path):
    result = CliRunner().invoke(app(), ["eval", "--out", str(tmp_path), "--budgets", "1,x", "--backend", "fake"])
    assert isinstance(result.exception, ConfigError) and "'1,x'" in str(result.exception)
    result = CliRunner().invoke(app(), ["eval", "--out", str(tmp_path), "--param", "n=3", "--backend", "fake"])
    assert isinstance(result.exception, ConfigError) and "STRATEGY.KEY=VALUE" in str(result.exception)
    result = CliRunner().invoke(app(), ["report", str(tmp_path), "--exchange-rate", "1e9,2"])
    assert isinstance(result.exception, ConfigError) and "LARGE_PARAMS" in str(result.exception)


@pytest.mark.parametrize(
    ("text", "budgets"),
    [("1..32", (1, 2, 4, 8, 16, 32)), ("1..12", (1, 2, 4, 8, 12)), ("3..3", (3,)), ("1..4,6,4", (1, 2, 4, 6))],
)
def test_budget_ranges_double(text, budgets):
    assert budget_list("--budgets", text) == budgets


@pytest.mark.parametrize("text", ["4..2", "0..8", "1..x", "..4", "1...4"])
def test_bad_budget_ranges_show_the_text(text):
    with pytest.raises(ConfigError, match=re.escape(repr(text))):
        budget_list("--budgets", text)


def test_parse_options():
    from ponder.tasks.jsonl import JsonlTask

    parsed = parse_options("--task-option", ["path=a.jsonl", "metadata_fields=level,subject", "few_shot=2"], JsonlTask)
    assert parsed == {"path": "a.jsonl", "metadata_fields": ["level", "subject"], "few_shot": 2}
    with pytest.raises(ConfigError, match="key=value"):
        parse_options("--task-option", ["novalue"])
    flags = parse_options("-p", ["early_stop=False", "weighted=TRUE", "name=falsey"])
    assert flags == {"early_stop": False, "weighted": True, "name": "falsey"}
