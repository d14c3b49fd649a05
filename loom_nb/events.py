"""Typed events and the event bus: the spine every subscriber (recorder, widgets, telemetry) hangs on.

Agents never call a recorder or a widget; they emit events here and whoever cares subscribes.
Emitting is synchronous and cheap: subscribers must only enqueue (a recorder batches, a widget
coalesces), never do I/O inline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ENDED_STATUSES",
    "AgentSpawned",
    "AgentStatus",
    "AgentStatusName",
    "ApprovalDecided",
    "ApprovalRequested",
    "BudgetWarning",
    "CommitMade",
    "Event",
    "EventBus",
    "EventLog",
    "LLMCall",
    "MessageSent",
    "PlanMade",
    "PlannedTask",
    "SessionEnded",
    "SessionStarted",
    "ShellRun",
    "TaskStatus",
    "TaskStatusName",
    "TestRun",
    "ToolCallEvent",
    "ToolStarted",
    "Warning",
]

log = logging.getLogger("loom_nb.events")

AgentStatusName = Literal["thinking", "executing", "waiting", "idle", "done", "crashed", "restarting", "cancelled"]
"""`waiting`: a tool call waits for a human's approval; `cancelled`: stopped before it ended."""
ENDED_STATUSES: frozenset[str] = frozenset({"done", "crashed", "cancelled"})
"""The statuses an agent ends with (it gets an end time; an agent not in one is still open)."""


@dataclass(slots=True, kw_only=True, frozen=True)
class _Base:
    session_id: str
    """The session (one swarm run) this event belongs to."""
    agent: str
    """Name of the agent that emitted it ("" for session-level events)."""
    ts: float = field(default_factory=time.time)
    """Wall-clock time of emission, seconds since the epoch."""


@dataclass(slots=True, kw_only=True, frozen=True)
class AgentSpawned(_Base):
    """An agent started: once per agent, and again each time its supervisor restarts it after a crash."""

    kind: Literal["agent_spawned"] = "agent_spawned"
    role: str
    """researcher, architect, implementer, tester, lead, sub_agent or user-defined."""
    model: str
    """Model string the agent talks to."""
    parent: str | None = None
    """Name of the agent (or supervisor) that started it."""
    restart: bool = False
    """True when its supervisor started it again after a crash (restart counts add these up; a new
    turn of a running agent is no restart and emits no AgentSpawned)."""
    role_version: int = 0
    """Which definition of its role it was made from (a role redefined mid-run gets a new version;
    running agents keep theirs)."""
    task: str = ""
    """The plan task it works on ("" for the lead and for agents outside a plan)."""


@dataclass(slots=True, kw_only=True, frozen=True)
class AgentStatus(_Base):
    """An agent changed status."""

    kind: Literal["agent_status"] = "agent_status"
    status: AgentStatusName
    """thinking (in a model turn), executing (running tools), idle, done, crashed, restarting,
    cancelled (stopped before it finished)."""
    iteration: int = 0
    """Iteration number (1-based) when the status was entered; 0 before the first."""
    tool: str | None = None
    """While executing: the tool names of this iteration, comma-separated."""
    reason: str | None = None
    """For done/crashed: why the agent ended (final answer, iteration limit, the error)."""


@dataclass(slots=True, kw_only=True, frozen=True)
class LLMCall(_Base):
    """One model turn finished (successfully or not)."""

    kind: Literal["llm_call"] = "llm_call"
    model: str
    input_tokens: int = 0
    """Input tokens billed at the full rate (cache reads and writes excluded)."""
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None
    """Cost of this turn in USD; None when the model's price is unknown (never a made-up $0)."""
    latency_s: float = 0.0
    retries: int = 0
    """Attempts beyond the first (429, 529, 5xx, timeouts, dropped connections)."""
    error: str | None = None
    """Set when the turn failed after its retries."""


@dataclass(slots=True, kw_only=True, frozen=True)
class ToolStarted(_Base):
    """A tool call began (so a live view can show the current tool)."""

    kind: Literal["tool_started"] = "tool_started"
    tool: str
    call_id: str
    args_summary: str
    """The arguments, shortened for display; never secrets (tools take no secrets)."""


