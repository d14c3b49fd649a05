"""The spool: events a graph file would not take (read-only, full, damaged), one JSON object per line in
a writable cache directory, and `load_spool` to put them into a graph file later. Nothing recorded is
dropped: when no directory takes a spool either, the recorder holds the events in memory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import typing
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import events as _events
from ..events import EventBus
from ._columns import plain
from ._store import GraphStore

__all__ = ["default_spool_dir", "load_spool", "new_spool", "spool_lines"]


def default_spool_dir() -> Path:
    """Where events go when the graph file cannot take them: `$XDG_CACHE_HOME/loom-nb/spool`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "loom-nb" / "spool"


def new_spool(stem: str, tag: str, preferred: Path | None) -> Path | None:
    """A new spool file in the first directory that takes one (None: none did)."""
    name = f"{stem}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{tag}.jsonl"
    dirs = [preferred] if preferred is not None else []
    dirs += [default_spool_dir(), Path(tempfile.gettempdir()) / "loom-nb-spool"]
    for directory in dirs:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / name
            path.touch()
            return path
        except OSError:
            continue
    return None


def spool_lines(events: Iterable[Any]) -> str:
    return "".join(json.dumps(_event_dict(e), default=plain) + "\n" for e in events)


def _event_dict(event: Any) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}


_EVENT_TYPES: dict[str, type] = {
    t.__dataclass_fields__["kind"].default: t  # type: ignore[attr-defined]
    for t in typing.get_args(_events.Event)
}


def _read_spool(lines: Iterable[str]) -> Iterable[Any]:
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        data = json.loads(line)
        event_type = _EVENT_TYPES.get(data.get("kind"))
        if event_type is None:
            raise ValueError(f"line {n}: unknown event kind {data.get('kind')!r}")
        names = {f.name for f in dataclasses.fields(event_type)}
        for name, value in data.items():  # JSON arrays back to the tuples the events hold
            if isinstance(value, list):
                data[name] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        if event_type is _events.PlanMade:
            data["tasks"] = tuple(
                _events.PlannedTask(**{**t, "deps": tuple(tuple(d) for d in t.get("deps", ()))})
                for t in data.get("tasks", ())
            )
        yield event_type(**{k: v for k, v in data.items() if k in names})


def load_spool(
    spool: str | os.PathLike[str], db: str | os.PathLike[str] | None = None, *, project: str | os.PathLike[str] = "."
) -> int:
    """Write the events a recorder spooled (see Recorder.failure) into a graph file; returns how many."""
    path = Path(spool)
    if not path.is_file():
        raise FileNotFoundError(f"no spool at {path}: the path is in the message of the failed session")
    from ._recorder import Recorder

    store = GraphStore(db) if db is not None else GraphStore(project=project)
    recorder = Recorder(store, max_attempts=1)
    bus = EventBus()
    recorder.attach(bus)
    count = 0
    try:
        with path.open(encoding="utf-8") as f:
            for event in _read_spool(f):
                bus.emit(event)
                count += 1
    finally:
        recorder.close()
    if recorder.failure is not None:
        raise RuntimeError(recorder.failure)
    return count
