"""Events as columns for DuckDB: each event class becomes one JSON object of columns (attrgetter, zip and
json.dumps: C code all the way), and SQL that unnests it into rows (from_json, with the GIL released).

This is the recorder's write path without pandas or pyarrow: importing them costs tens of MB, and
building frames holds the GIL, which the event loop (and a kernel's next cell) would feel.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from .. import events as _events

__all__ = ["TS", "Shape", "doc", "plain", "rows_doc", "shape", "table", "timestamp"]

_HEADER = ("session_id", "agent", "kind", "ts")


def timestamp(column: str = "ts") -> str:
    """SQL turning a column of epoch seconds into a naive-UTC TIMESTAMP, without the session's time zone."""
    return f"make_timestamp(({column} * 1000000)::BIGINT)"


TS = timestamp()


def _duck_type(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Literal:
        return "VARCHAR"
    if len(args) == 1 and typing.get_origin(hint) is not tuple:
        return _duck_type(args[0])
    return {str: "VARCHAR", int: "BIGINT", float: "DOUBLE", bool: "BOOLEAN"}.get(hint, "JSON")


@dataclasses.dataclass(frozen=True)
class Shape:
    """How one event class becomes columns: field names, their DuckDB types, and the SQL that reads them."""

    fields: tuple[str, ...]
    types: tuple[str, ...]
    get: Callable[[Any], tuple[Any, ...]]

    @classmethod
    def of(cls, event_type: type) -> Shape:
        hints = typing.get_type_hints(event_type, vars(_events))
        names = tuple(f.name for f in dataclasses.fields(event_type))
        return cls(names, tuple(_duck_type(hints.get(n)) for n in names), attrgetter(*names))

    @property
    def payload(self) -> tuple[str, ...]:
        return tuple(n for n in self.fields if n not in _HEADER)

    def rows(self, alias: str = "b") -> str:
        """A subquery: one row per event, one column per field, from the JSON text bound to `$alias`."""
        schema = json.dumps({n: [t] for n, t in zip(self.fields, self.types, strict=True)})
        cols = ", ".join(f'unnest(d."{n}") AS "{n}"' for n in self.fields)
        return f"(SELECT {cols} FROM (SELECT from_json(${alias}, '{schema}') AS d))"

    def events_select(self, alias: str) -> str:
        payload = ", ".join(f"'{n}': \"{n}\"" for n in self.payload)
        return (
            f"SELECT session_id, agent, kind, {TS}, to_json({{{payload}}})::JSON FROM {self.rows(alias)}"
            if payload
            else f"SELECT session_id, agent, kind, {TS}, '{{}}'::JSON FROM {self.rows(alias)}"
        )


_shapes: dict[type, Shape] = {}


def shape(event_type: type) -> Shape:
    found = _shapes.get(event_type)
    if found is None:
        found = _shapes[event_type] = Shape.of(event_type)
    return found


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def plain(value: Any) -> Any:
    """json.dumps' default: a nested dataclass (a plan's PlannedTask) as its fields, anything else as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def doc(shape: Shape, events: list[Any]) -> str:
    """The events of one class as one JSON object of columns (C code all the way: attrgetter, zip, dumps)."""
    doc = dict(zip(shape.fields, zip(*map(shape.get, events), strict=True), strict=True))
    try:
        return json.dumps(doc, default=plain, allow_nan=False)
    except ValueError:  # NaN or infinity from a model or tool: not JSON, so NULL
        return json.dumps({k: _finite(list(v)) for k, v in doc.items()}, default=plain)


def table(types: dict[str, str], alias: str = "b") -> str:
    """A subquery of rows from the JSON of columns bound to `$alias` (see rows_doc), one column per name."""
    schema = json.dumps({n: [t] for n, t in types.items()})
    cols = ", ".join(f'unnest(d."{n}") AS "{n}"' for n in types)
    return f"(SELECT {cols} FROM (SELECT from_json(${alias}, '{schema}') AS d))"


def rows_doc(names: tuple[str, ...], rows: Any) -> str:
    """Rows (tuples in the order of `names`) as one JSON object of columns: DuckDB binds one string,
    where a list parameter per column costs microseconds per value."""
    rows = list(rows)
    columns = zip(*rows, strict=True)
    try:
        return json.dumps(dict(zip(names, columns, strict=True)), default=plain, allow_nan=False)
    except ValueError:  # NaN or infinity: NULL
        columns = zip(*rows, strict=True)
        return json.dumps({n: _finite(list(c)) for n, c in zip(names, columns, strict=True)}, default=plain)