@dataclass(slots=True, kw_only=True, frozen=True)
class ToolCallEvent(_Base):
    """A tool call ended."""

    kind: Literal["tool_call"] = "tool_call"
    tool: str
    call_id: str
    args_summary: str
    duration_s: float
    outcome: Literal["ok", "error", "refused"]
    """ok; error (the tool raised or the input was bad); refused (not allowed for this agent)."""
    error: str | None = None


@dataclass(slots=True, kw_only=True, frozen=True)
class Warning(_Base):
    """Something the user should know that did not stop the run (for example an unknown price)."""

    kind: Literal["warning"] = "warning"
    code: str
    """A short stable identifier, for example "unknown_price"."""
    message: str


@dataclass(slots=True, kw_only=True, frozen=True)
class BudgetWarning(_Base):
    """A budget passed its warning share (80 % by default) of a cap: once per budget and run."""

    kind: Literal["budget_warning"] = "budget_warning"
    budget: str
    """Which budget ("session"; later a role's, an agent's or a task's)."""
    share: float
    """Spent share of the cap that is most used, 0..1."""
    spent_usd: float = 0.0
    limit_usd: float | None = None
    spent_tokens: int = 0
    limit_tokens: int | None = None
    message: str = ""


@dataclass(slots=True, kw_only=True, frozen=True)
class SessionStarted(_Base):
    """A session (one swarm run) began. `agent` is ""."""

    kind: Literal["session_started"] = "session_started"
    intent: str
    """What the user asked for (the %%loom cell body)."""
    title: str = ""
    models: tuple[str, ...] = ()
    project: str = ""


@dataclass(slots=True, kw_only=True, frozen=True)
class SessionEnded(_Base):
    """A session ended. `agent` is ""."""

    kind: Literal["session_ended"] = "session_ended"
    status: Literal["done", "failed", "cancelled"]
    error: str | None = None


@dataclass(slots=True, kw_only=True, frozen=True)
class CommitMade(_Base):
    """An agent's edit became one commit of the run's workspace."""

    kind: Literal["commit_made"] = "commit_made"
    sha: str
    message: str
    files: tuple[str, ...] = ()
    insertions: int = 0
    deletions: int = 0
    task: str = ""


@dataclass(slots=True, kw_only=True, frozen=True)
class ShellRun(_Base):
    """A shell command ran in the workspace: what it printed in full (the model saw head and tail)."""

    kind: Literal["shell_run"] = "shell_run"
    command: str
    exit_code: int | None
    """None when it was killed (timeout or stop)."""
    output: str
    duration_s: float
    sandboxed: bool
    """True when an OS sandbox (bubblewrap) ran it; False: the policy was the only guard."""
    killed: str | None = None
    """Why the process group was killed: "timeout" or "stopped"."""


@dataclass(slots=True, kw_only=True, frozen=True)
class ApprovalRequested(_Base):
    """A tool call waits for a human's answer."""

    kind: Literal["approval_requested"] = "approval_requested"
    request_id: str
    tool: str
    arguments: str
    """The arguments as JSON (what the human is shown)."""
    role: str = ""
    rule: str = ""
    """The line of the policy that asked."""
    reason: str = ""
    call_id: str = ""


@dataclass(slots=True, kw_only=True, frozen=True)
class ApprovalDecided(_Base):
    """A human (or the timeout, or a stop) answered an approval request."""

    kind: Literal["approval_decided"] = "approval_decided"
    request_id: str
    decision: Literal["allow", "deny"]
    by: str
    """widget, cell, cli, python, timeout, stop."""
    always: bool = False
    rule_added: str = ""
    message: str = ""
    edited: bool = False
    latency_s: float = 0.0


DependencyKind = Literal["blocks", "informs", "requires_output"]
"""blocks: the dependent waits for it; requires_output: waits, and gets its output; informs: does not
wait, but gets its output if it is done by then."""


@dataclass(slots=True, kw_only=True, frozen=True)
class PlannedTask:
    """One task of a plan, as recorded (the plan module builds and checks these)."""

    id: str
    role: str
    prompt: str
    acceptance: str = ""
    """What must hold for the task to count as done."""
    deps: tuple[tuple[str, DependencyKind], ...] = ()
    """(task id, kind) for each task this one depends on."""
    title: str = ""


