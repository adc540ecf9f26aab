"""The runner on the fake backend: full grids, resume, cache reuse, failures, workers, budget mapping."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ponder.backends.fake import FakeBackend, default_script
from ponder.errors import BackendError, ConfigError
from ponder.eval.config import EvalConfig
from ponder.eval.grid import budget_settings, make_cells
from ponder.eval.runner import Hooks, run_eval
from ponder.eval.store import RunStore

Make = Callable[..., EvalConfig]
PROBLEMS = 6


def records(out: Path) -> list[dict]:
    return RunStore(out).records()


def test_a_grid_writes_one_graded_record_per_cell_and_problem(make_config: Make):
    config = make_config()
    summary = run_eval(config, backend=FakeBackend())
    assert summary.expected == 3 * 2 * PROBLEMS == summary.written and summary.errors == 0
    rows = records(config.out)
    assert len({(r["config"], r["problem_id"]) for r in rows}) == len(rows) == summary.expected
    row = next(r for r in rows if r["budget"] == 4)
    assert row["n_candidates"] == 4 and len(row["candidate_correct"]) == 4 and row["params"]["n"] == 4
    assert row["level"] in (1, 2, 3) and row["usage"]["completion_tokens"] > 0 and row["usage"]["flops"] > 0
    for r in rows:
        assert r["correct"] == (r["answer"] == r["reference"])
    store = RunStore(config.out)
    assert all(store.trace(r)["candidates"] for r in rows)  # type: ignore[index]


def test_a_finished_run_reruns_for_free_and_a_larger_limit_runs_only_new_problems(make_config: Make):
    run_eval(make_config(limit=4), backend=FakeBackend())
    assert len(records(make_config().out)) == 6 * 4
    again = FakeBackend()
    summary = run_eval(make_config(), backend=again)
    assert summary.done_before == 6 * 4 and summary.written == 6 * 2
    assert len(records(make_config().out)) == 6 * PROBLEMS
    final = FakeBackend()
    summary = run_eval(make_config(), backend=final)
    assert summary.written == 0 and final.calls == []


def test_an_offset_runs_the_problems_after_it_and_shares_the_directory(make_config: Make):
    run_eval(make_config(limit=2), backend=FakeBackend())
    first = {r["problem_id"] for r in records(make_config().out)}
    summary = run_eval(make_config(limit=3, offset=2), backend=FakeBackend())
    assert summary.done_before == 0 and summary.written == 6 * 3  # none of the first two problems again
    later = {r["problem_id"] for r in records(make_config().out)} - first
    assert len(first) == 2 and len(later) == 3
    summary = run_eval(make_config(limit=None), backend=FakeBackend())
    assert summary.done_before == 6 * 5 and summary.written == 6 * 1
    with pytest.raises(ConfigError, match="-1"):
        make_config(offset=-1)


def test_smaller_budgets_replay_the_largest_from_the_cache(make_config: Make):
    fake = FakeBackend()
    summary = run_eval(make_config(seeds=(0,)), backend=fake)
    assert len(fake.calls) == 3  # budget 4 for 3 chunks of 2 problems; budgets 2 and 1 are cache hits
    assert summary.cache.hits == PROBLEMS * (2 + 1) and summary.cache.misses == PROBLEMS * 4
    rows = {(r["budget"], r["problem_id"]): r for r in records(make_config().out)}
    for pid in {p for _, p in rows}:
        assert rows[(2, pid)]["candidate_answers"] == rows[(4, pid)]["candidate_answers"][:2]
        assert rows[(1, pid)]["cache"]["hits"] == 1 and rows[(1, pid)]["cache"]["replayed_wall_seconds"] > 0
        assert rows[(1, pid)]["usage"]["completion_tokens"] > 0  # usage counts what the strategy used


def test_no_cache_gives_the_same_records_and_writes_no_cache(make_config: Make, tmp_path: Path):
    cached = make_config(seeds=(0,))
    run_eval(cached, backend=FakeBackend())
    plain = make_config(seeds=(0,), out=tmp_path / "plain", cache=False)
    fake = FakeBackend()
    run_eval(plain, backend=fake)
    assert len(fake.calls) == 3 * 3 and not (plain.out / "cache.sqlite").exists()
    answers = {(r["config"], r["problem_id"]): r["candidate_answers"] for r in records(cached.out)}
    assert answers == {(r["config"], r["problem_id"]): r["candidate_answers"] for r in records(plain.out)}


def test_workers_and_chunking_do_not_change_records_or_hashes(make_config: Make, tmp_path: Path):
    serial = make_config()
    run_eval(serial, backend=FakeBackend())
    threaded = make_config(out=tmp_path / "threads", workers=4, chunk_size=1)
    run_eval(threaded, backend=FakeBackend())
    first = {(r["config"], r["problem_id"]): (r["answer"], r["correct"]) for r in records(serial.out)}
    assert first == {(r["config"], r["problem_id"]): (r["answer"], r["correct"]) for r in records(threaded.out)}


def failing_on(word: str, exc: Exception) -> FakeBackend:
    def script(prompt: str, index: int, seed: int | None) -> str:
        if word in prompt:
            raise exc
        return default_script(prompt, index, seed)

    return FakeBackend(script)


@pytest.mark.parametrize("exc", [BackendError("server down"), RuntimeError("a bug")])
def test_a_failing_problem_is_an_error_the_rest_of_its_chunk_is_kept_and_a_rerun_retries(make_config: Make, exc):
    config = make_config(seeds=(0,))
    summary = run_eval(config, backend=failing_on("Question 3:", exc))
    assert summary.errors == 3 and summary.written == 3 * (PROBLEMS - 1)  # Question 2 shares its chunk
    errors = RunStore(config.out).errors()
    assert {e["problem_id"] for e in errors} == {"qa-4"} and type(exc).__name__ in errors[0]["error"]
    summary = run_eval(config, backend=FakeBackend())
    assert summary.written == 3 and summary.errors == 0
    assert len(records(config.out)) == 3 * PROBLEMS


def test_serial_backends_get_one_worker(make_config: Make):
    class Engine(FakeBackend):
        name = "llamacpp"

    notes: list[str] = []
    run_eval(make_config(workers=4, seeds=(0,), budgets=(1,)), backend=Engine(), hooks=Hooks(notify=notes.append))
    assert any("--workers 4 -> 1" in n for n in notes)


def test_progress_hooks_add_up(make_config: Make):
    totals: list[int] = []
    advanced: list[int] = []
    run_eval(make_config(), backend=FakeBackend(), hooks=Hooks(total=totals.append, advance=advanced.append))
    assert totals == [sum(advanced)] and totals[0] == 2 * PROBLEMS * (4 + 2 + 1)


def test_budget_mapping():
    assert budget_settings("self_consistency", 8, {}) == {"n": 8}
    assert budget_settings("beam_search", 2, {}, defaults={"beam_width": 4}) == {"n": 2, "beam_width": 2}
    assert budget_settings("beam_search", 6, {"beam_width": 4}) == {"n": 6, "beam_width": 3}
    assert budget_settings("revisions", 6, {}, defaults={"sequential": 4}) == {
        "n": 6,
        "sequential": 3,
        "parallel": None,
    }
    assert budget_settings("self_refine", 3, {}) == {"rounds": 3}
    assert budget_settings("budget_forcing", 64, {"min_thinking": 128}) == {"max_thinking": 64, "min_thinking": 64}
    assert budget_settings("my_plugin", 5, {}, extra={"my_plugin": "steps"}) == {"steps": 5}
    with pytest.raises(ConfigError, match="'cot' has no budget parameter"):
        budget_settings("cot", 1, {})
    with pytest.raises(ConfigError, match="clashes"):
        budget_settings("best_of_n", 4, {"n": 2})
    with pytest.raises(ConfigError, match="got 0"):
        budget_settings("best_of_n", 0, {})


def test_a_non_default_budget_parameter_is_its_own_series():
    def cell(strategy, extra):
        [c] = make_cells({"task": "t"}, (strategy,), (4,), (0,), {}, lambda s, p: p, lambda s: {}, extra)
        return c

    plain, named = cell("self_consistency", None), cell("self_consistency", {"self_consistency": "n"})
    assert (named.series, named.config) == (plain.series, plain.config)  # naming the default changes nothing
    steps, depth = cell("plugin", {"plugin": "steps"}), cell("plugin", {"plugin": "depth"})
    assert (steps.params, depth.params) == ({"steps": 4}, {"depth": 4}) and steps.series != depth.series


def test_beam_search_runs_at_every_budget(make_config: Make):
    config = make_config(strategies=("beam_search",), budgets=(1, 2, 8), seeds=(0,), scorer="rule")
    summary = run_eval(config, backend=FakeBackend())
    assert summary.errors == 0 and summary.written == 3 * PROBLEMS
    widths = {r["budget"]: r["params"]["beam_width"] for r in records(config.out)}
    assert widths == {1: 1, 2: 2, 8: 4}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"budgets": ()}, "budgets must not be empty"),
        ({"budgets": (1, 1)}, "repeated: 1"),
        ({"budgets": (0,)}, "got 0"),
        ({"seeds": (-1,)}, "got -1"),
        ({"workers": 0}, "workers must be an integer >= 1, got 0"),
        ({"limit": 0}, "limit must be an integer >= 1, got 0"),
        ({"temperature": -1.0}, "got -1.0"),
        ({"strategy_params": {"mcts": {}}}, "not in the run: mcts"),
    ],
)
def test_config_errors_show_the_bad_value(make_config: Make, changes: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        make_config(**changes)


def test_a_configuration_error_stops_the_run_instead_of_failing_every_problem(make_config: Make):
    config = make_config(strategies=("best_of_n",), seeds=(0,))  # best_of_n needs a scorer
    with pytest.raises(ConfigError, match="needs a scorer"):
        run_eval(config, backend=FakeBackend())
    assert RunStore(config.out).errors() == []
    with pytest.raises(ConfigError, match="needs a scorer"):
        run_eval(make_config(strategies=("best_of_n",), seeds=(0,), workers=3), backend=FakeBackend())


def test_a_backend_identity_beyond_its_model_name_is_part_of_the_configuration(make_config: Make, tmp_path: Path):
    class Served(FakeBackend):
        identity = "fake@http://b/v1"

    plain = make_config(out=tmp_path / "plain", budgets=(1,), seeds=(0,))
    served = make_config(out=tmp_path / "served", budgets=(1,), seeds=(0,))
    run_eval(plain, backend=FakeBackend())
    run_eval(served, backend=Served())
    [a], [b] = ({r["config"] for r in records(c.out)} for c in (plain, served))
    assert a != b  # a resumed run against another server redoes its problems instead of skipping them
    run_eval(plain, backend=FakeBackend())
    assert {r["config"] for r in records(plain.out)} == {a}  # no identity: the model decides, as before
