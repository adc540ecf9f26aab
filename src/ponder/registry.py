"""Named registries of factories (backends, strategies, scorers, tasks, filters).

An entry is either an object or a lazy ``"module:attr"`` string imported on first use, so heavy optional
dependencies load only when their entry is asked for. Third-party packages add entries through the entry
point group ``ponder.<kind>`` (e.g. ``ponder.strategies``). Unknown names raise ConfigError with
"did you mean" suggestions. Registries are built once in ``ponder.catalog``; there is no global state here.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar, cast

from ponder.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping from names to factories of ``T``, with lazy entries and helpful errors."""

    def __init__(self, kind: str, entries: dict[str, str | T] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, str | T] = dict(entries or {})
        self._plugins_loaded = False

    def register(self, name: str, entry: str | T) -> None:
        """Add ``entry`` under ``name``; a name may be registered only once."""
        if name in self._entries:
            raise ConfigError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The entry for ``name``, importing it if it is lazy."""
        self._load_plugins()
        if name not in self._entries:
            raise ConfigError(self._unknown_message(name))
        entry = self._entries[name]
        if isinstance(entry, str):
            loaded = cast(T, _import(entry))
            self._entries[name] = loaded
            return loaded
        return entry

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(sorted(self._entries))}"

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=f"ponder.{self.kind}s"):
            self._entries.setdefault(ep.name, ep.value)


def _import(path: str) -> Callable[..., object]:
    module, _, attr = path.partition(":")
    try:
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except ImportError as exc:
        raise ConfigError(f"cannot import {path!r}: {exc}. Is its optional extra installed?") from exc
    return obj  # type: ignore[return-value]
