"""Difficulty estimators, bins, Spearman; the policy file: validation, errors, mismatch warnings, choice."""

from __future__ import annotations

import json
import math

import pytest

from ponder.adaptive.difficulty import bin_of, difficulty, quantile_edges, spearman
from ponder.adaptive.policy import Entry, Policy, check_policy, default_policy, load_policy, save_policy, task_label
from ponder.errors import ConfigError


def test_estimators_rank_agreeing_probes_as_easy():
    assert difficulty("agreement", ["1", "1", "1", "1"]) == 0.0
    assert difficulty("agreement", ["1", "1", "2", None]) == 0.5
    assert difficulty("entropy", ["1", "1", "1", "1"]) == 0.0
    assert difficulty("entropy", ["1", "2", "3", None]) == pytest.approx(math.log(4))
    assert difficulty("verifier", ["1", "2"], [0.9, 0.5]) == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="needs a scorer"):
        difficulty("verifier", ["1"], None)
    with pytest.raises(ConfigError, match="'nope'"):
        difficulty("nope", ["1"])


def test_quantile_edges_merge_ties_and_bin_of_is_right_closed():
    assert quantile_edges([0.0, 0.25, 0.5, 0.75, 1.0], 2) == [0.5]
    assert quantile_edges([0.0] * 8 + [0.5, 0.75], 5) == [0.5]  # ties collapse bins
    assert (bin_of(0.0, [0.5]), bin_of(0.5, [0.5]), bin_of(0.9, [0.5])) == (0, 1, 1)


def test_spearman_uses_ranks_and_handles_constants():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def _policy(**changes):
    data = default_policy().model_dump()
    data.update(model="m", task="t", **changes)
    return data


def test_a_policy_round_trips_and_chooses_by_bin_and_budget(tmp_path):
    path = save_policy(Policy.model_validate(_policy()), tmp_path / "p.json")
    policy = load_policy(path)
    entry, why = policy.choose(1, 20)
    assert (entry.budget, entry.params) == (16, {"n": 16}) and "16" in why
    entry, why = policy.choose(1, 0)
    assert entry.budget == 1 and "below the cheapest entry" in why
    assert "mean over questions" not in policy.choose(1, 20)[1]
    mean = load_policy(save_policy(Policy.model_validate(_policy(budget_kind="mean")), tmp_path / "m.json"))
    assert mean.budget_kind == "mean" and "mean over questions" in mean.choose(1, 20)[1]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"model": "m"}), "task: Field required"),
        (json.dumps(_policy(estimator="vibes")), "unknown estimator 'vibes'"),
        (json.dumps(_policy(edges=[0.5, 0.1])), "edges must be increasing"),
        (json.dumps(_policy(entries=[{"bin": 7, "budget": 1, "strategy": "cot"}])), r"bin\(s\) \[7\]"),
        (json.dumps(_policy(probe=0)), "probe"),
        (json.dumps(_policy(budget_kind="median")), "budget_kind"),
    ],
)
def test_malformed_policies_are_config_errors_naming_the_file(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_policy(path)
    assert "bad.json" in str(info.value)


def test_a_missing_policy_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read policy file"):
        load_policy(tmp_path / "nope.json")


def test_a_policy_for_another_model_or_task_warns_naming_the_mismatch():
    policy = Policy.model_validate(_policy())
    said: list[str] = []
    check_policy(policy, "other-model", "t", said.append)
    assert said == ["policy was calibrated for model 'm' but this run uses model 'other-model'; its bins may not fit"]
    said.clear()
    check_policy(policy, "m", "t", said.append)
    check_policy(default_policy(), "anything", "else", said.append)
    assert said == []


def test_task_labels_name_program_aided_solving():
    assert task_label("gsm_symbolic") == task_label("gsm_symbolic", "reasoning") == "gsm_symbolic"
    assert task_label("gsm_symbolic", "program") == "gsm_symbolic, solve_with=program"
    assert task_label(None, "program") is None


def test_entries_validate_their_fields():
    with pytest.raises(ValueError, match="budget"):
        Entry(bin=0, budget=0, strategy="cot")
