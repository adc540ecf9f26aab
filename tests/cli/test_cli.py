"""The command line, run as a user runs it (a subprocess of the installed entry point)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PONDER = [sys.executable, "-m", "ponder"]


def ponder(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PONDER, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_solve_json_has_the_documented_fields():
    out = ponder("solve", "What is 6 * 7?", "--backend", "fake", "-n", "5", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["strategy"] == "self_consistency" and data["answer"] is not None
    assert len(data["candidates"]) == 5
    assert {"text", "answer", "score"} <= set(data["candidates"][0])
    assert {"prompt_tokens", "cached_prompt_tokens", "completion_tokens", "calls", "flops", "wall_seconds"} <= set(
        data["usage"]
    )
    assert data["usage"]["completion_tokens"] > 0
    assert any(e["kind"] == "vote" for e in data["trace"])
    assert data["run_config"]["strategy_params"] == {"n": 5}


def test_same_seed_same_answer_and_different_seed_can_differ():
    runs = [
        json.loads(ponder("solve", "Q?", "--backend", "fake", "-n", "3", "--seed", s, "--json").stdout)
        for s in ("1", "1", "2")
    ]
    texts = [[c["text"] for c in r["candidates"]] for r in runs]
    assert texts[0] == texts[1] and texts[0] != texts[2]


def test_human_output_shows_answer_votes_tokens_and_time():
    out = ponder("solve", "What is 6 * 7?", "--backend", "fake", "-n", "8")
    assert out.returncode == 0, out.stderr
    assert "Answer:" in out.stdout and "42" in out.stdout
    assert "tokens:" in out.stdout and "wall" in out.stdout and "count" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["solve", "Q?", "--backend", "fake", "--strategy", "self_consistensy"], "Did you mean 'self_consistency'"),
        (["solve", "Q?", "--backend", "fakee"], "Did you mean 'fake'"),
        (["solve", "Q?", "--backend", "fake", "--temperature", "-1"], "-1"),
        (["solve", "  ", "--backend", "fake"], "question"),
        (["solve", "Q?", "--backend", "fake", "-p", "n=abc"], "n='abc'"),
        (["solve", "Q?", "--backend", "fake", "--strategy", "cot", "-n", "4"], "takes no 'n'"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message):
    out = ponder(*args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_strategies_json_lists_every_strategy_with_parameters():
    out = ponder("strategies", "--json")
    data = json.loads(out.stdout)
    assert {"cot", "self_consistency", "best_of_n"} <= set(data)
    n = next(p for p in data["self_consistency"] if p["name"] == "n")
    assert n["default"] == 8 and n["type"] == "int" and "Samples" in n["help"]


def test_config_file_and_saved_config_round_trip(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("strategy: best_of_n\nstrategy_params: {n: 3, weighted: true}\nbackend: fake\nscorer: judge\n")
    saved = tmp_path / "saved.yaml"
    out = ponder("solve", "Q?", "--config", str(cfg), "--save-config", str(saved), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["strategy"] == "best_of_n" and len(data["candidates"]) == 3
    again = ponder("solve", "Q?", "--config", str(saved), "--json")
    assert json.loads(again.stdout)["answer"] == data["answer"]


def test_guardrail_blocklist_from_the_command_line():
    out = ponder("solve", "Q?", "--backend", "fake", "-n", "4", "--block", "think", "--json")
    data = json.loads(out.stdout)
    assert all(c["filtered"] and "think" in c["filtered"] for c in data["candidates"])
    assert data["answer"] is None


def test_adaptive_early_stop_from_the_command_line(tmp_path):
    from ponder.adaptive.policy import Entry, Policy, save_policy

    entry = Entry(bin=0, budget=16, strategy="self_consistency", params={"n": 16})
    policy = Policy(model="fake", task="math", estimator="agreement", probe=2, entries=[entry])
    path = save_policy(policy, tmp_path / "policy.json")
    args = ("solve", "What is 6 * 7?", "--backend", "fake", "--strategy", "adaptive", "--policy", str(path))
    full, early = (
        json.loads(ponder(*args, "--budget", "16", *extra, "--json").stdout) for extra in ((), ("--early-stop",))
    )
    assert len(full["candidates"]) == 16 and not [e for e in full["trace"] if e["kind"] == "stop"]
    [stop] = [e["data"] for e in early["trace"] if e["kind"] == "stop"]
    # The fake model's first 4 answers to this question agree: the Beta criterion (0.95) stops there, with the
    # same samples a full run draws first (same seeds), so the probe's 2 are not drawn twice.
    assert (stop["after"], stop["reason"]) == (4, "beta") and early["answer"] == full["answer"] == "42"
    assert [c["text"] for c in early["candidates"]] == [c["text"] for c in full["candidates"][:4]]
    assert early["usage"]["completion_tokens"] * 4 == full["usage"]["completion_tokens"]


def test_solve_with_program_reaches_the_task_and_bad_modes_exit_2():
    out = ponder("solve", "What is 6 * 7?", "--backend", "fake", "-n", "2", "--solve-with", "program", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["run_config"]["task_options"] == {"solve_with": "program"}
    # the fake backend's replies reason in prose; without a program there is nothing to run, so all abstain
    assert data["answer"] is None and [c["answer"] for c in data["candidates"]] == [None, None]
    bad = ponder("solve", "q", "--backend", "fake", "--solve-with", "code")
    assert bad.returncode == 2 and "solve_with must be one of reasoning, program, got 'code'" in bad.stderr


def test_a_param_the_strategy_lacks_goes_to_its_sampler():
    args = ["solve", "What is 6 * 7?", "--backend", "fake", "-n", "4", "--sampler", "mixed", "-p", "first=1"]
    out = ponder(*args, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["run_config"]["strategy_params"] == {"n": 4, "sampler": {"strategy": "mixed", "first": 1}}
    # the fake model reasons in prose: the one program-aided sample abstains, the 3 reasoning ones answer
    assert [c["answer"] is None for c in data["candidates"]] == [True, False, False, False]
    bad = ponder("solve", "q", "--backend", "fake", "--sampler", "mixed", "-p", "firsts=1")
    assert bad.returncode == 2 and "unknown parameter 'firsts' for self_consistency or its sampler mixed" in bad.stderr


def test_a_param_reaches_a_sampler_set_in_the_config_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("strategy: self_consistency\nstrategy_params:\n  n: 3\n  sampler: {strategy: mixed}\n")
    out = ponder("solve", "What is 6 * 7?", "--backend", "fake", "--config", str(config), "-p", "first=2", "--json")
    assert out.returncode == 0, out.stderr
    params = json.loads(out.stdout)["run_config"]["strategy_params"]
    assert params == {"n": 3, "sampler": {"strategy": "mixed", "first": 2}}
