"""The decision graph says what happened: a swarm's events projected into Loom's nodes and edges, inside
the recorder's batch (`Recorder(store, project_decisions=True)`), after the batch's tables are written.

What becomes what (every node has agent_name and metadata.task when it belongs to a task):
- PlanMade: a goal per session (its intent's first line), an action per task ("role: title",
  metadata {task, role, revision}) under it, and for a revision a revisit ("plan revision N: why")
  under the goal, above the tasks it added. Typed dependencies become edges between task actions,
  read as sentences: blocks (predecessor blocks dependent), informs -> enables (predecessor enables
  dependent), requires_output -> requires (dependent requires predecessor). A revision rebuilds them.
- TaskStatus: the agent on a task becomes its action's agent; done and failed add an outcome under the
  task ("done: summary", metadata holding the completion); cancelled and skipped tasks (a revision
  dropped them, a stop) leave their action abandoned; planned again, it is active again.
- CommitMade: an action "commit <sha7>: message" (metadata sha, files, insertions, deletions) under
  its task.
- TestRun: an outcome "tests: 12 passed, 1 failed" (metadata counts, failing ids, command, round)
  under its task; confidence is the passing share of passed + failed + errors. A later round supersedes
  the task's result of the round before (which turns superseded).
- MessageSent: an observation "message tester-1 → impl-1: text" under the sender's task, with an edge
  on to the recipient's task (none for a broadcast) and from the ask a reply answers.
- ApprovalDecided: a decision "allow shell {...}" (confidence 100) under the asking agent's task,
  chosen when allowed, rejected when denied.
Something that belongs to no known task hangs under the session's goal (or stays unlinked before any
plan). Change ids are derived from what they record ("loom:<session>:task:<id>"), so a node is found
by SQL in a later batch and written once. An agent's task comes from the event, else from its
AgentSpawned.task, else from the task it last started (TaskStatus running).
"""

from __future__ import annotations

import uuid
from typing import Any

from ..events import ApprovalDecided, CommitMade, MessageSent, PlanMade, TaskStatus, TestRun
from ._columns import rows_doc, table

__all__ = ["DEPENDENCY_EDGES", "project"]

DEPENDENCY_EDGES = {"blocks": "blocks", "informs": "enables", "requires_output": "requires"}
"""A plan's dependency kind -> the edge type between the two task actions."""

TITLE_CHARS, TEXT_CHARS = 200, 4000


