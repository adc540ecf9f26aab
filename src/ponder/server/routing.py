"""Turn a request's ``model``, ``ponder`` field and ``reasoning_effort`` into what to run (a RunSpec).

Model strings:
- ``ponder:<strategy>`` or ``ponder:<strategy>?key=value&...``: that strategy; each value is converted to
  the type of the strategy's parameter (``ponder.introspect.coerce``).
- the base model's id (as listed by ``/v1/models``): plain sampling, one backend sample per choice, unless
  the request has a ``ponder`` field or ``reasoning_effort``, which selects the server's default strategy
  (``self_consistency``) or the field's ``strategy``.
The ``ponder`` field holds ``strategy``, the strategy's parameters (JSON values; strings are converted like
query values; a nested strategy is ``{"strategy": name, ...}``) and the reserved keys ``task``, ``solve_with``
(reasoning|program, for math tasks), ``scorer`` and ``trace``, which may also appear in the query string; the
field wins over the query string.
``reasoning_effort`` (low|medium|high) fills in the strategy's budget parameters through
``strategies.effort.apply_effort``; parameters given explicitly win. Strategies that cannot run without a
scorer get the server's default scorer when the request names none. Every mistake is a 400 (404 for an
unknown model) with a did-you-mean from the registry where one applies. This module runs nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from ponder.api import get_strategy
from ponder.errors import ConfigError
from ponder.introspect import coerce
from ponder.server.errors import APIError, bad_request
from ponder.server.state import ServerState
from ponder.strategies.base import Strategy
from ponder.strategies.effort import EFFORT_LEVELS, apply_effort

PREFIX = "ponder:"
RESERVED = ("task", "solve_with", "scorer", "trace")
NEEDS_SCORER = frozenset({"best_of_n", "beam_search", "lookahead", "mcts", "tree_of_thought", "forest_of_thought"})
"""Strategies that refuse to run without a scorer (in their default configuration)."""


@dataclass(frozen=True)
class RunSpec:
    """What a chat request runs. ``strategy`` None means plain sampling from the base model."""

    strategy: Strategy | None
    task: str
    scorer: str | None = None
    trace: bool = False
    solve_with: str | None = None
    """How a math task asks the model to solve ("reasoning" or "program"); None keeps the task's default."""


def model_ids(state: ServerState) -> list[str]:
    """Every model id the server answers to: the base model first, then one per strategy."""
    return [state.model_id, *(PREFIX + name for name in state.registries.strategies.names())]


def resolve(state: ServerState, model: str, field: Mapping[str, Any] | None, effort: str | None) -> RunSpec:
    """The RunSpec of a chat request (raises APIError for a bad model, strategy or parameter)."""
    name, query = parse_model(state, model)
    options = dict(field or {})
    asked = options.pop("strategy", None)
    if asked is not None and not isinstance(asked, str):
        raise bad_request(f"ponder.strategy must be a strategy name, got {asked!r}", "ponder.strategy")
    if name and asked and asked != name:
        raise bad_request(f"model names strategy {name!r} but ponder.strategy is {asked!r}", "ponder.strategy")
    name = name or asked
    if name is None and (field is not None or effort is not None):
        name = state.default_strategy
    reserved = {**_pop_reserved(query), **_pop_reserved(options)}
    task = str(reserved.get("task", state.task))
    if name is None:
        return RunSpec(None, task)
    strategy = _build(state, name, query, options, effort)
    scorer = reserved.get("scorer") or (state.default_scorer if name in NEEDS_SCORER else None)
    if scorer is not None:
        _known(state, "scorers", str(scorer), "ponder.scorer")
    solve_with = None if reserved.get("solve_with") is None else str(reserved["solve_with"])
    trace = _flag(reserved.get("trace", False))
    return RunSpec(strategy, task, str(scorer) if scorer else None, trace, solve_with)


def parse_model(state: ServerState, model: str) -> tuple[str | None, dict[str, Any]]:
    """(strategy name or None, raw query parameters) of a model string."""
    if not model.startswith(PREFIX):
        if model == state.model_id:
            return None, {}
        close = difflib.get_close_matches(model, model_ids(state), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise APIError(
            404,
            f"unknown model {model!r}.{hint} This server has {state.model_id!r} and ponder:<strategy> "
            "(see GET /v1/models)",
            "not_found_error",
            "model",
            "model_not_found",
        )
    name, _, query = model[len(PREFIX) :].partition("?")
    _known(state, "strategies", name, "model")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise bad_request(f"malformed parameters in model {model!r}: {exc}", "model") from None
    return name, dict(pairs)


def _build(
    state: ServerState, name: str, query: dict[str, Any], options: dict[str, Any], effort: str | None
) -> Strategy:
    cls = state.registries.strategies.get(name)
    params = {**_coerced(cls, query, "model"), **_coerced(cls, options, "ponder")}
    if effort is not None:
        if effort not in EFFORT_LEVELS:
            levels = ", ".join(EFFORT_LEVELS)
            raise bad_request(f"reasoning_effort must be one of {levels}, got {effort!r}", "reasoning_effort")
        params = apply_effort(name, effort, params)
    try:
        return get_strategy(name, state.registries, **params)
    except ConfigError as exc:
        raise bad_request(str(exc), "ponder", "invalid_parameter") from None
    except TypeError as exc:
        raise bad_request(f"bad parameter for strategy {name!r}: {exc}", "ponder", "invalid_parameter") from None


def _coerced(cls: type, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Parameters with string values converted to the parameter's type."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            out[key] = coerce(cls, key, value) if isinstance(value, str) else value
        except ConfigError as exc:
            raise bad_request(str(exc), f"{where}.{key}" if where == "ponder" else where, "invalid_parameter") from None
    return out


def _pop_reserved(params: dict[str, Any]) -> dict[str, Any]:
    return {key: params.pop(key) for key in RESERVED if key in params}


def _known(state: ServerState, kind: str, name: str, param: str) -> None:
    """A 400 with the registry's did-you-mean when ``name`` is not registered."""
    try:
        getattr(state.registries, kind).get(name)
    except ConfigError as exc:
        code = "unknown_strategy" if kind == "strategies" else f"unknown_{kind[:-1]}"
        raise bad_request(str(exc), param, code) from None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)
