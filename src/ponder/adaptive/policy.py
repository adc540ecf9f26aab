"""The adaptive policy: for each difficulty bin and budget, which strategy (and parameters) to run.

A Policy is written by ``ponder calibrate`` and read by the ``adaptive`` strategy. It is a pydantic model
saved as JSON:

    version, model, task, scorer       what it was calibrated for
    estimator, probe, edges            how a question is binned: the estimator's difficulty over the first
                                       ``probe`` samples, cut at the inner bin ``edges`` (bin 0 = easiest)
    entries                            [{bin, budget, strategy, params, accuracy, problems}]
    correlations, validation, notes    what calibration measured (Spearman per estimator, held-out accuracy)

``budget`` is in samples (generations), the unit of ``eval.grid.BUDGET_PARAM``. With ``budget_kind``
"max" (the default) an entry for budget B spends at most B including the probe; with "mean" the entries for
budget B spend B per question on average over the calibration questions (easy bins less, hard bins more;
see ``adaptive.fit``). ``load_policy`` turns a missing, unreadable or malformed file into a
ConfigError naming the file and the bad field; ``check_policy`` warns when the policy was calibrated for
another model or task. ``default_policy`` is the built-in fallback used without a file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ponder.adaptive.difficulty import ESTIMATORS
from ponder.errors import ConfigError
from ponder.eval.grid import config_hash

__all__ = [
    "BUDGET_KINDS",
    "BudgetKind",
    "Entry",
    "Policy",
    "check_policy",
    "default_policy",
    "load_policy",
    "save_policy",
    "task_label",
]

BudgetKind = Literal["max", "mean"]
"""What a policy's budgets bound: every question's samples ("max") or their mean over questions ("mean")."""
BUDGET_KINDS: tuple[str, ...] = get_args(BudgetKind)


class Entry(BaseModel):
    """What to run for questions of one bin at one budget."""

    model_config = ConfigDict(extra="forbid")

    bin: int = Field(ge=0)
    budget: int = Field(ge=1)
    """Total samples this entry may spend, probe included."""
    strategy: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    """The strategy's parameters (budget parameter included)."""
    accuracy: float | None = Field(default=None, ge=0, le=1)
    """Accuracy measured on the calibration problems of this bin that the policy was fitted on (in-sample: the
    best of the cells that fit, so optimistic); batch budgets use it as the entry's value. None for the
    default policy."""
    problems: int = Field(default=0, ge=0)
    """Calibration problems of this bin it was measured on."""


class Policy(BaseModel):
    """A fitted adaptive policy (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    model: str
    task: str
    scorer: str | None = None
    budget_kind: BudgetKind = "max"
    """"max": every question within the budget; "mean": the budget is the mean over questions."""
    estimator: str
    probe: int = Field(ge=1)
    edges: list[float] = Field(default_factory=list)
    entries: list[Entry] = Field(min_length=1)
    correlations: dict[str, float | None] = Field(default_factory=dict)
    validation: dict[str, Any] = Field(default_factory=dict)
    notes: str = ""

    @field_validator("estimator")
    @classmethod
    def _known_estimator(cls, value: str) -> str:
        if value not in ESTIMATORS:
            raise ValueError(f"unknown estimator {value!r}; known: {', '.join(ESTIMATORS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.edges != sorted(self.edges):
            raise ValueError(f"edges must be increasing, got {self.edges}")
        bins = len(self.edges) + 1
        bad = sorted({e.bin for e in self.entries if e.bin >= bins})
        if bad:
            raise ValueError(f"entries name bin(s) {bad} but {len(self.edges)} edges make bins 0..{bins - 1}")
        return self

    @property
    def bins(self) -> int:
        return len(self.edges) + 1

    def digest(self) -> str:
        """16 hex digits of sha256 over the policy without its correlations, validation and notes (what can
        change its choices, entries' accuracies included, since batch budgets use them): two policies with
        the same digest choose alike, so a run's records can say which one they used."""
        return config_hash(self.model_dump(mode="json", exclude={"correlations", "validation", "notes"}))

    def choose(self, bin_: int, budget: int) -> tuple[Entry, str]:
        """The entry for ``bin_`` with the largest budget <= ``budget`` and a sentence saying how it was
        picked; below the cheapest entry, the cheapest (said so). A bin with no entries uses the nearest
        bin that has some."""
        have = sorted({e.bin for e in self.entries})
        use = min(have, key=lambda b: (abs(b - bin_), b))
        mine = sorted((e for e in self.entries if e.bin == use), key=lambda e: e.budget)
        note = "" if use == bin_ else f"bin {bin_} has no entries; using bin {use}. "
        fitting = [e for e in mine if e.budget <= budget]
        if not fitting:
            cheapest = mine[0]
            return cheapest, note + f"budget {budget} is below the cheapest entry ({cheapest.budget}); using it"
        best = fitting[-1]
        said = f"entry for budget {best.budget} (largest calibrated budget <= {budget})"
        if self.budget_kind == "mean":
            said += "; the budget is a mean over questions, so this bin's choice may spend more or less"
        return best, note + said


def default_policy(probe: int = 4, budgets: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)) -> Policy:
    """The built-in fallback (no calibration): questions whose probe samples all agree keep the probe's
    vote; the rest get self-consistency over the whole budget (the probe's samples reused)."""
    entries = []
    for budget in budgets:
        entries.append(Entry(bin=0, budget=budget, strategy="self_consistency", params={"n": min(probe, budget)}))
        entries.append(Entry(bin=1, budget=budget, strategy="self_consistency", params={"n": budget}))
    return Policy(
        model="*",
        task="*",
        estimator="agreement",
        probe=probe,
        edges=[1.0 / (2 * probe)],
        entries=entries,
        notes="built-in default (uncalibrated): unanimous probe -> its vote; otherwise self_consistency n=budget",
    )


def load_policy(path: str | Path) -> Policy:
    """Read a policy file; a ConfigError naming the file and the bad field when it is not a valid policy."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read policy file {str(path)!r}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"policy file {str(path)!r} is not JSON: {exc}") from exc
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise ConfigError(f"policy file {str(path)!r} is not a valid policy: {problems}") from exc


def save_policy(policy: Policy, path: str | Path) -> Path:
    """Write ``policy`` as indented JSON; the path written."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(policy.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def task_label(name: str | None, solve_with: str | None = None) -> str | None:
    """A task's identity in a policy: its name, plus how it is solved when that is not plain reasoning
    (a policy calibrated on program-aided answers does not fit reasoning, nor the other way round)."""
    if name is None or solve_with in (None, "reasoning"):
        return name
    return f"{name}, solve_with={solve_with}"


def check_policy(policy: Policy, model: str | None, task: str | None, warn: Callable[[str], None]) -> None:
    """Warn (through ``warn``) for each way the policy was calibrated for something else ("*" matches all)."""
    for what, mine, theirs in (("model", policy.model, model), ("task", policy.task, task)):
        if mine != "*" and theirs is not None and mine != theirs:
            warn(f"policy was calibrated for {what} {mine!r} but this run uses {what} {theirs!r}; its bins may not fit")