def _cut(text: str, limit: int = TITLE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _us(ts: float) -> int:
    return int(ts * 1_000_000)


def goal_id(session: str) -> str:
    return f"loom:{session}:goal"


def task_id(session: str, task: str) -> str:
    return f"loom:{session}:task:{task}"


class _Batch:
    """Nodes and edges of one batch, written in two statements (nodes first: edges find their ends by change id)."""

    def __init__(self) -> None:
        self.nodes: dict[str, tuple[Any, ...]] = {}
        self.edges: dict[str, tuple[Any, ...]] = {}

    def node(
        self,
        change_id: str,
        node_type: str,
        title: str,
        description: str | None,
        session: str,
        agent: str | None,
        ts: float,
        metadata: dict[str, Any],
        confidence: int | None = None,
    ) -> str:
        title = _cut(title) or node_type
        desc = description[:TEXT_CHARS] if description else None
        self.nodes[change_id] = (
            change_id,
            node_type,
            title,
            desc,
            confidence,
            metadata,
            session,
            agent or None,
            _us(ts),
        )
        return change_id

    def edge(self, start: str | None, end: str | None, edge_type: str, ts: float, rationale: str | None = None) -> None:
        """start -> end (change ids); written only if both nodes exist once this batch's nodes are in."""
        if start is None or end is None:
            return
        change_id = f"{start}>{end}:{edge_type}"
        self.edges[change_id] = (change_id, start, end, edge_type, rationale, _us(ts))

    def write(self, con: Any, *, update: bool = False) -> None:
        if self.nodes:
            on_conflict = (
                """DO UPDATE SET title = excluded.title, description = excluded.description,
                    metadata = excluded.metadata, updated_at = excluded.updated_at"""
                if update
                else "DO NOTHING"
            )
            con.execute(
                f"""INSERT INTO decision_nodes (change_id, node_type, title, description, status, confidence, metadata,
                    session_id, agent_name, created_at, updated_at)
                SELECT c, t, ti, d, 'active', conf, m, s, a, make_timestamp(ts), make_timestamp(ts) FROM {_NODES}
                ON CONFLICT (change_id) {on_conflict}""",
                {"b": rows_doc(tuple(_NODE_TYPES), self.nodes.values())},
            )
        if self.edges:
            con.execute(
                f"""INSERT INTO decision_edges (change_id, from_node_id, to_node_id, edge_type, weight, rationale,
                    created_at)
                SELECT e.c, f.id, t.id, e.type, 1.0, e.r, make_timestamp(e.ts) FROM {_EDGES} e
                JOIN decision_nodes f ON f.change_id = e.f JOIN decision_nodes t ON t.change_id = e.t
                ON CONFLICT (change_id) DO NOTHING""",
                {"b": rows_doc(tuple(_EDGE_TYPES), self.edges.values())},
            )


_NODE_TYPES = {
    "c": "VARCHAR",
    "t": "VARCHAR",
    "ti": "VARCHAR",
    "d": "VARCHAR",
    "conf": "INTEGER",
    "m": "JSON",
    "s": "VARCHAR",
    "a": "VARCHAR",
    "ts": "BIGINT",
}
_NODES = table(_NODE_TYPES)
_EDGE_TYPES = {"c": "VARCHAR", "f": "VARCHAR", "t": "VARCHAR", "type": "VARCHAR", "r": "VARCHAR", "ts": "BIGINT"}
_EDGES = table(_EDGE_TYPES)


def _existing(con: Any, change_ids: set[str]) -> set[str]:
    if not change_ids:
        return set()
    rows = con.execute(
        "SELECT change_id FROM decision_nodes WHERE change_id IN (SELECT unnest(?::VARCHAR[]))", [sorted(change_ids)]
    ).fetchall()
    return {r[0] for r in rows}


def project(con: Any, groups: dict[type, list[Any]]) -> None:
    """Project this batch's swarm events into decision nodes and edges (inside the batch's transaction)."""
    plans: list[PlanMade] = groups.get(PlanMade, [])
    statuses: list[TaskStatus] = groups.get(TaskStatus, [])
    if plans:
        _plans(con, plans)
    others = [groups.get(c, []) for c in (CommitMade, TestRun, MessageSent, ApprovalDecided)]
    if not statuses and not any(others):
        return
    sessions = {e.session_id for evs in (statuses, *others) for e in evs}
    tasks_of = _agent_tasks(con, sessions)
    for e in statuses:  # the latest start in this batch wins
        if e.status == "running" and e.agent:
            tasks_of[(e.session_id, e.agent)] = e.task
    wanted = {goal_id(s) for s in sessions}
    wanted |= {task_id(s, t) for (s, _), t in tasks_of.items()}
    wanted |= {task_id(e.session_id, e.task) for evs in (statuses, *others) for e in evs if getattr(e, "task", "")}
    known = _existing(con, wanted)

    def home(session: str, agent: str, task: str = "") -> tuple[str, str | None]:
        """(task, the node it hangs under): its task's action, else the session's goal, else none."""
        task = task or tasks_of.get((session, agent), "")
        node = task_id(session, task) if task else None
        if node in known:
            return task, node
        goal = goal_id(session)
        return task, goal if goal in known else None

    out = _Batch()
    _statuses(out, statuses, known)
    working = {(e.session_id, e.task): e.agent for e in statuses if e.agent and e.status == "running"}
    if working:  # the agent on a task is its action's agent
        con.execute(
            """UPDATE decision_nodes SET agent_name = w.a FROM (SELECT unnest(?::VARCHAR[]) c, unnest(?::VARCHAR[]) a) w
            WHERE decision_nodes.change_id = w.c""",
            [[task_id(s, t) for s, t in working], list(working.values())],
        )
    if statuses:
        _sync_task_status(con, {(e.session_id, e.task) for e in statuses})
    commits, tests, messages, approvals = others
    rounds: dict[int, tuple[str, str]] = {}  # a test run -> (its node, its task)
    for e in commits:
        task, parent = home(e.session_id, e.agent, e.task)
        first = _first_line(e.message)
        node = out.node(
            f"loom:{e.session_id}:commit:{e.sha}",
            "action",
            f"commit {e.sha[:7]}: {first}",
            e.message,
            e.session_id,
            e.agent,
            e.ts,
            {
                "task": task,
                "sha": e.sha,
                "files": list(e.files),
                "insertions": e.insertions,
                "deletions": e.deletions,
            },
        )
        out.edge(parent, node, "leads_to", e.ts)
    for e in tests:
        task, parent = home(e.session_id, e.agent, e.task)
        counted = e.passed + e.failed + e.errors
        error = "error" if e.errors == 1 else "errors"
        parts = [f"{e.passed} passed"] + [
            f"{n} {word}" for n, word in ((e.failed, "failed"), (e.errors, error), (e.skipped, "skipped")) if n
        ]
        title = "tests: " + ", ".join(parts) + (f" (round {e.round})" if e.round > 1 else "")
        failing = "\n".join(e.failing[:200])
        node = out.node(
            f"loom:{e.session_id}:test:{uuid.uuid4().hex}",
            "outcome",
            title,
            "\n".join(x for x in (e.summary, f"$ {e.command}", failing) if x),
            e.session_id,
            e.agent,
            e.ts,
            {
                "task": task,
                "round": e.round,
                "command": e.command,
                "passed": e.passed,
                "failed": e.failed,
                "errors": e.errors,
                "skipped": e.skipped,
                "failing": list(e.failing),
                "exit_code": e.exit_code,
            },
            round(100 * e.passed / counted) if counted else None,
        )
        out.edge(parent, node, "leads_to", e.ts)
        rounds[id(e)] = (node, task)
    for e in messages:
        task, parent = home(e.session_id, e.agent, e.task)
        node = out.node(
            f"loom:{e.session_id}:message:{e.message_id or uuid.uuid4().hex}",
            "observation",
            f"{e.message_kind} {e.agent} → {e.to}: {_first_line(e.text)}",
            e.text,
            e.session_id,
            e.agent,
            e.ts,
            {
                "task": task,
                "message_id": e.message_id,
                "to": e.to,
                "kind": e.message_kind,
                "urgent": e.urgent,
                "reply_to": e.reply_to,
            },
        )
        out.edge(parent, node, "leads_to", e.ts)
        if e.to != "*":
            _, target = home(e.session_id, e.to)
            if target is not None and target != parent:
                out.edge(node, target, "leads_to", e.ts, f"to {e.to}")
        if e.reply_to:
            out.edge(f"loom:{e.session_id}:message:{e.reply_to}", node, "leads_to", e.ts, "reply")
    if approvals:
        _approvals(con, out, approvals, home)
    out.write(con)
    if any(e.round > 1 for e in tests):
        _supersede_rounds(con, [(e, *rounds[id(e)]) for e in tests if e.round > 1])


def _supersede_rounds(con: Any, runs: list[tuple[TestRun, str, str]]) -> None:
    """A task's tests run again after a fix: the new result supersedes the last one of the round before
    (one scan of the sessions' test outcomes per batch, whatever the number of runs)."""
    found = con.execute(
        """SELECT w.i, max(n.id) FROM (SELECT unnest(?::VARCHAR[]) s, unnest(?::VARCHAR[]) task,
                unnest(?::INTEGER[]) r, unnest(?::INTEGER[]) i) w
            JOIN decision_nodes n ON n.session_id = w.s AND n.node_type = 'outcome'
                AND starts_with(n.change_id, 'loom:' || w.s || ':test:')
                AND n.metadata->>'task' = w.task AND TRY_CAST(n.metadata->>'round' AS INTEGER) = w.r - 1
            GROUP BY w.i""",
        [
            [e.session_id for e, _, _ in runs],
            [t for _, _, t in runs],
            [e.round for e, _, _ in runs],
            list(range(len(runs))),
        ],
    ).fetchall()
    if not found:
        return
    older = {i: old for i, old in found}
    pairs = [(runs[i], old) for i, old in older.items()]
    con.execute(
        """INSERT INTO decision_edges (change_id, from_node_id, to_node_id, edge_type, weight, rationale, created_at)
        SELECT w.c || '>supersedes', n.id, w.old, 'supersedes', 1.0, 'round ' || w.r, make_timestamp(w.ts)
        FROM (SELECT unnest(?::VARCHAR[]) c, unnest(?::BIGINT[]) old, unnest(?::INTEGER[]) r,
            unnest(?::BIGINT[]) ts) w JOIN decision_nodes n ON n.change_id = w.c
        ON CONFLICT (change_id) DO NOTHING""",
        [
            [node for (_, node, _), _ in pairs],
            [old for _, old in pairs],
            [e.round for (e, _, _), _ in pairs],
            [_us(e.ts) for (e, _, _), _ in pairs],
        ],
    )
    con.execute(
        "UPDATE decision_nodes SET status = 'superseded' WHERE list_contains(?::BIGINT[], id)", [[o for _, o in pairs]]
    )


def _plans(con: Any, plans: list[PlanMade]) -> None:
    out = _Batch()
    # A task is linked once, under the first plan that lists it: the goal (revision 0) or that revision's revisit.
    linked = _existing(con, {task_id(e.session_id, t.id) for e in plans for t in e.tasks})
    for e in plans:
        sid = e.session_id
        goal = goal_id(sid)
        con.execute(
            """INSERT INTO decision_nodes (change_id, node_type, title, description, status, metadata, session_id,
                agent_name, created_at, updated_at)
            SELECT ?, 'goal', left(coalesce(nullif(trim(split_part(trim(s.intent), chr(10), 1)), ''), ?), 200),
                s.intent, 'active', '{}', ?, ?, make_timestamp(?::BIGINT), make_timestamp(?::BIGINT)
            FROM (SELECT 1) LEFT JOIN sessions s ON s.id = ?
            ON CONFLICT (change_id) DO NOTHING""",
            [goal, f"session {sid}", sid, e.agent or None, _us(e.ts), _us(e.ts), sid],
        )
        parent = goal
        if e.revision > 0:
            parent = out.node(
                f"loom:{sid}:plan:{e.revision}",
                "revisit",
                f"plan revision {e.revision}: {_first_line(e.reason) or 'revised'}",
                e.reason,
                sid,
                e.agent,
                e.ts,
                {"revision": e.revision, "tasks": [t.id for t in e.tasks]},
            )
            out.edge(goal, parent, "leads_to", e.ts)
        for t in e.tasks:
            node = task_id(sid, t.id)
            description = t.prompt + (f"\n\nacceptance: {t.acceptance}" if t.acceptance else "")
            out.node(
                node,
                "action",
                f"{t.role}: {t.title or _first_line(t.prompt) or t.id}",
                description,
                sid,
                None,
                e.ts,
                {"task": t.id, "role": t.role, "revision": e.revision, "title": t.title},
            )
            if node not in linked:
                out.edge(parent, node, "leads_to", e.ts)
                linked.add(node)
    out.write(con, update=True)
    for sid in {e.session_id for e in plans}:
        # The plan's dependency edges, rebuilt from task_dependencies (the revision's table state).
        prefix = f"loom:{sid}:dep:"
        con.execute("DELETE FROM decision_edges WHERE starts_with(change_id, ?)", [prefix])
        con.execute(
            """INSERT INTO decision_edges (change_id, from_node_id, to_node_id, edge_type, weight, rationale,
                created_at)
            SELECT DISTINCT ON (c) c, f, t, type, 1.0, r, created_at FROM (
                SELECT ? || d.from_task || '>' || d.to_task || ':' || d.dependency_type AS c,
                    CASE WHEN d.dependency_type = 'requires_output' THEN b.id ELSE a.id END AS f,
                    CASE WHEN d.dependency_type = 'requires_output' THEN a.id ELSE b.id END AS t,
                    CASE d.dependency_type WHEN 'informs' THEN 'enables' WHEN 'requires_output' THEN 'requires'
                        WHEN 'requires' THEN 'requires' ELSE 'blocks' END AS type,
                    d.dependency_type AS r, d.created_at
                FROM task_dependencies d
                JOIN decision_nodes a ON a.change_id = ? || d.from_task
                JOIN decision_nodes b ON b.change_id = ? || d.to_task
                WHERE d.session_id = ?)
            ORDER BY c""",
            [prefix, f"loom:{sid}:task:", f"loom:{sid}:task:", sid],
        )
    _sync_task_status(con, {(e.session_id, t.id) for e in plans for t in e.tasks} | _all_tasks(con, plans))


def _all_tasks(con: Any, plans: list[PlanMade]) -> set[tuple[str, str]]:
    sessions = sorted({e.session_id for e in plans if e.revision > 0})
    if not sessions:
        return set()
    rows = con.execute(
        "SELECT session_id, task_id FROM tasks WHERE list_contains(?::VARCHAR[], session_id)", [sessions]
    )
    return {(r[0], r[1]) for r in rows.fetchall()}


def _sync_task_status(con: Any, keys: set[tuple[str, str]]) -> None:
    """A task's action is abandoned while the task is cancelled or skipped, active otherwise."""
    if not keys:
        return
    con.execute(
        """UPDATE decision_nodes SET status = CASE WHEN t.status IN ('cancelled', 'skipped') THEN 'abandoned'
                ELSE 'active' END, updated_at = now()::TIMESTAMP
        FROM tasks t, (SELECT unnest(?::VARCHAR[]) s, unnest(?::VARCHAR[]) k) w
        WHERE t.session_id = w.s AND t.task_id = w.k AND decision_nodes.change_id = 'loom:' || w.s || ':task:' || w.k
            AND decision_nodes.status <> CASE WHEN t.status IN ('cancelled', 'skipped') THEN 'abandoned'
                ELSE 'active' END""",
        [[k[0] for k in keys], [k[1] for k in keys]],
    )


def _statuses(out: _Batch, statuses: list[TaskStatus], known: set[str]) -> None:
    for e in statuses:
        if e.status not in ("done", "failed"):
            continue
        parent = task_id(e.session_id, e.task)
        text = e.summary if e.status == "done" else (e.error or e.summary)
        node = out.node(
            f"{parent}:{e.status}:{_us(e.ts)}",
            "outcome",
            f"{e.status}: {_first_line(text or '') or e.task}",
            text,
            e.session_id,
            e.agent,
            e.ts,
            {
                "task": e.task,
                "role": e.role,
                "status": e.status,
                "files_changed": list(e.files_changed),
                "decisions": list(e.decisions),
                "tests": e.tests,
                "open_questions": list(e.open_questions),
                "cost_usd": e.cost_usd,
                "error": e.error,
            },
        )
        out.edge(parent if parent in known else None, node, "leads_to", e.ts)


def _approvals(con: Any, out: _Batch, decided: list[ApprovalDecided], home: Any) -> None:
    rows = con.execute(
        """SELECT session_id, request_id, agent, tool, arguments, rule FROM approvals
        WHERE list_contains(?::VARCHAR[], request_id)""",
        [sorted({e.request_id for e in decided})],
    ).fetchall()
    asked = {(r[0], r[1]): r for r in rows}
    for e in decided:
        row = asked.get((e.session_id, e.request_id))
        agent, tool, arguments, rule = (row[2], row[3], row[4], row[5]) if row else ("", "", "", "")
        task, parent = home(e.session_id, agent or "")
        node = out.node(
            f"loom:{e.session_id}:approval:{e.request_id}",
            "decision",
            f"{e.decision} {tool} {arguments}",
            "\n".join(x for x in (rule, e.message) if x),
            e.session_id,
            agent,
            e.ts,
            {
                "task": task,
                "approval": e.request_id,
                "tool": tool,
                "decision": e.decision,
                "by": e.by,
                "always": e.always,
                "rule_added": e.rule_added,
            },
            100,
        )
        out.edge(parent, node, "chosen" if e.decision == "allow" else "rejected", e.ts)


def _agent_tasks(con: Any, sessions: set[str]) -> dict[tuple[str, str], str]:
    """Each agent's task: from AgentSpawned.task, overridden by the task it last started."""
    found: dict[tuple[str, str], str] = {}
    ids = sorted(sessions)
    for r in con.execute(
        "SELECT session_id, name, task FROM agents WHERE task IS NOT NULL AND list_contains(?::VARCHAR[], session_id)",
        [ids],
    ).fetchall():
        found[(r[0], r[1])] = r[2]
    for r in con.execute(
        """SELECT session_id, agent, task_id FROM tasks
        WHERE agent IS NOT NULL AND list_contains(?::VARCHAR[], session_id) ORDER BY started_at NULLS FIRST""",
        [ids],
    ).fetchall():
        found[(r[0], r[1])] = r[2]
    return found
