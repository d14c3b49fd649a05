"""The specialist swarm's tables, written inside the recorder's batch: plans, tasks (and their typed
dependencies), messages and test runs.

Messages and test runs are plain rows (one INSERT ... SELECT over the batch's JSON of columns, as
commits are). Plans and task statuses change rows, and their order matters (a revision drops a
task that a status in the same batch had just started), so they are applied in emission order:
each run of consecutive statuses merged per task into one upsert, each plan on its own (plans are
few). Every value is a bound parameter.
"""

from __future__ import annotations

import math
from typing import Any

from ..events import MessageSent, PlanMade, TaskStatus, TestRun
from ._columns import TS, rows_doc, shape, table

__all__ = ["ENDED_TASK_STATUSES", "write_messages", "write_tasks", "write_tests"]

ENDED_TASK_STATUSES = ("done", "failed", "cancelled", "skipped")
"""A task in one of these has an end time; a plan revision no longer cancels it."""


def _us(ts: float) -> int:
    return int(ts * 1_000_000)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def write_messages(con: Any, doc: str) -> None:
    """MessageSent events (as one JSON of columns) into `messages`; the sender is the event's agent."""
    con.execute(
        "INSERT INTO messages (session_id, message_id, sender, recipient, kind, urgent, reply_to, task, text, ts) "
        f'SELECT session_id, message_id, agent, "to", message_kind, urgent, reply_to, task, text, {TS} '
        f"FROM {shape(MessageSent).rows()}",
        {"b": doc},
    )


_TEST_COLUMNS = "session_id, agent, task, round, command, passed, failed, errors, skipped, failing, exit_code"


def write_tests(con: Any, doc: str) -> None:
    """TestRun events (as one JSON of columns) into `tests`."""
    con.execute(
        f"INSERT INTO tests ({_TEST_COLUMNS}, duration_s, summary, ts) "
        f'SELECT session_id, agent, task, "round", command, passed, failed, errors, skipped, failing, exit_code, '
        f"duration_s, summary, {TS} FROM {shape(TestRun).rows()}",
        {"b": doc},
    )


def write_tasks(con: Any, events: list[PlanMade | TaskStatus]) -> None:
    """Plans and task statuses, in the order they were emitted."""
    run: list[TaskStatus] = []
    for e in events:
        if isinstance(e, PlanMade):
            if run:
                _statuses(con, run)
                run = []
            _plan(con, e)
        else:
            run.append(e)
    if run:
        _statuses(con, run)


def _plan(con: Any, e: PlanMade) -> None:
    """A plan (revision): its row in `plans`; its tasks upserted; tasks it dropped cancelled unless ended;
    its dependencies replacing those an earlier revision gave the tasks it lists."""
    ts = _us(e.ts)
    tasks = list({t.id: t for t in e.tasks}.values())  # a repeated id: the last one stands
    ids = [t.id for t in tasks]
    con.execute(
        """INSERT INTO plans (session_id, revision, agent, reason, tasks, estimate_usd, estimate_tokens,
            estimate_basis, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, make_timestamp(?::BIGINT))
        ON CONFLICT (session_id, revision) DO UPDATE SET agent = excluded.agent, reason = excluded.reason,
            tasks = excluded.tasks, estimate_usd = excluded.estimate_usd, estimate_tokens = excluded.estimate_tokens,
            estimate_basis = excluded.estimate_basis, ts = excluded.ts""",
        [
            e.session_id,
            e.revision,
            e.agent,
            e.reason,
            len(tasks),
            _finite(e.estimate_usd),
            e.estimate_tokens,
            e.estimate_basis,
            ts,
        ],
    )
    if tasks:
        # A task listed again after it was cancelled (by a stop, or an earlier revision) is planned again.
        con.execute(
            """INSERT INTO tasks (session_id, task_id, position, revision, role, title, prompt, acceptance, status,
                created_at)
            SELECT $sid, unnest($id), unnest($pos), $rev, unnest($role), unnest($title), unnest($prompt),
                unnest($acceptance), 'pending', make_timestamp($ts::BIGINT)
            ON CONFLICT (session_id, task_id) DO UPDATE SET position = excluded.position, revision = excluded.revision,
                role = excluded.role, title = excluded.title, prompt = excluded.prompt,
                acceptance = excluded.acceptance,
                summary = CASE WHEN tasks.status = 'cancelled' THEN NULL ELSE tasks.summary END,
                ended_at = CASE WHEN tasks.status = 'cancelled' THEN NULL ELSE tasks.ended_at END,
                status = CASE WHEN tasks.status = 'cancelled' THEN 'pending' ELSE tasks.status END""",
            {
                "sid": e.session_id,
                "id": ids,
                "pos": list(range(len(tasks))),
                "rev": e.revision,
                "role": [t.role for t in tasks],
                "title": [t.title for t in tasks],
                "prompt": [t.prompt for t in tasks],
                "acceptance": [t.acceptance for t in tasks],
                "ts": ts,
            },
        )
    dropped = f"dropped by plan revision {e.revision}" + (f": {e.reason}" if e.reason else "")
    con.execute(
        f"""UPDATE tasks SET status = 'cancelled', ended_at = make_timestamp(?::BIGINT), summary = ?
        WHERE session_id = ? AND status NOT IN {ENDED_TASK_STATUSES} AND NOT list_contains(?::VARCHAR[], task_id)""",
        [ts, dropped, e.session_id, ids],
    )
    con.execute(
        """DELETE FROM task_dependencies WHERE session_id = ? AND revision IS NOT NULL
        AND list_contains(?::VARCHAR[], to_task)""",
        [e.session_id, ids],
    )
    deps = [(dep, t.id, kind) for t in tasks for dep, kind in t.deps]
    if deps:
        con.execute(
            """INSERT INTO task_dependencies (session_id, from_task, to_task, dependency_type, revision, created_at)
            SELECT $sid, unnest($from), unnest($to), unnest($kind), $rev, make_timestamp($ts::BIGINT)""",
            {
                "sid": e.session_id,
                "from": [d[0] for d in deps],
                "to": [d[1] for d in deps],
                "kind": [d[2] for d in deps],
                "rev": e.revision,
                "ts": ts,
            },
        )


