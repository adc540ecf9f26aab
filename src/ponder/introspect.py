"""Describe and configure dataclass-based components (strategies) from their fields.

A strategy's parameters are its dataclass fields; their help text is the attribute docstring written under
each field. This module reads those (for ``ponder strategies``) and converts "key=value" strings from the
command line to the field's type, with errors that show the bad value.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import textwrap
import typing
from dataclasses import dataclass
from typing import Any

from ponder.errors import ConfigError


@dataclass(frozen=True)
class Param:
    """One parameter of a component."""

    name: str
    type: str
    default: Any
    help: str


def parameters(cls: type) -> list[Param]:
    """The parameters of a dataclass component, with help from attribute docstrings."""
    docs = _field_docs(cls)
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        type_name = getattr(hints.get(f.name), "__name__", None) or str(hints.get(f.name, f.type))
        out.append(Param(f.name, type_name.replace("typing.", ""), default, docs.get(f.name, "")))
    return out


def _field_docs(cls: type) -> dict[str, str]:
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, nxt in itertools.pairwise(body):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and _is_doc(nxt):
                docs[node.target.id] = " ".join(nxt.value.value.split())  # type: ignore[attr-defined]
    return docs


def _is_doc(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def coerce(cls: type, key: str, raw: str) -> Any:
    """Convert the command-line string ``raw`` to the type of field ``key`` of ``cls``."""
    hints = typing.get_type_hints(cls)
    if key not in {f.name for f in dataclasses.fields(cls)}:
        raise ConfigError(f"unknown parameter {key!r} for {getattr(cls, 'name', cls.__name__)}")
    kinds = [t for t in typing.get_args(hints[key]) or (hints[key],) if t is not type(None)]
    if raw.lower() in ("none", "null") and type(None) in typing.get_args(hints[key]):
        return None
    for kind in kinds:
        try:
            return _convert(kind, raw)
        except (ValueError, TypeError):
            continue
    raise ConfigError(
        f"parameter {key}={raw!r} is not a valid {' or '.join(getattr(k, '__name__', str(k)) for k in kinds)}"
    )


def _convert(kind: Any, raw: str) -> Any:
    if kind is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if kind in (int, float, str):
        return kind(raw)
    if typing.get_origin(kind) is typing.Literal:
        if raw in typing.get_args(kind):
            return raw
        raise ValueError(raw)
    return raw
