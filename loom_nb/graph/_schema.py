"""The DuckDB schema (Loom's decision graph plus the run history) and its migrations.

Every schema change is a new numbered migration appended to MIGRATIONS; a file records the
highest one applied, so a file written by an older loom-nb opens in a newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEPENDENCY_TYPES",
    "EDGE_TYPES",
    "MIGRATIONS",
    "NODE_STATUSES",
    "NODE_TYPES",
    "SESSION_STATUSES",
    "TASK_DEPENDENCY_TYPES",
    "Migration",
]

NODE_TYPES = ("goal", "decision", "option", "action", "outcome", "observation", "revisit")
EDGE_TYPES = ("leads_to", "chosen", "rejected", "requires", "blocks", "enables", "supersedes")
NODE_STATUSES = ("active", "superseded", "abandoned")
SESSION_STATUSES = ("running", "done", "failed", "cancelled", "interrupted")
DEPENDENCY_TYPES = ("blocks", "requires")
"""Loom's task dependency types (migration 1's CHECK)."""
TASK_DEPENDENCY_TYPES = (*DEPENDENCY_TYPES, "informs", "requires_output")
"""Since migration 4: a plan's kinds too (blocks, informs, requires_output; see events.PlannedTask)."""


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Any], None]
    """Called with an open connection inside a transaction."""


def _v1(con: Any) -> None:
    con.execute(f"""
        CREATE SEQUENCE decision_nodes_id START 1;
        CREATE TABLE decision_nodes (
            id BIGINT PRIMARY KEY DEFAULT nextval('decision_nodes_id'),
            change_id VARCHAR NOT NULL UNIQUE,
            node_type VARCHAR NOT NULL CHECK (node_type IN {_in(NODE_TYPES)}),
            title VARCHAR NOT NULL,
            description VARCHAR,
            status VARCHAR NOT NULL DEFAULT 'active' CHECK (status IN {_in(NODE_STATUSES)}),
            confidence INTEGER CHECK (confidence BETWEEN 0 AND 100),
            metadata JSON,
            session_id VARCHAR,
            agent_name VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE SEQUENCE decision_edges_id START 1;
        CREATE TABLE decision_edges (
            id BIGINT PRIMARY KEY DEFAULT nextval('decision_edges_id'),
            change_id VARCHAR NOT NULL UNIQUE,
            from_node_id BIGINT NOT NULL,
            to_node_id BIGINT NOT NULL,
            edge_type VARCHAR NOT NULL CHECK (edge_type IN {_in(EDGE_TYPES)}),
            weight DOUBLE NOT NULL DEFAULT 1.0,
            rationale VARCHAR,
            created_at TIMESTAMP NOT NULL
        );
        CREATE TABLE sessions (
            id VARCHAR PRIMARY KEY,
            title VARCHAR,
            intent VARCHAR,
            status VARCHAR NOT NULL CHECK (status IN {_in(SESSION_STATUSES)}),
            models JSON,
            project VARCHAR,
            writer_pid INTEGER,
            writer_host VARCHAR,
            started_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            input_tokens BIGINT NOT NULL DEFAULT 0,
            output_tokens BIGINT NOT NULL DEFAULT 0,
            cache_read_tokens BIGINT NOT NULL DEFAULT 0,
            cache_write_tokens BIGINT NOT NULL DEFAULT 0,
            cost_usd DOUBLE NOT NULL DEFAULT 0,
            unpriced_calls BIGINT NOT NULL DEFAULT 0
        );
        CREATE TABLE agents (
            id VARCHAR PRIMARY KEY,
            session_id VARCHAR NOT NULL,
            name VARCHAR NOT NULL,
            role VARCHAR,
            model VARCHAR,
            parent VARCHAR,
            status VARCHAR,
            restarts INTEGER NOT NULL DEFAULT 0,
            started_at TIMESTAMP,
            ended_at TIMESTAMP
        );
        CREATE SEQUENCE llm_calls_id START 1;
        CREATE TABLE llm_calls (
            id BIGINT DEFAULT nextval('llm_calls_id'),
            session_id VARCHAR NOT NULL,
            agent VARCHAR,
            model VARCHAR,
            input_tokens BIGINT,
            output_tokens BIGINT,
            cache_read_tokens BIGINT,
            cache_write_tokens BIGINT,
            cost_usd DOUBLE,
            latency_s DOUBLE,
            retries INTEGER,
            error VARCHAR,
            ts TIMESTAMP NOT NULL
        );
        CREATE SEQUENCE tool_calls_id START 1;
        CREATE TABLE tool_calls (
            id BIGINT DEFAULT nextval('tool_calls_id'),
            session_id VARCHAR NOT NULL,
            agent VARCHAR,
            tool VARCHAR,
            call_id VARCHAR,
            args_summary VARCHAR,
            duration_s DOUBLE,
            outcome VARCHAR,
            error VARCHAR,
            ts TIMESTAMP NOT NULL
        );
        CREATE SEQUENCE events_id START 1;
        CREATE TABLE events (
            id BIGINT DEFAULT nextval('events_id'),
            session_id VARCHAR NOT NULL,
            agent VARCHAR,
            kind VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            payload JSON
        );
        CREATE SEQUENCE task_dependencies_id START 1;
        CREATE TABLE task_dependencies (
            id BIGINT PRIMARY KEY DEFAULT nextval('task_dependencies_id'),
            session_id VARCHAR NOT NULL,
            from_task VARCHAR NOT NULL,
            to_task VARCHAR NOT NULL,
            dependency_type VARCHAR NOT NULL CHECK (dependency_type IN {_in(DEPENDENCY_TYPES)}),
            created_at TIMESTAMP NOT NULL
        );
    """)


