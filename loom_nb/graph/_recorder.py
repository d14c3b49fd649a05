"""The recorder: subscribes to the event bus and writes batches to DuckDB from its own thread.

Emitting costs an append to a deque (about a microsecond). Every `flush_interval` (sooner when
`batch_size` events wait) the writer thread takes what is pending, turns it into column lists,
and inserts each table's rows from a DataFrame in one transaction (executemany measured 100x
slower here). A batch is atomic: a kernel killed mid-write loses at most that batch, and the
next open finds the file intact. The writer keeps its connection while events keep coming (an
open and a close cost 24 ms, four times a batch) and lets go when idle for `idle_release`
seconds or when another process asks for the file (see _store.py).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..events import (
    AgentSpawned,
    AgentStatus,
    EventBus,
    LLMCall,
    SessionEnded,
    SessionStarted,
    ToolCallEvent,
)
from ._store import GraphStore

__all__ = ["Recorder"]

log = logging.getLogger("loom_nb.recorder")

_ENDED = frozenset({"done", "crashed", "cancelled"})
_skip_fields = frozenset({"session_id", "agent", "kind", "ts"})
_payload_fields: dict[type, tuple[str, ...]] = {}


def _payload(event: Any) -> str:
    cls = type(event)
    names = _payload_fields.get(cls)
    if names is None:
        names = _payload_fields[cls] = tuple(f.name for f in dataclasses.fields(event) if f.name not in _skip_fields)
    return json.dumps({n: getattr(event, n) for n in names}, default=str)


_LLM_COLUMNS = (
    "session_id",
    "agent",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "latency_s",
    "retries",
    "error",
    "ts",
)
_TOOL_COLUMNS = ("session_id", "agent", "tool", "call_id", "args_summary", "duration_s", "outcome", "error", "ts")


def _frame(pd: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Any:
    df = pd.DataFrame.from_records(rows, columns=list(columns))
    df["ts"] = pd.to_datetime(df["ts"], unit="s")
    return df


@dataclasses.dataclass(frozen=True)
class _Insert:
    table: str
    """The registered batch frame the statements read."""
    statements: tuple[str, ...]


_INSERT_EVENTS = _Insert(
    "batch_events",
    (
        "INSERT INTO events (session_id, agent, kind, ts, payload) SELECT session_id, agent, kind, ts, payload "
        "FROM batch_events",
    ),
)
_INSERT_LLM = _Insert(
    "batch_llm",
    (
        f"INSERT INTO llm_calls ({', '.join(_LLM_COLUMNS)}) SELECT * FROM batch_llm",
        """INSERT INTO events (session_id, agent, kind, ts, payload)
       SELECT session_id, agent, 'llm_call', ts, to_json({'model': model, 'input_tokens': input_tokens,
           'output_tokens': output_tokens, 'cache_read_tokens': cache_read_tokens,
           'cache_write_tokens': cache_write_tokens, 'cost_usd': cost_usd, 'latency_s': latency_s,
           'retries': retries, 'error': error}) FROM batch_llm""",
        """UPDATE sessions SET
           input_tokens = sessions.input_tokens + d.i, output_tokens = sessions.output_tokens + d.o,
           cache_read_tokens = sessions.cache_read_tokens + d.cr,
           cache_write_tokens = sessions.cache_write_tokens + d.cw,
           cost_usd = sessions.cost_usd + d.c, unpriced_calls = sessions.unpriced_calls + d.u
       FROM (SELECT session_id, sum(input_tokens) i, sum(output_tokens) o, sum(cache_read_tokens) cr,
                    sum(cache_write_tokens) cw, coalesce(sum(cost_usd), 0) c,
                    count(*) FILTER (WHERE cost_usd IS NULL AND error IS NULL) u
             FROM batch_llm GROUP BY session_id) d
       WHERE sessions.id = d.session_id""",
    ),
)
_INSERT_TOOLS = _Insert(
    "batch_tools",
    (
        f"INSERT INTO tool_calls ({', '.join(_TOOL_COLUMNS)}) SELECT * FROM batch_tools",
        """INSERT INTO events (session_id, agent, kind, ts, payload)
       SELECT session_id, agent, 'tool_call', ts, to_json({'tool': tool, 'call_id': call_id,
           'args_summary': args_summary, 'duration_s': duration_s, 'outcome': outcome, 'error': error})
       FROM batch_tools""",
    ),
)


class Recorder:
    """Writes every event of a bus to a GraphStore, in batches, on a thread of its own.

    `with Recorder(store).attach(bus):` ... or `recorder.start()`, `recorder.close()`.
    `flush()` returns once everything emitted before it is on disk.
    """

    def __init__(
        self,
        store: GraphStore,
        *,
        flush_interval: float = 0.1,
        batch_size: int = 5000,
        idle_release: float = 1.0,
        on_flush: Callable[[int], None] | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be > 0; got {flush_interval}")
        self.store = store
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        """Wake the writer early once this many events wait (keeps latency flat under a flood)."""
        self.idle_release = idle_release
        self._con: Any = None
        self._last_write = 0.0
        self.on_flush = on_flush
        """Called on the writer thread after each batch commits, with the total written so far."""
        self._pending: deque[Any] = deque()
        self._emitted = itertools.count(1)
        self._last_emitted = 0
        self._written = 0
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._implicit_sessions: set[str] = set()
        self._known_sessions: set[str] = set()
        self._failures = 0
        self.pid = os.getpid()
        self.host = socket.gethostname()

    # the emitting side: as cheap as it gets ----------------------------------------------

    def __call__(self, event: Any) -> None:
        self._pending.append(event)
        self._last_emitted = next(self._emitted)
        if len(self._pending) >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    def attach(self, bus: EventBus) -> Recorder:
        self._unsubscribe.append(bus.subscribe(self))
        if self._thread is None:
            self.start()
        return self

    # lifecycle ------------------------------------------------------------------------------

    def start(self) -> Recorder:
        if self._thread is not None:
            raise RuntimeError("this Recorder is already running")
        from ._store import GraphBusy

        try:
            with self.store.connect():
                pass  # create or migrate the file now, not in the middle of the first batch
        except GraphBusy:
            pass  # another process has it for now: the writer thread retries until it gets it
        self._thread = threading.Thread(target=self._run, name="loom-recorder", daemon=True)
        self._thread.start()
        return self

    def flush(self, timeout: float | None = 30.0) -> int:
        """Block until every event emitted so far is written; returns how many have been."""
        target = self._last_emitted
        self._wake.set()
        with self._cond:
            if not self._cond.wait_for(lambda: self._written >= target or self._thread is None, timeout):
                raise TimeoutError(f"the recorder has not written {target - self._written} events after {timeout} s")
        return self._written

    def close(self) -> None:
        """Write what is pending, end implicit sessions, stop the thread."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._thread is None:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._thread = None
        self._close_implicit_sessions()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def written(self) -> int:
        return self._written

    # the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                stopping = self._stopping
                self._write_pending()
                self._maybe_release()
                if stopping and not self._pending:
                    return
        finally:
            self._release()

    def _connection(self) -> Any:
        if self._con is None:
            self._con = self.store.open()
            # DuckDB checkpoints every 16 MiB of WAL by default, a pause of hundreds of ms in the middle of a
            # flood. While the recorder holds the file, checkpoint at 256 MiB; letting go checkpoints anyway.
            self._con.execute("SET checkpoint_threshold = '256MiB'")
        return self._con

    def _release(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            con.close()

    def _maybe_release(self) -> None:
        if self._con is None:
            return
        if self.store.release_requested():
            self._release()
            # Give the asking process the file until it is done (it removes its request) or 0.5 s.
            deadline = time.monotonic() + 0.5
            while self.store.release_requested() and time.monotonic() < deadline and not self._stopping:
                self._wake.wait(0.01)
        elif time.monotonic() - self._last_write > self.idle_release:
            self._release()

    def _write_pending(self) -> None:
        batch: list[Any] = []
        pending = self._pending
        while pending:
            batch.append(pending.popleft())
        if not batch:
            return
        try:
            self._write(batch)
        except Exception:
            # Keep the events: they go first into the next attempt. Nothing recorded is lost.
            pending.extendleft(reversed(batch))
            self._release()
            self._failures += 1
            if self._failures in (1, 10, 100):
                log.exception(
                    "recorder: writing %d events to %s failed (attempt %d); retrying",
                    len(batch),
                    self.store.path,
                    self._failures,
                )
            time.sleep(min(0.05 * self._failures, 1.0))  # back off before the next attempt
            return
        self._failures = 0
        self._last_write = time.monotonic()
        with self._cond:
            self._written += len(batch)
            self._cond.notify_all()
        if self.on_flush is not None:
            self.on_flush(self._written)

    def _write(self, batch: list[Any]) -> None:
        import pandas as pd

        ev_sid, ev_agent, ev_kind, ev_ts, ev_payload = [], [], [], [], []
        llm: list[tuple[Any, ...]] = []
        tools: list[tuple[Any, ...]] = []
        started: list[SessionStarted] = []
        ended: list[SessionEnded] = []
        spawns: dict[str, list[AgentSpawned]] = {}
        statuses: dict[str, AgentStatus] = {}
        first_ts: dict[str, float] = {}
        for e in batch:
            if e.session_id not in first_ts:
                first_ts[e.session_id] = e.ts
            # The two kinds that make up the volume get their events-table rows (payload included)
            # from SQL over their own batch frame, not from json.dumps per event.
            if isinstance(e, LLMCall):
                llm.append(
                    (
                        e.session_id,
                        e.agent,
                        e.model,
                        e.input_tokens,
                        e.output_tokens,
                        e.cache_read_tokens,
                        e.cache_write_tokens,
                        e.cost_usd,
                        e.latency_s,
                        e.retries,
                        e.error,
                        e.ts,
                    )
                )
                continue
            if isinstance(e, ToolCallEvent):
                tools.append(
                    (e.session_id, e.agent, e.tool, e.call_id, e.args_summary, e.duration_s, e.outcome, e.error, e.ts)
                )
                continue
            ev_sid.append(e.session_id)
            ev_agent.append(e.agent)
            ev_kind.append(e.kind)
            ev_ts.append(e.ts)
            ev_payload.append(_payload(e))
            if isinstance(e, AgentSpawned):
                spawns.setdefault(f"{e.session_id}/{e.agent}", []).append(e)
            elif isinstance(e, AgentStatus):
                statuses[f"{e.session_id}/{e.agent}"] = e
            elif isinstance(e, SessionStarted):
                started.append(e)
            elif isinstance(e, SessionEnded):
                ended.append(e)

        frames: dict[str, Any] = {}
        if ev_sid:
            frames["batch_events"] = pd.DataFrame(
                {
                    "session_id": ev_sid,
                    "agent": ev_agent,
                    "kind": ev_kind,
                    "ts": pd.to_datetime(ev_ts, unit="s"),
                    "payload": ev_payload,
                }
            )
        if llm:
            frames["batch_llm"] = _frame(pd, _LLM_COLUMNS, llm)
        if tools:
            frames["batch_tools"] = _frame(pd, _TOOL_COLUMNS, tools)

        con = self._connection()
        con.execute("BEGIN TRANSACTION")
        try:
            for name, df in frames.items():
                con.register(name, df)
            self._ensure_sessions(con, first_ts, started, pd)
            for sql in (_INSERT_EVENTS, _INSERT_LLM, _INSERT_TOOLS):
                if sql.table in frames:
                    for statement in sql.statements:
                        con.execute(statement)
            self._write_agents(con, spawns, statuses, pd)
            for e in ended:
                con.execute(
                    "UPDATE sessions SET status = ?, ended_at = to_timestamp(?)::TIMESTAMP WHERE id = ?",
                    [e.status, e.ts, e.session_id],
                )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            for name in (*frames, "batch_sessions", "batch_spawns", "batch_status"):
                con.unregister(name)
        con.execute("COMMIT")
        for e in ended:
            self._implicit_sessions.discard(e.session_id)

    def _ensure_sessions(self, con: Any, first_ts: dict[str, float], started: list[SessionStarted], pd: Any) -> None:
        explicit = {e.session_id: e for e in started}
        new = [sid for sid in first_ts if sid not in self._known_sessions]
        if not new:
            return
        existing = {
            r[0]
            for r in con.execute("SELECT id FROM sessions WHERE id IN (SELECT unnest(?::VARCHAR[]))", [new]).fetchall()
        }
        rows = []
        for sid in new:
            self._known_sessions.add(sid)
            if sid in existing:
                continue
            e = explicit.get(sid)
            if e is None:
                self._implicit_sessions.add(sid)
            rows.append(
                (
                    sid,
                    e.title if e else "",
                    e.intent if e else None,
                    "running",
                    json.dumps(list(e.models)) if e else None,
                    e.project if e else None,
                    self.pid,
                    self.host,
                    e.ts if e else first_ts[sid],
                )
            )
        if rows:
            df = pd.DataFrame.from_records(
                rows,
                columns=[
                    "id",
                    "title",
                    "intent",
                    "status",
                    "models",
                    "project",
                    "writer_pid",
                    "writer_host",
                    "started_at",
                ],
            )
            df["started_at"] = pd.to_datetime(df["started_at"], unit="s")
            con.register("batch_sessions", df)
            con.execute("""INSERT INTO sessions (id, title, intent, status, models, project, writer_pid, writer_host,
                started_at) SELECT * FROM batch_sessions""")

    def _write_agents(
        self, con: Any, spawns: dict[str, list[AgentSpawned]], statuses: dict[str, AgentStatus], pd: Any
    ) -> None:
        if spawns:
            rows = []
            for aid, events in spawns.items():
                first = events[0]
                rows.append(
                    (
                        aid,
                        first.session_id,
                        first.agent,
                        first.role,
                        first.model,
                        first.parent,
                        "running",
                        len(events) - 1,
                        events[-1].ts,
                    )
                )
            df = pd.DataFrame.from_records(
                rows,
                columns=["id", "session_id", "name", "role", "model", "parent", "status", "restarts", "started_at"],
            )
            df["started_at"] = pd.to_datetime(df["started_at"], unit="s")
            con.register("batch_spawns", df)
            con.execute("""INSERT INTO agents (id, session_id, name, role, model, parent, status, restarts, started_at)
                SELECT * FROM batch_spawns
                ON CONFLICT (id) DO UPDATE SET restarts = agents.restarts + excluded.restarts + 1,
                    status = 'running', model = excluded.model, ended_at = NULL""")
        if statuses:
            rows = [
                (aid, e.session_id, e.agent, e.status, e.ts if e.status in _ENDED else None)
                for aid, e in statuses.items()
            ]
            df = pd.DataFrame.from_records(rows, columns=["id", "session_id", "name", "status", "ended_at"])
            df["ended_at"] = pd.to_datetime(df["ended_at"], unit="s")
            con.register("batch_status", df)
            con.execute("""INSERT INTO agents (id, session_id, name, status, ended_at)
                SELECT id, session_id, name, status, ended_at FROM batch_status
                ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at""")

    def _close_implicit_sessions(self) -> None:
        """Sessions that began without a SessionStarted (a bare sub-agent run) end when the recorder does."""
        if not self._implicit_sessions:
            return
        ids = sorted(self._implicit_sessions)
        self._implicit_sessions.clear()
        with self.store.transaction() as con:
            con.execute(
                """UPDATE sessions SET status = 'done',
                    ended_at = (SELECT max(ts) FROM events WHERE events.session_id = sessions.id)
                WHERE id IN (SELECT unnest(?::VARCHAR[])) AND status = 'running'""",
                [ids],
            )
