"""Registry: find processes by any hashable key, such as ("researcher", session_id)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import Any, Final

from ._process import Down, Process

__all__ = ["ANY", "AlreadyRegistered", "Registry"]


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any()
"""Wildcard for select(): ("researcher", ANY) matches every researcher key of that shape."""


class AlreadyRegistered(KeyError):
    """The key is held by another live process."""


class Registry:
    """Key -> live process. An entry vanishes when its process exits."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[Process, int]] = {}

    def register(self, key: Hashable, process: Process) -> None:
        current = self._entries.get(key)
        if current is not None and current[0] is not process and current[0].alive:
            raise AlreadyRegistered(f"{key!r} is already registered to {current[0]!r}")
        if not process.alive and process.exit_reason is not None:
            raise ValueError(f"cannot register {key!r}: {process!r} has exited")
        if current is not None:
            current[0].remove_monitor(current[1])
        ref = process.add_monitor(lambda down: self._on_exit(key, down))
        self._entries[key] = (process, ref)

    def _on_exit(self, key: Hashable, down: Down) -> None:
        current = self._entries.get(key)
        if current is not None and current[0] is down.process:  # not a newer incarnation's entry
            del self._entries[key]

    def unregister(self, key: Hashable) -> None:
        current = self._entries.pop(key, None)
        if current is not None:
            current[0].remove_monitor(current[1])

    def lookup(self, key: Hashable) -> Process | None:
        entry = self._entries.get(key)
        return entry[0] if entry is not None else None

    def select(self, pattern: Any) -> list[tuple[Hashable, Process]]:
        """Entries whose key matches: a tuple pattern with ANY wildcards, or a predicate on keys."""
        match: Callable[[Hashable], bool] = pattern if callable(pattern) else lambda k: _matches(pattern, k)
        return [(k, p) for k, (p, _) in self._entries.items() if match(k)]

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._entries))


def _matches(pattern: Any, key: Any) -> bool:
    if pattern is ANY:
        return True
    if isinstance(pattern, tuple):
        return (
            isinstance(key, tuple)
            and len(key) == len(pattern)
            and all(_matches(p, k) for p, k in zip(pattern, key, strict=True))
        )
    return bool(pattern == key)
