"""The recorder: subscribes to the event bus and writes batches to DuckDB from its own thread.

Emitting costs an append to a deque (about a microsecond). Every `flush_interval` (sooner when
`batch_size` events wait) the writer thread takes what is pending, groups it by event class and
hands DuckDB one JSON text of columns per class (_columns.py); SQL unnests it into the tables and
builds the events' payloads. No pandas and no pyarrow on this path: they cost ~100 MB and hold the
GIL while frames are built, which the event loop (and a kernel's next cell) would feel. A batch costs
~10 ms of DuckDB work plus ~5-15 us per event; the writer wakes every 0.1 s, or as soon as 1,000
events wait, and takes everything pending (so under a flood batches grow by themselves): little is
left for close(), which is what a session's end waits for (N=100 agents: ~15 ms after the last
event). A batch is one transaction: a kernel killed mid-write loses at most that batch, and the next
open finds the file intact.

The writer opens the file once when it starts (creating or migrating it; a file that cannot be used
raises GraphFileError there), keeps the connection while events keep coming (opening a database costs
~11 ms of CPU, letting go a checkpoint) and lets go when idle for `idle_release` seconds or when
another process asks for the file (see _store.py). `close()` commits what is pending and returns at
once; the checkpoint of letting go happens after it has returned.

A specialist swarm's plans, task statuses, messages and test runs land in their tables (_tasks.py) in the
same transaction; with `project_decisions=True` the batch also draws them, with commits and approvals,
into the decision graph (_project.py: ~15-25 us more per such event).

A write that keeps failing (a read-only `.loom/`, a full disk) is retried `max_attempts` times, then
the recorder gives up: every event not written, and every later one, goes to a JSONL spool file in a
writable cache directory (_spool.py), `failure` says where, and `load_spool()` puts it into a graph
file later. A file another process holds is waited for (at most `busy_timeout` once closed).
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import json
import logging
import math
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..events import (
    ENDED_STATUSES,
    AgentSpawned,
    AgentStatus,
    ApprovalDecided,
    ApprovalRequested,
    CommitMade,
    EventBus,
    LLMCall,
    MessageSent,
    PlanMade,
    SessionEnded,
    SessionStarted,
    ShellRun,
    TaskStatus,
    TestRun,
    ToolCallEvent,
)
from ._columns import TS, doc, shape, timestamp
from ._project import project
from ._spool import new_spool, spool_lines
from ._store import GraphBusy, GraphStore, file_error, transaction_conflict
from ._tasks import write_messages, write_tasks, write_tests

__all__ = ["Recorder"]

log = logging.getLogger("loom_nb.recorder")


def _usage(calls: list[LLMCall]) -> dict[str, list[Any]]:
    """Token and cost totals per session (sessions.cost_usd adds the priced calls; unpriced ones are counted)."""
    out: dict[str, list[Any]] = {}
    for e in calls:
        t = out.get(e.session_id)
        if t is None:
            t = out[e.session_id] = [0, 0, 0, 0, 0.0, 0]
        t[0] += e.input_tokens
        t[1] += e.output_tokens
        t[2] += e.cache_read_tokens
        t[3] += e.cache_write_tokens
        if e.cost_usd is not None and math.isfinite(e.cost_usd):  # NaN or infinity is stored as NULL: unknown
            t[4] += e.cost_usd
        elif e.error is None:
            t[5] += 1
    return out


_LLM_COLUMNS = (
    "session_id, agent, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, "
    "latency_s, retries, error"
)
_TOOL_COLUMNS = "session_id, agent, tool, call_id, args_summary, duration_s, outcome, error"
_COMMIT_COLUMNS = "session_id, agent, task, sha, message, files, insertions, deletions"
_SHELL_COLUMNS = "session_id, agent, command, exit_code, output, duration_s, sandboxed, killed"
_ASKED_COLUMNS = "session_id, request_id, agent, role, tool, arguments, rule, reason, call_id"


_PROJECTED = frozenset({PlanMade, TaskStatus, CommitMade, TestRun, MessageSent, ApprovalDecided})
"""The event classes project_decisions turns into decision nodes."""

_closing: set[threading.Thread] = set()


@atexit.register
def _finish_closing() -> None:
    """Let recorders that were closed finish letting go of their file (a checkpoint) before the process ends."""
    for thread in list(_closing):
        thread.join(timeout=10)


class Recorder:
    """Writes every event of a bus to a GraphStore, in batches, on a thread of its own.

    `with Recorder(store).attach(bus):` ... or `recorder.start()`, `recorder.close()`.
    `flush()` returns once everything emitted before it is on disk (or spooled, see `failure`).
    """

    def __init__(
        self,
        store: GraphStore,
        *,
        flush_interval: float = 0.1,
        batch_size: int = 1000,
        idle_release: float = 1.0,
        on_flush: Callable[[int], None] | None = None,
        max_attempts: int = 5,
        busy_timeout: float = 60.0,
        spool_dir: str | os.PathLike[str] | None = None,
        project_decisions: bool = False,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be > 0; got {flush_interval}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1; got {max_attempts}")
        self.store = store
        self.project_decisions = project_decisions
        """Also write what the swarm did as decision nodes and edges (tasks, outcomes, commits, tests, messages,
        approvals; see _project.py), in the same transaction as the events."""
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        """Wake the writer early once this many events wait (keeps latency flat under a flood)."""
        self.idle_release = idle_release
        self.max_attempts = max_attempts
        """Failed writes in a row (other than a busy file or a conflict) before the recorder gives up."""
        self.busy_timeout = busy_timeout
        """After close(), how long to keep waiting for a file another process holds before spooling."""
        self.spool_dir = Path(spool_dir) if spool_dir is not None else None
        self.spool_path: Path | None = None
        """The JSONL file holding the events the graph file did not take (None while all is well)."""
        self.unsaved: list[Any] = []
        """Events neither the graph file nor any spool directory took: offered here, never dropped."""
        self._con: Any = None
        self._last_write = 0.0
        self.on_flush = on_flush
        """Called on the writer thread after each batch commits, with the total written so far."""
        self._pending: deque[Any] = deque()
        self._emitted = itertools.count(1)
        self._last_emitted = 0
        self._written = 0
        self._spooled = 0
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._stopping = False
        self._finished = False
        self._thread: threading.Thread | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._implicit_sessions: set[str] = set()
        self._known_sessions: set[str] = set()
        self._failures = 0
        self._cause: str | None = None
        self.pid = os.getpid()
        self.host = socket.gethostname()

    # the emitting side: as cheap as it gets ----------------------------------------------

    def __call__(self, event: Any) -> None:
        self._pending.append(event)
        self._last_emitted = next(self._emitted)
        if len(self._pending) >= self.batch_size and not self._wake.is_set():
            self._wake.set()

    def attach(self, bus: EventBus) -> Recorder:
        if self._thread is None:
            self.start()
        self._unsubscribe.append(bus.subscribe(self))
        return self

    # lifecycle ------------------------------------------------------------------------------

    def start(self) -> Recorder:
        """Open (create, migrate) the file now: a file that cannot be used raises GraphFileError here."""
        if self._thread is not None:
            raise RuntimeError("this Recorder is already running")
        try:
            # Create or migrate the file now, not in the middle of the first batch, and keep the connection
            # for the writer (opening a database costs ~11 ms of CPU, closing it a checkpoint).
            self._connection()
            self._last_write = time.monotonic()
        except GraphBusy:
            pass  # another process has it for now: the writer thread retries until it gets it
        self._thread = threading.Thread(target=self._run, name="loom-recorder", daemon=True)
        self._thread.start()
        return self

    def flush(self, timeout: float | None = 30.0) -> int:
        """Block until every event emitted so far is written (or spooled); returns how many are written."""
        target = self._last_emitted
        self._wake.set()
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._written + self._spooled >= target or self._finished or self._thread is None, timeout
            ):
                raise TimeoutError(f"the recorder has not written {target - self._written} events after {timeout} s")
        return self._written

    def close(self) -> None:
        """Write what is pending (ending implicit sessions) and return; the file is let go just after."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        thread, self._thread = self._thread, None
        if thread is None:
            return
        _closing.add(thread)
        self._stopping = True
        self._wake.set()
        with self._cond:
            self._cond.wait_for(lambda: self._finished)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def written(self) -> int:
        return self._written

    @property
    def failure(self) -> str | None:
        """Why recording stopped and where the events went; None while recording works."""
        if self._cause is None:
            return None
        if self.spool_path is not None:
            kept = (
                f"{self._spooled} events were kept in {self.spool_path}; load them with "
                f"loom_nb.graph.load_spool({str(self.spool_path)!r}, db=...)"
            )
        else:
            kept = f"no directory took a spool, so {len(self.unsaved)} events are held in recorder.unsaved"
        return f"recording to {self.store.path} failed: {self._cause}; {kept}"

    # the writer thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                stopping = self._stopping
                self._write_pending(final=stopping)
                if stopping and not self._pending:
                    break
                self._maybe_release()
        except BaseException:
            log.exception("recorder: the writer thread failed")
            raise
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()
            try:
                self._release()
            finally:
                _closing.discard(threading.current_thread())

    def _connection(self) -> Any:
        if self._con is None:
            self._con = self.store.open()
            # DuckDB checkpoints every 16 MiB of WAL by default, a pause of hundreds of ms in the middle of a
            # flood. While the recorder holds the file, checkpoint at 256 MiB; letting go checkpoints anyway.
            self._con.execute("SET checkpoint_threshold = '256MiB'")
            # Batches are small: DuckDB's worker threads cost more in handing work around than they save, and
            # they compete with the event loop for the same cores (the flood benchmark: 45k -> 59k events/s).
            self._con.execute("SET threads = 1")
        return self._con

    def _release(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            try:
                con.execute("RESET threads")  # a global setting: readers of this process get their threads back
                con.close()
            except Exception:  # a file that cannot take the checkpoint: its WAL stays for the next open
                log.warning("recorder: closing %s failed", self.store.path, exc_info=True)

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

    def _write_pending(self, final: bool = False) -> None:
        pending = self._pending
        batch = [pending.popleft() for _ in range(len(pending))]
        if final and self._cause is None:
            batch.append(_CloseImplicit())
        if not batch:
            return
        if self._cause is not None:
            self._spool(batch)
            return
        busy_since: float | None = None
        while True:
            try:
                self._write(batch)
                break
            except Exception as exc:
                self._release()
                if isinstance(exc, GraphBusy):  # another process holds the file: wait for it, bounded at the end
                    busy_since = busy_since or time.monotonic()
                    if not (self._stopping and time.monotonic() - busy_since > self.busy_timeout):
                        if not self._stopping:
                            pending.extendleft(reversed(batch))  # keep order; later events join the next try
                            return
                        continue
                elif transaction_conflict(exc) and self._failures < 100:  # another writer in this process
                    self._failures += 1
                    time.sleep(0.002 * self._failures)
                    continue
                self._failures += 1
                if self._failures < self.max_attempts:
                    log.warning(
                        "recorder: writing %d events to %s failed (attempt %d of %d): %s",
                        sum(1 for e in batch if not isinstance(e, _CloseImplicit)),
                        self.store.path,
                        self._failures,
                        self.max_attempts,
                        exc,
                    )
                    time.sleep(min(0.05 * 2 ** (self._failures - 1), 1.0))  # back off before the next attempt
                    continue
                error = file_error(self.store.path, exc)
                self._cause = str(error) if error is not None else f"{type(exc).__name__}: {exc}"
                self._spool(batch + [pending.popleft() for _ in range(len(pending))])
                log.error("recorder: %s", self.failure)
                return
        self._failures = 0
        self._last_write = time.monotonic()
        with self._cond:
            self._written += sum(1 for e in batch if not isinstance(e, _CloseImplicit))
            self._cond.notify_all()
        if self.on_flush is not None:
            self.on_flush(self._written)

    # the spool --------------------------------------------------------------------------------

    def _spool(self, batch: list[Any]) -> None:
        events = [self._as_failed(e) for e in batch if not isinstance(e, _CloseImplicit)]
        if not events:
            return
        lines = spool_lines(events)
        if self.spool_path is None and not self.unsaved:
            self.spool_path = new_spool(self.store.path.stem, f"{self.pid}-{id(self):x}", self.spool_dir)
        if self.spool_path is not None:
            try:
                with self.spool_path.open("a", encoding="utf-8") as f:
                    f.write(lines)
            except OSError:
                log.exception("recorder: the spool %s stopped taking events; holding them in memory", self.spool_path)
                self.unsaved.extend(events)
            else:
                with self._cond:
                    self._spooled += len(events)
                    self._cond.notify_all()
                return
        self.unsaved.extend(events)
        with self._cond:
            self._spooled += len(events)
            self._cond.notify_all()

    def _as_failed(self, event: Any) -> Any:
        """A session that ended 'done' but whose record could not be written did not end well."""
        if isinstance(event, SessionEnded) and event.status == "done":
            return dataclasses.replace(event, status="failed", error=self._cause)
        return event

    # one batch, one transaction ----------------------------------------------------------------

    def _write(self, batch: list[Any]) -> None:
        groups: dict[type, list[Any]] = {}
        first_ts: dict[str, float] = {}
        for e in batch:
            groups.setdefault(type(e), []).append(e)
        close_implicit = groups.pop(_CloseImplicit, None) is not None
        if not groups and not self._implicit_sessions:
            return
        for evs in groups.values():
            for e in evs:
                if e.session_id not in first_ts or e.ts < first_ts[e.session_id]:
                    first_ts[e.session_id] = e.ts
        shapes = {cls: shape(cls) for cls in groups}
        docs = {cls: doc(shapes[cls], evs) for cls, evs in groups.items()}
        con = self._connection()
        con.execute("BEGIN TRANSACTION")
        try:
            new, implicit = self._ensure_sessions(con, first_ts, groups.get(SessionStarted, []))
            if docs:
                classes = list(docs)
                con.execute(
                    "INSERT INTO events (session_id, agent, kind, ts, payload) "
                    + " UNION ALL ".join(shapes[cls].events_select(f"b{i}") for i, cls in enumerate(classes)),
                    {f"b{i}": docs[cls] for i, cls in enumerate(classes)},
                )
            if LLMCall in docs:
                con.execute(
                    f"INSERT INTO llm_calls ({_LLM_COLUMNS}, ts) SELECT {_LLM_COLUMNS}, {TS} "
                    f"FROM {shapes[LLMCall].rows()}",
                    {"b": docs[LLMCall]},
                )
                for sid, totals in _usage(groups[LLMCall]).items():  # one short statement per session
                    con.execute(
                        """UPDATE sessions SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?,
                           cache_read_tokens = cache_read_tokens + ?, cache_write_tokens = cache_write_tokens + ?,
                           cost_usd = cost_usd + ?, unpriced_calls = unpriced_calls + ? WHERE id = ?""",
                        [*totals, sid],
                    )
            if ToolCallEvent in docs:
                con.execute(
                    f"INSERT INTO tool_calls ({_TOOL_COLUMNS}, ts) SELECT {_TOOL_COLUMNS}, {TS} "
                    f"FROM {shapes[ToolCallEvent].rows()}",
                    {"b": docs[ToolCallEvent]},
                )
            for cls, table, columns in (
                (CommitMade, "commits", _COMMIT_COLUMNS),
                (ShellRun, "shell_runs", _SHELL_COLUMNS),
            ):
                if cls in docs:
                    con.execute(
                        f"INSERT INTO {table} ({columns}, ts) SELECT {columns}, {TS} FROM {shapes[cls].rows()}",
                        {"b": docs[cls]},
                    )
            if ApprovalRequested in docs:
                con.execute(
                    f"INSERT INTO approvals ({_ASKED_COLUMNS}, requested_at) SELECT {_ASKED_COLUMNS}, {TS} "
                    f"FROM {shapes[ApprovalRequested].rows()} ON CONFLICT DO NOTHING",
                    {"b": docs[ApprovalRequested]},
                )
            if ApprovalDecided in docs:
                con.execute(
                    f"""UPDATE approvals SET decided_at = {timestamp("d.ts")},
                        decision = d.decision, decided_by = d.by, always = d.always, rule_added = d.rule_added,
                        message = d.message, edited = d.edited, latency_s = d.latency_s
                    FROM {shapes[ApprovalDecided].rows()} AS d
                    WHERE approvals.session_id = d.session_id AND approvals.request_id = d.request_id""",
                    {"b": docs[ApprovalDecided]},
                )
            self._write_agents(con, groups.get(AgentSpawned, []), groups.get(AgentStatus, []))
            if PlanMade in docs or TaskStatus in docs:  # in emission order: a revision may drop a started task
                write_tasks(con, [e for e in batch if type(e) is PlanMade or type(e) is TaskStatus])
            if MessageSent in docs:
                write_messages(con, docs[MessageSent])
            if TestRun in docs:
                write_tests(con, docs[TestRun])
            if self.project_decisions and not _PROJECTED.isdisjoint(groups):
                project(con, groups)
            for e in groups.get(SessionEnded, []):
                con.execute(
                    "UPDATE sessions SET status = ?, error = ?, ended_at = make_timestamp(?::BIGINT) WHERE id = ?",
                    [e.status, e.error, int(e.ts * 1_000_000), e.session_id],
                )
            if close_implicit and (self._implicit_sessions or implicit):
                self._close_implicit_sessions(con, sorted(self._implicit_sessions.union(implicit)))
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        # Known only once committed: a batch rolled back (and retried) inserts its sessions again.
        self._known_sessions.update(new)
        self._implicit_sessions.update(implicit)
        for e in groups.get(SessionEnded, []):
            self._implicit_sessions.discard(e.session_id)
        if close_implicit:
            self._implicit_sessions.clear()

    def _ensure_sessions(
        self, con: Any, first_ts: dict[str, float], started: list[SessionStarted]
    ) -> tuple[list[str], list[str]]:
        """Insert the sessions this batch is the first to mention; returns (mentioned, implicit)."""
        explicit = {e.session_id: e for e in started}
        new = [sid for sid in first_ts if sid not in self._known_sessions]
        if not new:
            return [], []
        existing = {
            r[0]
            for r in con.execute("SELECT id FROM sessions WHERE id IN (SELECT unnest(?::VARCHAR[]))", [new]).fetchall()
        }
        rows = [sid for sid in new if sid not in existing]
        if rows:
            starts = [explicit.get(sid) for sid in rows]
            con.execute(
                """INSERT INTO sessions (id, title, intent, status, models, project, writer_pid, writer_host,
                    started_at)
                SELECT unnest($id), unnest($title), unnest($intent), 'running', unnest($models)::JSON, unnest($project),
                    $pid, $host, make_timestamp(unnest($ts)::BIGINT)""",
                {
                    "id": rows,
                    "title": [e.title if e else "" for e in starts],
                    "intent": [e.intent if e else None for e in starts],
                    "models": [json.dumps(list(e.models)) if e else None for e in starts],
                    "project": [e.project if e else None for e in starts],
                    "pid": self.pid,
                    "host": self.host,
                    "ts": [int((e.ts if e else first_ts[s]) * 1_000_000) for s, e in zip(rows, starts, strict=True)],
                },
            )
        return new, [sid for sid in rows if sid not in explicit]

    def _write_agents(self, con: Any, spawned: list[AgentSpawned], statuses: list[AgentStatus]) -> None:
        if spawned:
            by_agent: dict[tuple[str, str], list[AgentSpawned]] = {}
            for e in spawned:
                by_agent.setdefault((e.session_id, e.agent), []).append(e)
            # Events with a restart flag count the flags; without one, every spawn after an agent's first
            # (in this batch, or of an agent an earlier batch wrote) is a restart.
            flagged = hasattr(spawned[0], "restart")
            rows = []
            for (sid, name), evs in by_agent.items():
                restarts = sum(bool(e.restart) for e in evs) if flagged else len(evs) - 1  # type: ignore[attr-defined]
                first = evs[0]
                last = evs[-1]
                rows.append(
                    (
                        f"{sid}/{name}",
                        sid,
                        name,
                        first.role,
                        first.model,
                        first.parent,
                        restarts,
                        last.ts,
                        getattr(last, "task", None) or None,
                        getattr(last, "role_version", None),
                    )
                )
            cols = list(zip(*rows, strict=True))
            con.execute(
                """INSERT INTO agents (id, session_id, name, role, model, parent, status, restarts, started_at, task,
                    role_version)
                SELECT id, sid, name, role, model, parent, 'running', restarts, make_timestamp(ts), task, role_version
                FROM (SELECT unnest($1) id, unnest($2) sid, unnest($3) name, unnest($4) role, unnest($5) model,
                             unnest($6) parent, unnest($7::INTEGER[]) restarts, unnest($8::BIGINT[]) ts,
                             unnest($10::VARCHAR[]) task, unnest($11::INTEGER[]) role_version)
                ON CONFLICT (id) DO UPDATE SET restarts = agents.restarts + excluded.restarts + $9,
                    status = 'running', model = excluded.model, ended_at = NULL,
                    task = coalesce(excluded.task, agents.task), role_version = excluded.role_version""",
                [*cols[:7], [int(t * 1_000_000) for t in cols[7]], 0 if flagged else 1, list(cols[8]), list(cols[9])],
            )
        if statuses:
            latest: dict[tuple[str, str], AgentStatus] = {}
            for e in statuses:
                latest[(e.session_id, e.agent)] = e
            con.execute(
                """INSERT INTO agents (id, session_id, name, status, ended_at)
                SELECT sid || '/' || name, sid, name, status, make_timestamp(ended)
                FROM (SELECT unnest($1) sid, unnest($2) name, unnest($3) status, unnest($4::BIGINT[]) ended)
                ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at""",
                [
                    [k[0] for k in latest],
                    [k[1] for k in latest],
                    [e.status for e in latest.values()],
                    [int(e.ts * 1_000_000) if e.status in ENDED_STATUSES else None for e in latest.values()],
                ],
            )

    def _close_implicit_sessions(self, con: Any, ids: list[str]) -> None:
        """Sessions that began without a SessionStarted (a bare sub-agent run) end when the recorder does."""
        con.execute(
            """UPDATE sessions SET status = 'done',
                ended_at = (SELECT max(ts) FROM events WHERE events.session_id = sessions.id)
            WHERE id IN (SELECT unnest(?::VARCHAR[])) AND status = 'running'""",
            [ids],
        )


class _CloseImplicit:
    """A marker in the final batch: end the implicit sessions in the same transaction."""