def _statuses(con: Any, events: list[TaskStatus]) -> None:
    """Consecutive task statuses, merged per task (the last one's status and completion; the start of the
    last 'running'; an end only when the last status ends the task) into one upsert."""
    rows: dict[tuple[str, str], list[Any]] = {}
    for e in events:
        ts = _us(e.ts)
        row = rows.get((e.session_id, e.task))
        if row is None:
            row = rows[(e.session_id, e.task)] = [e.session_id, e.task, e.role, None, ts, None]
        if e.role:
            row[2] = e.role
        if e.agent:
            row[3] = e.agent
        if e.status == "running":
            row[5] = ts
        row[6:] = [
            e.status,
            e.summary,
            e.files_changed,
            e.decisions,
            e.tests,
            e.open_questions,
            _finite(e.cost_usd),
            e.error,
            ts if e.status in ENDED_TASK_STATUSES else None,
        ]
    con.execute(
        f"""INSERT INTO tasks (session_id, task_id, role, agent, created_at, started_at, status, summary, files_changed,
            decisions, tests, open_questions, cost_usd, error, ended_at)
        SELECT sid, task, role, agent, make_timestamp(created), make_timestamp(started), status, summary, files,
            decisions, tests, questions, cost, error, make_timestamp(ended) FROM {_STATUS_ROWS}
        ON CONFLICT (session_id, task_id) DO UPDATE SET role = coalesce(nullif(excluded.role, ''), tasks.role),
            agent = coalesce(excluded.agent, tasks.agent), started_at = coalesce(excluded.started_at, tasks.started_at),
            status = excluded.status, summary = excluded.summary, files_changed = excluded.files_changed,
            decisions = excluded.decisions, tests = excluded.tests, open_questions = excluded.open_questions,
            cost_usd = excluded.cost_usd, error = excluded.error, ended_at = excluded.ended_at""",
        {"b": rows_doc(tuple(_STATUS_TYPES), rows.values())},
    )


_STATUS_TYPES = {
    "sid": "VARCHAR",
    "task": "VARCHAR",
    "role": "VARCHAR",
    "agent": "VARCHAR",
    "created": "BIGINT",
    "started": "BIGINT",
    "status": "VARCHAR",
    "summary": "VARCHAR",
    "files": "JSON",
    "decisions": "JSON",
    "tests": "VARCHAR",
    "questions": "JSON",
    "cost": "DOUBLE",
    "error": "VARCHAR",
    "ended": "BIGINT",
}
_STATUS_ROWS = table(_STATUS_TYPES)