@dataclass(slots=True, kw_only=True, frozen=True)
class PlanMade(_Base):
    """The lead made (revision 0) or revised a plan; it replaces the previous one's pending tasks."""

    kind: Literal["plan_made"] = "plan_made"
    tasks: tuple[PlannedTask, ...]
    revision: int = 0
    reason: str = ""
    """Why it was revised (empty for the first plan)."""
    estimate_usd: float | None = None
    """The expected cost of the plan's tasks before they start (None: a model's price is unknown)."""
    estimate_tokens: int = 0
    estimate_basis: str = ""
    """Where the per-role priors came from ("12 tasks of 3 earlier runs", "defaults")."""


TaskStatusName = Literal["pending", "running", "done", "failed", "cancelled", "skipped"]


@dataclass(slots=True, kw_only=True, frozen=True)
class TaskStatus(_Base):
    """A task of the plan changed status; `agent` is the agent on it ("" while pending)."""

    kind: Literal["task_status"] = "task_status"
    task: str
    role: str
    status: TaskStatusName
    summary: str = ""
    """The completion's summary (done) or why it failed."""
    files_changed: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    tests: str = ""
    """The test results it reports, in one line ("12 passed, 1 failed")."""
    open_questions: tuple[str, ...] = ()
    cost_usd: float | None = 0.0
    """What its agents' calls cost so far (None: a price is unknown)."""
    error: str | None = None


MessageKind = Literal["message", "ask", "reply", "broadcast"]


@dataclass(slots=True, kw_only=True, frozen=True)
class MessageSent(_Base):
    """An agent (or the lead, or the run itself) sent another a message; `agent` is the sender."""

    kind: Literal["message_sent"] = "message_sent"
    message_id: str
    to: str
    """The addressee's name, or "*" for a broadcast."""
    text: str
    message_kind: MessageKind = "message"
    urgent: bool = False
    """Urgent messages (stop, budget, a re-plan) interrupt the addressee instead of waiting for its turn."""
    reply_to: str = ""
    """For a reply: the id of the ask it answers."""
    task: str = ""
    """The sender's task."""


@dataclass(slots=True, kw_only=True, frozen=True)
class TestRun(_Base):
    """The project's tests ran in the workspace (the tester's outcome)."""

    __test__ = False  # not a pytest test class
    kind: Literal["test_run"] = "test_run"
    command: str
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failing: tuple[str, ...] = ()
    """Ids of the failing and erroring tests (pytest node ids)."""
    exit_code: int | None = None
    duration_s: float = 0.0
    task: str = ""
    round: int = 1
    """1 for the first run of a task's tests, 2 after the first fix, ..."""
    summary: str = ""
    """One line: "12 passed, 1 failed (tests/test_x.py::test_y)"."""


Event = (
    AgentSpawned
    | AgentStatus
    | LLMCall
    | ToolStarted
    | ToolCallEvent
    | Warning
    | SessionStarted
    | SessionEnded
    | CommitMade
    | ShellRun
    | ApprovalRequested
    | ApprovalDecided
    | BudgetWarning
    | PlanMade
    | TaskStatus
    | MessageSent
    | TestRun
)

Subscriber = Callable[[Any], None]


class EventBus:
    """Fan-out of events to subscribers, in emission order, on the emitter's thread.

    A subscriber that raises is logged and kept; it never breaks the emitter.
    """

    __slots__ = ("_subscribers",)

    def __init__(self) -> None:
        self._subscribers: tuple[Subscriber, ...] = ()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call `fn(event)` for every later event; returns a function that unsubscribes."""
        self._subscribers = (*self._subscribers, fn)

        def unsubscribe() -> None:
            self._subscribers = tuple(s for s in self._subscribers if s is not fn)

        return unsubscribe

    def emit(self, event: Event) -> None:
        for fn in self._subscribers:
            try:
                fn(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", fn, event.kind)

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[asyncio.Queue[Event]]:
        """Collect events into a queue for the duration of the block."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        unsubscribe = self.subscribe(queue.put_nowait)
        try:
            yield queue
        finally:
            unsubscribe()


class EventLog:
    """A subscriber that keeps every event in a list (tests, scripts, post-run summaries)."""

    def __init__(self, bus: EventBus | None = None) -> None:
        self.events: list[Event] = []
        if bus is not None:
            bus.subscribe(self.events.append)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of_kind(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.kind == kind]
