"""RunConfig: everything that defines a solve run, loadable from YAML/TOML and savable for reproduction.

Flags on the command line override values from a config file. ``RunConfig.to_dict`` is what
``--save-config`` writes and ``--json`` reports, so a run can be repeated exactly.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ponder.errors import ConfigError


@dataclass(frozen=True)
class RunConfig:
    """A complete, reproducible description of a run."""

    strategy: str = "self_consistency"
    """Registry name of the strategy."""
    strategy_params: dict[str, Any] = field(default_factory=dict)
    """The strategy's parameters (see ``ponder strategies``)."""
    backend: str = "llamacpp"
    """Registry name of the backend."""
    model: str | None = None
    """Catalogue name, GGUF path, or server model id; None = the backend's default."""
    backend_options: dict[str, Any] = field(default_factory=dict)
    """Backend-specific options (n_threads, base_url, ...)."""
    task: str = "math"
    """Registry name of the task used to prompt, extract and compare answers."""
    task_options: dict[str, Any] = field(default_factory=dict)
    scorer: str | None = None
    """Outcome scorer for strategies that rank candidates (judge, confidence, rule)."""
    scorer_options: dict[str, Any] = field(default_factory=dict)
    filters: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Candidate filters (guardrails): (registry name, options) pairs."""
    temperature: float = 0.8
    max_tokens: int = 1024
    seed: int | None = 0
    """Seeds every sampler; the same seed gives the same answer."""

    def __post_init__(self) -> None:
        for name in ("strategy_params", "backend_options", "task_options", "scorer_options"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"config field {name} must be a mapping, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def merged(self, **overrides: Any) -> RunConfig:
        """A copy with the non-None overrides applied (dict fields are merged key by key)."""
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if value is None:
                continue
            current = getattr(self, key)
            changes[key] = {**current, **value} if isinstance(current, dict) else value
        return dataclasses.replace(self, **changes)


def load_config(path: str | Path) -> RunConfig:
    """Read a RunConfig from a .yaml/.yml/.toml/.json file; unknown keys are an error."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = tomllib.loads(p.read_text()) if p.suffix == ".toml" else yaml.safe_load(p.read_text())
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot parse config {p}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {p} must hold a mapping at the top level, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {p}; known: {', '.join(sorted(known))}")
    if "filters" in data:
        data["filters"] = [_filter_entry(f) for f in data["filters"]]
    return RunConfig(**data)


def _filter_entry(entry: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and "name" in entry:
        return entry["name"], {k: v for k, v in entry.items() if k != "name"}
    if isinstance(entry, list | tuple) and len(entry) == 2:
        return str(entry[0]), dict(entry[1])
    raise ConfigError(f"a filter must be a name or a mapping with 'name', got {entry!r}")


def save_config(config: RunConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