def _v2(con: Any) -> None:
    # Why a session failed, was cancelled or was interrupted (SessionEnded.error; set by recovery).
    con.execute("ALTER TABLE sessions ADD COLUMN error VARCHAR")


def _v3(con: Any) -> None:
    # The hands: every commit an agent made, every shell command (full output), every approval.
    con.execute("""
        CREATE TABLE commits (
            session_id VARCHAR NOT NULL,
            agent VARCHAR,
            task VARCHAR,
            sha VARCHAR NOT NULL,
            message VARCHAR,
            files JSON,
            insertions INTEGER,
            deletions INTEGER,
            ts TIMESTAMP NOT NULL
        );
        CREATE TABLE shell_runs (
            session_id VARCHAR NOT NULL,
            agent VARCHAR,
            command VARCHAR NOT NULL,
            exit_code INTEGER,
            output VARCHAR,
            duration_s DOUBLE,
            sandboxed BOOLEAN,
            killed VARCHAR,
            ts TIMESTAMP NOT NULL
        );
        CREATE TABLE approvals (
            session_id VARCHAR NOT NULL,
            request_id VARCHAR NOT NULL,
            agent VARCHAR,
            role VARCHAR,
            tool VARCHAR,
            arguments VARCHAR,
            rule VARCHAR,
            reason VARCHAR,
            call_id VARCHAR,
            requested_at TIMESTAMP NOT NULL,
            decided_at TIMESTAMP,
            decision VARCHAR,
            decided_by VARCHAR,
            always BOOLEAN,
            rule_added VARCHAR,
            message VARCHAR,
            edited BOOLEAN,
            latency_s DOUBLE,
            PRIMARY KEY (session_id, request_id)
        );
    """)


def _v4(con: Any) -> None:
    # The specialist swarm: plans (with their cost estimate), tasks, messages, test runs; the plan's typed
    # dependencies in Loom's task_dependencies (from_task is the predecessor, to_task the dependent), whose
    # CHECK admitted only blocks/requires: DuckDB cannot drop a CHECK, so the table is made again with the
    # same rows and ids. No CHECK on what events fill: one unexpected value must not fail a whole batch.
    con.execute("""
        CREATE TABLE task_dependencies_v4 (
            id BIGINT PRIMARY KEY DEFAULT nextval('task_dependencies_id'),
            session_id VARCHAR NOT NULL,
            from_task VARCHAR NOT NULL,
            to_task VARCHAR NOT NULL,
            dependency_type VARCHAR NOT NULL,
            revision INTEGER,
            created_at TIMESTAMP NOT NULL
        );
        INSERT INTO task_dependencies_v4 (id, session_id, from_task, to_task, dependency_type, created_at)
            SELECT id, session_id, from_task, to_task, dependency_type, created_at FROM task_dependencies;
        DROP TABLE task_dependencies;
        ALTER TABLE task_dependencies_v4 RENAME TO task_dependencies;
        ALTER TABLE agents ADD COLUMN task VARCHAR;
        ALTER TABLE agents ADD COLUMN role_version INTEGER;
        CREATE TABLE plans (
            session_id VARCHAR NOT NULL,
            revision INTEGER NOT NULL,
            agent VARCHAR,
            reason VARCHAR,
            tasks INTEGER,
            estimate_usd DOUBLE,
            estimate_tokens BIGINT,
            estimate_basis VARCHAR,
            ts TIMESTAMP NOT NULL,
            PRIMARY KEY (session_id, revision)
        );
        CREATE TABLE tasks (
            session_id VARCHAR NOT NULL,
            task_id VARCHAR NOT NULL,
            position INTEGER,
            revision INTEGER,
            role VARCHAR,
            title VARCHAR,
            prompt VARCHAR,
            acceptance VARCHAR,
            status VARCHAR NOT NULL,
            agent VARCHAR,
            summary VARCHAR,
            files_changed JSON,
            decisions JSON,
            tests VARCHAR,
            open_questions JSON,
            cost_usd DOUBLE,
            error VARCHAR,
            created_at TIMESTAMP NOT NULL,
            started_at TIMESTAMP,
            ended_at TIMESTAMP,
            PRIMARY KEY (session_id, task_id)
        );
        CREATE TABLE messages (
            session_id VARCHAR NOT NULL,
            message_id VARCHAR,
            sender VARCHAR,
            recipient VARCHAR,
            kind VARCHAR,
            urgent BOOLEAN,
            reply_to VARCHAR,
            task VARCHAR,
            text VARCHAR,
            ts TIMESTAMP NOT NULL
        );
        CREATE TABLE tests (
            session_id VARCHAR NOT NULL,
            agent VARCHAR,
            task VARCHAR,
            round INTEGER,
            command VARCHAR,
            passed INTEGER,
            failed INTEGER,
            errors INTEGER,
            skipped INTEGER,
            failing JSON,
            exit_code INTEGER,
            duration_s DOUBLE,
            summary VARCHAR,
            ts TIMESTAMP NOT NULL
        );
    """)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "decision graph and run history", _v1),
    Migration(2, "sessions.error: why a session failed or was cancelled", _v2),
    Migration(3, "commits, shell_runs and approvals: what agents changed, ran and were allowed", _v3),
    Migration(4, "plans, tasks, messages and tests: the specialist swarm; typed plan dependencies", _v4),
)
"""In order; never edit one that has shipped, append a new one."""
