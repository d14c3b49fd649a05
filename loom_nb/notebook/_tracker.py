"""Live state of a session's agents and plan, folded from its events (for `%loom agents` and the live view).

Events arrive on the swarm thread, thousands a second with 100 agents; readers (cells, the widget
timer) come at most 10 times a second. So the fold changes its rows in place (no new row per event)
and readers take copies under a lock.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..events import (
    ENDED_STATUSES,
    AgentSpawned,
    AgentStatus,
    Event,
    EventBus,
    LLMCall,
    MessageSent,
    PlanMade,
    SessionEnded,
    TaskStatus,
    TestRun,
    ToolCallEvent,
    ToolStarted,
    Warning,
)
from ._board import Board, BoardFold

__all__ = ["AgentRow", "SessionTracker"]


@dataclass(kw_only=True)
class AgentRow:
    """One agent as the live view shows it (readers get a copy: changing it changes nothing)."""

    name: str
    role: str = ""
    model: str = ""
    status: str = "idle"
    tool: str = ""
    """The tool running now and its arguments, in short."""
    iterations: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    restarts: int = 0
    tool_calls: int = 0


@dataclass
class _State:
    agents: dict[str, AgentRow] = field(default_factory=dict)
    feed: list[str] = field(default_factory=list)
    version: int = 0
    ended: str | None = None
    board: BoardFold = field(default_factory=BoardFold)


class SessionTracker:
    """Subscribe with `SessionTracker(bus)`; read with rows(), feed(), board(), totals()."""

    FEED_LENGTH = 8

    def __init__(self, bus: EventBus, session_id: str) -> None:
        self.session_id = session_id
        self.started = time.time()
        self._state = _State()
        self._lock = threading.Lock()
        self._unsubscribe = bus.subscribe(self)

    def __call__(self, event: Event) -> None:
        if event.session_id != self.session_id:
            return
        with self._lock:
            self._apply(event)
            self._state.version += 1

    def _apply(self, e: Event) -> None:
        st = self._state
        if isinstance(e, (PlanMade, TaskStatus, MessageSent, TestRun)):  # the board's alone
            note = st.board.apply(e)
            if note:
                self._note(note)
            return
        if isinstance(e, SessionEnded):
            st.ended = e.status
            self._note(f"session {e.status}" + (f": {e.error}" if e.error else ""))
            return
        if not e.agent:
            if isinstance(e, Warning):  # the session's own warnings (stale workspaces, unknown prices)
                self._note(f"note: {e.message}")
            return
        row = st.agents.get(e.agent)
        if row is None:
            row = st.agents[e.agent] = AgentRow(name=e.agent)
        if isinstance(e, LLMCall):  # the most frequent first
            row.input_tokens += e.input_tokens + e.cache_read_tokens
            row.output_tokens += e.output_tokens
            row.cost_usd += e.cost_usd or 0.0
            row.unpriced_calls += e.cost_usd is None and e.error is None
            st.board.apply(e)  # the cost of the agent's task
        elif isinstance(e, AgentStatus):
            row.status = e.status
            row.iterations = max(row.iterations, e.iteration)
            if e.status != "executing":
                row.tool = ""
            if e.status in ENDED_STATUSES:
                self._note(f"{e.agent} {e.status}" + (f": {e.reason}" if e.reason and e.status != "done" else ""))
        elif isinstance(e, ToolStarted):
            row.tool = f"{e.tool}({e.args_summary})"[:80]
        elif isinstance(e, ToolCallEvent):
            row.tool_calls += 1
            if e.outcome != "ok":
                self._note(f"{e.agent}: {e.tool} {e.outcome}" + (f" — {e.error[:60]}" if e.error else ""))
        elif isinstance(e, AgentSpawned):
            row.restarts += e.restart  # a new turn or a re-announced agent is no restart
            row.role, row.model, row.status = e.role, e.model, "idle"
            st.board.spawned(e.agent, e.task)
            self._note(f"{e.agent} ({e.role}) started" + (f" — restart {row.restarts}" if e.restart else ""))

    def _note(self, line: str) -> None:
        feed = self._state.feed
        feed.append(f"{time.strftime('%H:%M:%S')} {line}")
        del feed[: -self.FEED_LENGTH]

    def close(self) -> None:
        self._unsubscribe()

    # readers -------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        """Changes whenever an event changed the state (the live view redraws only then)."""
        return self._state.version

    @property
    def ended(self) -> str | None:
        return self._state.ended

    def rows(self) -> list[AgentRow]:
        with self._lock:
            return [copy.copy(r) for r in self._state.agents.values()]

    def feed(self) -> list[str]:
        with self._lock:
            return list(self._state.feed)

    def board(self) -> Board:
        """The plan's tasks (status, agent, cost, result) and the newest messages and test runs."""
        with self._lock:
            return self._state.board.snapshot()

    def totals(self) -> dict[str, Any]:
        rows = self.rows()
        return {
            "agents": len(rows),
            "input_tokens": sum(r.input_tokens for r in rows),
            "output_tokens": sum(r.output_tokens for r in rows),
            "cost_usd": sum(r.cost_usd for r in rows),
            "unpriced_calls": sum(r.unpriced_calls for r in rows),
            "elapsed_s": time.time() - self.started,
        }

    def dataframe(self) -> Any:
        import pandas as pd

        columns = [
            "name",
            "role",
            "model",
            "status",
            "tool",
            "iterations",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "restarts",
            "tool_calls",
        ]
        return pd.DataFrame([{c: getattr(r, c) for c in columns} for r in self.rows()], columns=columns)
