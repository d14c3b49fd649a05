"""Loom's decision graph API in Python: nodes and edges with their rules, on a GraphStore.

Bad input (an unknown node type, confidence 140, an edge to a missing node, a cycle of
supersedes) raises GraphError and writes nothing.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ._schema import EDGE_TYPES, NODE_STATUSES, NODE_TYPES, TASK_DEPENDENCY_TYPES
from ._store import GraphError, GraphStore, dumps, utcnow

__all__ = ["DecisionGraph", "Edge", "Node", "Pulse"]

_NODE_COLUMNS = (
    "id, change_id, node_type, title, description, status, confidence, metadata, session_id, "
    "agent_name, created_at, updated_at"
)
_EDGE_COLUMNS = "id, change_id, from_node_id, to_node_id, edge_type, weight, rationale, created_at"


@dataclass(frozen=True, kw_only=True)
class Node:
    """A decision-graph node (Loom's schema)."""

    id: int
    change_id: str
    node_type: str
    title: str
    description: str | None
    status: str
    confidence: int | None
    metadata: dict[str, Any]
    session_id: str | None
    agent_name: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class Edge:
    """A decision-graph edge: from_node --edge_type--> to_node."""

    id: int
    change_id: str
    from_node_id: int
    to_node_id: int
    edge_type: str
    weight: float
    rationale: str | None
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class Pulse:
    """The graph's health at a glance."""

    goals_without_action: list[Node] = field(default_factory=list)
    """Active goals with no path to an action or outcome."""
    low_confidence: list[Node] = field(default_factory=list)
    """Active nodes under 50 confidence."""
    stale: list[Node] = field(default_factory=list)
    """Active nodes not updated for `stale_after`."""
    counts: dict[str, int] = field(default_factory=dict)
    """Active nodes per type."""
    summary: str = ""


def _node(row: Sequence[Any]) -> Node:
    meta = row[7]
    return Node(
        id=row[0],
        change_id=row[1],
        node_type=row[2],
        title=row[3],
        description=row[4],
        status=row[5],
        confidence=row[6],
        metadata=json.loads(meta) if isinstance(meta, str) else (meta or {}),
        session_id=row[8],
        agent_name=row[9],
        created_at=row[10],
        updated_at=row[11],
    )


def _edge(row: Sequence[Any]) -> Edge:
    return Edge(
        id=row[0],
        change_id=row[1],
        from_node_id=row[2],
        to_node_id=row[3],
        edge_type=row[4],
        weight=row[5],
        rationale=row[6],
        created_at=row[7],
    )


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise GraphError(f"unknown {name} {value!r}: use one of {', '.join(allowed)}")
    return str(value)


def _check_confidence(confidence: Any) -> int | None:
    if confidence is None:
        return None
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not math.isfinite(confidence):
        raise GraphError(f"confidence must be a number from 0 to 100 (or None); got {confidence!r}")
    if not 0 <= confidence <= 100:
        raise GraphError(f"confidence must be from 0 to 100; got {confidence}")
    return round(confidence)


def _check_title(title: Any) -> str:
    if not isinstance(title, str) or not title.strip():
        raise GraphError("a node needs a non-empty title")
    return title.strip()


class DecisionGraph:
    """Nodes and edges of the shared decision graph. `session_id` and `agent_name` given here are
    stamped on what this object writes (the decision tools give each agent its own view)."""

    def __init__(self, store: GraphStore, *, session_id: str | None = None, agent_name: str | None = None) -> None:
        self.store = store
        self.session_id = session_id
        self.agent_name = agent_name

    def for_agent(self, agent_name: str, session_id: str | None = None) -> DecisionGraph:
        return DecisionGraph(self.store, session_id=session_id or self.session_id, agent_name=agent_name)

    # nodes ----------------------------------------------------------------------------------

    def add_node(
        self,
        node_type: str,
        title: str,
        description: str | None = None,
        *,
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
        status: str = "active",
        parent_id: int | None = None,
        edge_type: str = "leads_to",
        session_id: str | None = None,
        agent_name: str | None = None,
    ) -> Node:
        """Add a node; with parent_id, also the edge parent --edge_type--> node, in the same transaction."""
        node_type = _check_choice("node type", node_type, NODE_TYPES)
        status = _check_choice("status", status, NODE_STATUSES)
        title = _check_title(title)
        conf = _check_confidence(confidence)
        if metadata is not None and not isinstance(metadata, dict):
            raise GraphError(f"metadata must be a dict; got {type(metadata).__name__}")
        now = utcnow()
        with self.store.transaction() as con:
            row = con.execute(
                f"""INSERT INTO decision_nodes (change_id, node_type, title, description, status, confidence,
                    metadata, session_id, agent_name, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_NODE_COLUMNS}""",
                [
                    uuid.uuid4().hex,
                    node_type,
                    title,
                    description,
                    status,
                    conf,
                    dumps(metadata or {}),
                    session_id or self.session_id,
                    agent_name or self.agent_name,
                    now,
                    now,
                ],
            ).fetchone()
            node = _node(row)
            if parent_id is not None:
                self._add_edge(con, parent_id, node.id, edge_type, None, 1.0)
        return node

    def get_node(self, node_id: int) -> Node:
        with self.store.connect() as con:
            row = con.execute(f"SELECT {_NODE_COLUMNS} FROM decision_nodes WHERE id = ?", [node_id]).fetchone()
        if row is None:
            raise GraphError(f"no node {node_id}")
        return _node(row)

    def task_node(self, task: str, session_id: str | None = None) -> Node | None:
        """The action node of a plan's task (a recorder with project_decisions writes it), or None."""
        from ._project import task_id

        sid = session_id or self.session_id
        if not sid or not task:
            return None
        with self.store.connect() as con:
            row = con.execute(
                f"SELECT {_NODE_COLUMNS} FROM decision_nodes WHERE change_id = ?", [task_id(sid, task)]
            ).fetchone()
        return _node(row) if row is not None else None

    def update_node(
        self,
        node_id: int,
        *,
        title: str | None = None,
        description: str | None = None,
        status: str | None = None,
        confidence: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Node:
        sets: list[str] = []
        params: list[Any] = []
        if title is not None:
            sets.append("title = ?")
            params.append(_check_title(title))
        if description is not None:
            sets.append("description = ?")
            params.append(description)
        if status is not None:
            sets.append("status = ?")
            params.append(_check_choice("status", status, NODE_STATUSES))
        if confidence is not None:
            sets.append("confidence = ?")
            params.append(_check_confidence(confidence))
        if metadata is not None:
            if not isinstance(metadata, dict):
                raise GraphError(f"metadata must be a dict; got {type(metadata).__name__}")
            sets.append("metadata = ?")
            params.append(dumps(metadata))
        if not sets:
            return self.get_node(node_id)
        with self.store.transaction() as con:
            row = con.execute(
                f"UPDATE decision_nodes SET {', '.join(sets)}, updated_at = ? WHERE id = ? RETURNING {_NODE_COLUMNS}",
                [*params, utcnow(), node_id],
            ).fetchone()
            if row is None:
                raise GraphError(f"no node {node_id}")
        return _node(row)

    def delete_node(self, node_id: int) -> None:
        """Delete a node and every edge touching it."""
        with self.store.transaction() as con:
            if con.execute("SELECT 1 FROM decision_nodes WHERE id = ?", [node_id]).fetchone() is None:
                raise GraphError(f"no node {node_id}")
            con.execute("DELETE FROM decision_edges WHERE from_node_id = ? OR to_node_id = ?", [node_id, node_id])
            con.execute("DELETE FROM decision_nodes WHERE id = ?", [node_id])

    def list_nodes(
        self,
        *,
        node_type: str | None = None,
        status: str | None = None,
        session_id: str | None = None,
        agent_name: str | None = None,
        limit: int | None = None,
    ) -> list[Node]:
        where, params = self._node_filters(node_type, status, session_id, agent_name)
        sql = f"SELECT {_NODE_COLUMNS} FROM decision_nodes{where} ORDER BY id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self.store.connect() as con:
            return [_node(r) for r in con.execute(sql, params).fetchall()]

    @staticmethod
    def _node_filters(
        node_type: str | None, status: str | None, session_id: str | None, agent_name: str | None
    ) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if node_type is not None:
            clauses.append("node_type = ?")
            params.append(_check_choice("node type", node_type, NODE_TYPES))
        if status is not None:
            clauses.append("status = ?")
            params.append(_check_choice("status", status, NODE_STATUSES))
        if session_id is not None:
            clauses.append("session_id = ?")
            params.append(session_id)
        if agent_name is not None:
            clauses.append("agent_name = ?")
            params.append(agent_name)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    # edges ----------------------------------------------------------------------------------

    def add_edge(
        self,
        from_node_id: int,
        to_node_id: int,
        edge_type: str = "leads_to",
        *,
        rationale: str | None = None,
        weight: float = 1.0,
    ) -> Edge:
        with self.store.transaction() as con:
            return self._add_edge(con, from_node_id, to_node_id, edge_type, rationale, weight)

    def _add_edge(
        self, con: Any, from_id: int, to_id: int, edge_type: str, rationale: str | None, weight: float
    ) -> Edge:
        edge_type = _check_choice("edge type", edge_type, EDGE_TYPES)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
            raise GraphError(f"weight must be a finite number; got {weight!r}")
        if from_id == to_id:
            raise GraphError(f"an edge from node {from_id} to itself is not allowed")
        found = {
            r[0] for r in con.execute("SELECT id FROM decision_nodes WHERE id IN (?, ?)", [from_id, to_id]).fetchall()
        }
        missing = [n for n in (from_id, to_id) if n not in found]
        if missing:
            raise GraphError(f"no node {missing[0]}: an edge needs both ends to exist")
        if edge_type == "supersedes" and self._reaches(con, to_id, from_id, "supersedes"):
            raise GraphError(f"node {from_id} superseding node {to_id} would make a cycle of supersedes")
        row = con.execute(
            f"""INSERT INTO decision_edges (change_id, from_node_id, to_node_id, edge_type, weight, rationale,
                created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_EDGE_COLUMNS}""",
            [uuid.uuid4().hex, from_id, to_id, edge_type, float(weight), rationale, utcnow()],
        ).fetchone()
        return _edge(row)

    @staticmethod
    def _reaches(con: Any, start: int, goal: int, edge_type: str) -> bool:
        row = con.execute(
            """WITH RECURSIVE walk(id) AS (
                   SELECT ?::BIGINT UNION
                   SELECT e.to_node_id FROM decision_edges e JOIN walk w ON e.from_node_id = w.id
                   WHERE e.edge_type = ?)
               SELECT count(*) FROM walk WHERE id = ?""",
            [start, edge_type, goal],
        ).fetchone()
        return bool(row and row[0])

    def list_edges(
        self, *, edge_type: str | None = None, node_id: int | None = None, session_id: str | None = None
    ) -> list[Edge]:
        where, params = self._edge_filters(edge_type, node_id, session_id)
        with self.store.connect() as con:
            return [
                _edge(r)
                for r in con.execute(
                    f"SELECT {_EDGE_COLUMNS} FROM decision_edges{where} ORDER BY id", params
                ).fetchall()
            ]

    @staticmethod
    def _edge_filters(edge_type: str | None, node_id: int | None, session_id: str | None) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if edge_type is not None:
            clauses.append("edge_type = ?")
            params.append(_check_choice("edge type", edge_type, EDGE_TYPES))
        if node_id is not None:
            clauses.append("(from_node_id = ? OR to_node_id = ?)")
            params += [node_id, node_id]
        if session_id is not None:
            clauses.append("from_node_id IN (SELECT id FROM decision_nodes WHERE session_id = ?)")
            params.append(session_id)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def supersede(self, old_id: int, new_id: int, *, rationale: str | None = None) -> Edge:
        """new supersedes old, in one transaction: the edge, and old marked superseded."""
        with self.store.transaction() as con:
            edge = self._add_edge(con, new_id, old_id, "supersedes", rationale, 1.0)
            con.execute(
                "UPDATE decision_nodes SET status = 'superseded', updated_at = ? WHERE id = ?", [utcnow(), old_id]
            )
        return edge

    # queries ----------------------------------------------------------------------------------

    def active_goals(self, session_id: str | None = None) -> list[Node]:
        return self.list_nodes(node_type="goal", status="active", session_id=session_id)

    def recent_decisions(self, limit: int = 10, session_id: str | None = None) -> list[Node]:
        params: list[Any] = []
        where = "node_type IN ('decision', 'revisit')"
        if session_id is not None:
            where += " AND session_id = ?"
            params.append(session_id)
        with self.store.connect() as con:
            rows = con.execute(
                f"SELECT {_NODE_COLUMNS} FROM decision_nodes WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
                [*params, int(limit)],
            ).fetchall()
        return [_node(r) for r in rows]

    def search(self, text: str, *, limit: int = 50) -> list[Node]:
        """Nodes whose title or description contains `text` (case-insensitive)."""
        if not text:
            raise GraphError("search needs some text")
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.store.connect() as con:
            rows = con.execute(
                f"""SELECT {_NODE_COLUMNS} FROM decision_nodes
                    WHERE title ILIKE ? ESCAPE '\\' OR description ILIKE ? ESCAPE '\\' ORDER BY id LIMIT ?""",
                [pattern, pattern, int(limit)],
            ).fetchall()
        return [_node(r) for r in rows]

    def pulse(self, *, session_id: str | None = None, stale_after: timedelta = timedelta(hours=24)) -> Pulse:
        nodes = self.list_nodes(status="active", session_id=session_id)
        edges = self.list_edges()
        by_id = {n.id: n for n in nodes}
        out_edges: dict[int, list[int]] = defaultdict(list)
        for e in edges:
            out_edges[e.from_node_id].append(e.to_node_id)
        done_types = {"action", "outcome"}

        def reaches_action(start: int) -> bool:
            seen, stack = {start}, [start]
            while stack:
                for nxt in out_edges.get(stack.pop(), ()):
                    if nxt in seen:
                        continue
                    node = by_id.get(nxt)
                    if node is not None and node.node_type in done_types:
                        return True
                    seen.add(nxt)
                    stack.append(nxt)
            return False

        goals = [n for n in nodes if n.node_type == "goal" and not reaches_action(n.id)]
        low = [n for n in nodes if n.confidence is not None and n.confidence < 50]
        cutoff = utcnow() - stale_after
        stale = [n for n in nodes if n.updated_at < cutoff]
        counts: dict[str, int] = defaultdict(int)
        for n in nodes:
            counts[n.node_type] += 1
        summary = (
            f"{len(nodes)} active nodes ({', '.join(f'{v} {k}' for k, v in sorted(counts.items())) or 'none'}); "
            f"{len(goals)} goals with no path to an action or outcome; {len(low)} under 50 confidence; "
            f"{len(stale)} stale"
        )
        return Pulse(goals_without_action=goals, low_confidence=low, stale=stale, counts=dict(counts), summary=summary)

    def narrative(self, *, session_id: str | None = None, goal_id: int | None = None) -> str:
        """The graph as an indented story: each goal, then what it led to, depth first."""
        if (session_id is None) == (goal_id is None):
            raise GraphError("narrative needs exactly one of session_id or goal_id")
        if goal_id is not None:
            roots = [self.get_node(goal_id)]
            nodes = {n.id: n for n in self.list_nodes()}
        else:
            nodes = {n.id: n for n in self.list_nodes(session_id=session_id)}
            roots = [n for n in nodes.values() if n.node_type == "goal"]
        children: dict[int, list[tuple[str, int]]] = defaultdict(list)
        for e in self.list_edges():
            if e.edge_type == "supersedes":  # told from the old node's side: "superseded by" the new one
                children[e.to_node_id].append(("superseded by", e.from_node_id))
            else:
                children[e.from_node_id].append((e.edge_type, e.to_node_id))
        lines: list[str] = []
        seen: set[int] = set()

        def walk(node: Node, depth: int, via: str | None) -> None:
            conf = f" ({node.confidence}%)" if node.confidence is not None else ""
            status = "" if node.status == "active" else f" [{node.status}]"
            by = f" — {node.agent_name}" if node.agent_name else ""
            arrow = f"{via} → " if via else ""
            lines.append(f"{'  ' * depth}{arrow}{node.node_type} #{node.id}: {node.title}{conf}{status}{by}")
            if node.id in seen:
                return
            seen.add(node.id)
            for edge_type, child_id in children.get(node.id, []):
                child = nodes.get(child_id)
                if child is not None:
                    walk(child, depth + 1, edge_type)

        for root in roots:
            walk(root, 0, None)
        if not lines:
            return "No goals recorded."
        return "\n".join(lines)

    def context_block(self, *, session_id: str | None = None, max_tokens: int = 600) -> str:
        """Active goals and recent decisions for a system prompt, cut to about `max_tokens`."""
        sid = session_id or self.session_id
        lines = ["## Decision graph"]
        goals = self.active_goals(sid)
        if goals:
            lines.append("Active goals:")
            lines += [
                f"- #{g.id} {g.title}" + (f" ({g.confidence}%)" if g.confidence is not None else "") for g in goals
            ]
        decisions = self.recent_decisions(8, sid)
        if decisions:
            lines.append("Recent decisions:")
            lines += [f"- #{d.id} {d.title}" + (f" — {d.agent_name}" if d.agent_name else "") for d in decisions]
        if len(lines) == 1:
            lines.append("(empty: no goals or decisions yet)")
        budget = max_tokens * 4  # ~4 characters per token
        out: list[str] = []
        used = 0
        for line in lines:
            if used + len(line) + 1 > budget:
                out.append("… (more in the graph: use decision_query)")
                break
            out.append(line)
            used += len(line) + 1
        return "\n".join(out)

    # task dependencies --------------------------------------------------------------------

    def add_task_dependency(
        self, from_task: str, to_task: str, dependency_type: str = "blocks", *, session_id: str | None = None
    ) -> None:
        """from_task blocks (requires, informs, requires_output) to_task: for agents' tasks within a session."""
        dependency_type = _check_choice("dependency type", dependency_type, TASK_DEPENDENCY_TYPES)
        sid = session_id or self.session_id
        if not sid:
            raise GraphError("a task dependency belongs to a session: pass session_id")
        if not from_task or not to_task or from_task == to_task:
            raise GraphError("a task dependency needs two different task names")
        with self.store.transaction() as con:
            con.execute(
                "INSERT INTO task_dependencies (session_id, from_task, to_task, dependency_type, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [sid, from_task, to_task, dependency_type, utcnow()],
            )
