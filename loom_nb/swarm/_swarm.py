"""A swarm run: one session. The lead plans, researchers work under a DynamicSupervisor, the lead
answers; every step is an event, recorded to the project's graph, and the plan and findings land in
the decision graph (goal -> research action -> observation, with agent names).

The engine is loop-agnostic: `await swarm.run()` on any running loop (a script, a test, or the
kernel's swarm thread that the notebook face provides).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..agents._loop import Agent
from ..agents._sub_agent import Findings, _resolve_scope, research
from ..config import ConfigError, load_config
from ..events import (
    ENDED_STATUSES,
    AgentSpawned,
    AgentStatus,
    BudgetWarning,
    Event,
    EventBus,
    LLMCall,
    SessionEnded,
    SessionStarted,
    Warning,
)
from ..models import get_model
from ..models._base import Model
from ..models._budget import Budget, BudgetReached, reset_budget, use_budget
from ..models._messages import Usage
from ..permissions import ApprovalQueue, OnAsk, PermissionGate, Policy
from ..runtime import DynamicSupervisor, Registry, supervised_map
from ..tools import Scope, ToolContext
from ._lead import Lead
from ._roles import ROLES, Role, Task

__all__ = ["Swarm", "SwarmResult", "run_sync"]

Status = Literal["done", "failed", "cancelled"]


@dataclass(frozen=True, kw_only=True)
class SwarmResult:
    """What a session produced."""

    session_id: str
    status: Status
    text: str
    """The lead's answer (empty when the session did not get that far)."""
    findings: tuple[Findings, ...] = ()
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    """None when some call's price is unknown."""
    elapsed_s: float = 0.0
    error: str | None = None
    """Why it failed or was cancelled."""

    def __str__(self) -> str:
        return self.text or f"[{self.status}] {self.error or ''}"


class _Meter:
    """Adds up tokens and cost from LLMCall events (the budget guard reads it)."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.cost = 0.0
        self.unpriced = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, LLMCall) and event.error is not None and event.cost_usd is not None:
            self.cost += event.cost_usd  # a call abandoned in flight, charged at its reserved worst case
        elif isinstance(event, LLMCall) and event.error is None:
            self.usage = self.usage + Usage(
                input_tokens=event.input_tokens,
                output_tokens=event.output_tokens,
                cache_read_tokens=event.cache_read_tokens,
                cache_write_tokens=event.cache_write_tokens,
            )
            if event.cost_usd is None:
                self.unpriced += 1
            else:
                self.cost += event.cost_usd


class _OpenAgents:
    """The agents that started and have not ended yet, with their last iteration."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}
        self._known: set[str] = set()

    def __call__(self, event: Event) -> None:
        if isinstance(event, AgentSpawned):
            self._known.add(event.agent)
            self.open[event.agent] = 0
        elif isinstance(event, AgentStatus) and event.agent in self._known:
            if event.status in ENDED_STATUSES:
                self.open.pop(event.agent, None)
            else:  # an agent that ended a turn and goes on (the lead, idle between plan and answer) is open again
                self.open[event.agent] = max(self.open.get(event.agent, 0), event.iteration)


class Swarm:
    """`await Swarm("Where is the session stored?", project=".").run()` -> SwarmResult."""

    def __init__(
        self,
        intent: str,
        *,
        project: str | os.PathLike[str] = ".",
        scope: str | os.PathLike[str] | None = None,
        model: Model | str | None = None,
        weak: Model | str | None = None,
        max_agents: int = 4,
        max_tasks: int = 6,
        budget_usd: float | None = None,
        token_budget: int | None = None,
        session: str | None = None,
        db: str | os.PathLike[str] | None = None,
        record: bool = True,
        bus: EventBus | None = None,
        registry: Registry | None = None,
        policy: Policy | None = None,
        preset: str | None = None,
        approve: OnAsk = "queue",
        approval_timeout: float = 600.0,
    ) -> None:
        if not intent or not intent.strip():
            raise ValueError("a swarm needs an intent: say what you want found out")
        if max_agents < 1:
            raise ValueError(f"max_agents must be >= 1; got {max_agents}")
        if max_tasks < 1:
            raise ValueError(f"max_tasks must be >= 1; got {max_tasks}")
        if budget_usd is not None and budget_usd <= 0:
            raise ValueError(f"budget_usd must be > 0 (or None for no budget); got {budget_usd}")
        if token_budget is not None and token_budget <= 0:
            raise ValueError(f"token_budget must be > 0 (or None for no budget); got {token_budget}")
        self.intent = intent.strip()
        self.root, self.scope_dir = _resolve_scope(project, scope)
        config = load_config(self.root)
        # Models are built now, so a missing key is reported before anything starts.
        self.model = get_model(model if model is not None else config.default_model, prices=config.prices)
        self.weak = get_model(weak if weak is not None else config.weak_model, prices=config.prices)
        if budget_usd is not None:
            _check_priced(budget_usd, (self.model, self.weak), config.source or self.root / ".loom.toml")
        self.max_agents = max_agents
        """Agents working at once (the lead's plan may hold more tasks; they queue)."""
        self.max_tasks = max_tasks
        """Most tasks the lead's plan may hold."""
        self.budget_usd = budget_usd
        self.token_budget = token_budget
        self.budget = Budget(usd=budget_usd, tokens=token_budget) if budget_usd or token_budget else None
        """Every model call of the run reserves its worst case here first (None: no cap)."""
        self.budget_warning: BudgetWarning | None = None
        """The budget's 80 % warning, once it was given."""
        self.session_id = session or uuid.uuid4().hex[:12]
        self.bus = bus or EventBus()
        self.registry = registry if registry is not None else Registry()
        self.db = Path(db) if db is not None else None
        self.record = record
        self.meter = _Meter()
        self.bus.subscribe(self.meter)
        self.bus.subscribe(self._note_warning)
        self._open_agents = _OpenAgents()
        self.bus.subscribe(self._open_agents)
        self.policy = policy if policy is not None else Policy.load(self.root, preset=preset)
        """Decides every tool call of the run's agents (default: the project's .loom.toml [permissions])."""
        self.gate = PermissionGate(
            self.policy,
            queue=ApprovalQueue(timeout=approval_timeout),
            bus=self.bus,
            session_id=self.session_id,
            on_ask=approve,
        )
        """Where the run's asks wait for a human: `gate.queue.pending()`, `gate.queue.answer(...)`."""
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_reason: str | None = None
        self._ran = False

    def __repr__(self) -> str:
        return f"<Swarm {self.session_id} {self.intent[:40]!r}>"

    # control --------------------------------------------------------------------------------

    def stop(self, reason: str = "stopped by the user") -> None:
        """End the run soon (thread-safe: widget callbacks may arrive on another thread). Asked before
        the run has begun, the run ends as soon as it begins (an interrupt may land that early)."""
        if self._task is not None and self._task.done():
            return
        if self._stop_reason is not None:  # one cancel is enough; a second would cut the run's clean-up short
            return
        self._stop_reason = reason
        if self._task is None or self._loop is None or self._loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._task.cancel()
        else:
            self._loop.call_soon_threadsafe(self._task.cancel)

    @property
    def may_run_commands(self) -> bool:
        """Whether any role of this run has the shell tool (the live view says then if no OS sandbox holds it)."""
        return any(t.name == "shell" for role in ROLES.values() for t in role.tools())

    def _note_warning(self, event: Event) -> None:
        if isinstance(event, BudgetWarning) and event.session_id == self.session_id:
            self.budget_warning = event

    @property
    def stop_reason(self) -> str | None:
        """Why a stop was asked (the stop button, %loom stop, the budget), or None."""
        return self._stop_reason

    # the run ------------------------------------------------------------------------------

    async def run(self) -> SwarmResult:
        if self._ran:
            raise RuntimeError("each Swarm may be run once; make a new Swarm for another run")
        self._ran = True
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        recorder = None
        graph = None
        unusable: Exception | None = None
        if self.record:
            from ..graph import DecisionGraph, GraphError, GraphStore, Recorder, SchemaTooNew

            store = GraphStore(self.db) if self.db is not None else GraphStore(project=self.root)
            try:
                recorder = Recorder(store).attach(self.bus)
                graph = DecisionGraph(store, session_id=self.session_id, agent_name="lead")
            except (GraphError, SchemaTooNew) as exc:  # a damaged or unwritable file: fail, say why, touch nothing
                unusable = exc
        budget_scope = use_budget(self.budget)  # every agent of this run reserves its calls in it
        started = time.perf_counter()
        self.bus.emit(
            SessionStarted(
                session_id=self.session_id,
                agent="",
                intent=self.intent,
                title=self.intent.splitlines()[0][:80],
                models=tuple(dict.fromkeys((self.model.name, self.weak.name))),
                project=str(self.root),
            )
        )
        if (self.root / ".loom" / "worktrees").is_dir():
            await self._offer_stale_cleanup()
        findings: tuple[Findings, ...] = ()
        text, status, error = "", "done", None
        try:
            if unusable is not None:
                raise unusable
            if self._stop_reason is not None:  # stopped before it began
                raise asyncio.CancelledError
            scope = Scope(self.scope_dir)
            lead = Lead(model=self.model, bus=self.bus, session_id=self.session_id, scope=scope)
            tasks = await lead.plan(self.intent, self.max_tasks)
            goal_and_actions = await self._log_plan(graph, tasks)
            findings = await self._dispatch(tasks, scope, graph)
            await self._log_findings(graph, goal_and_actions, findings)
            text = await lead.answer(self.intent, findings)
        except asyncio.CancelledError:
            status, error = "cancelled", self._stop_reason or "cancelled"
            if self._stop_reason is None:
                raise  # cancelled from outside (an interrupt): record it, then let it propagate
        except BudgetReached as exc:  # the lead's own call found no room
            status, error = "cancelled", str(exc)
        except BaseException as exc:  # SystemExit too: the session fails, the loop's thread lives on
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            reset_budget(budget_scope)
            if status != "done" and error is None:
                status, error = "cancelled", "cancelled"
            if recorder is not None and recorder.failure is not None and status == "done":
                status, error = "failed", recorder.failure  # recording stopped mid-run: say so in the event too
            self.gate.close()  # what still waits for a human is denied: the run is over
            self._end_open_agents(status, error)
            self.bus.emit(SessionEnded(session_id=self.session_id, agent="", status=status, error=error))
            if recorder is not None:
                await _to_the_end(asyncio.to_thread(recorder.close), then_cancel=False)
                if recorder.failure is not None:  # the events are spooled; the message says where (final counts)
                    kept = error is None or error.startswith("recording to ")
                    status, error = "failed", recorder.failure if kept else f"{error}; {recorder.failure}"
        if self.meter.unpriced:
            self.bus.emit(
                Warning(
                    session_id=self.session_id,
                    agent="",
                    code="unknown_price",
                    message=f"{self.meter.unpriced} calls had no known price; cost is a lower bound",
                )
            )
        return SwarmResult(
            session_id=self.session_id,
            status=status,
            text=text,
            findings=findings,  # type: ignore[arg-type]
            usage=self.meter.usage,
            cost_usd=None if self.meter.unpriced else self.meter.cost,
            elapsed_s=time.perf_counter() - started,
            error=error,
        )

    async def _offer_stale_cleanup(self) -> None:
        """Workspaces whose kernel was killed are found at the next run and offered for cleanup."""
        from ..workspace import Workspace

        try:
            stale = [i.session_id for i in await asyncio.to_thread(Workspace.list, self.root) if i.stale]
        except Exception:  # a listing that fails must not stop a run
            return
        if stale:
            self.bus.emit(
                Warning(
                    session_id=self.session_id,
                    agent="",
                    code="stale_worktrees",
                    message=f"{len(stale)} workspace(s) of killed runs ({', '.join(stale[:5])}): %loom worktrees "
                    "--clean (or loom-nb worktrees --clean) removes them, %loom diff SESSION shows what they hold",
                )
            )

    def _end_agent(self, name: str, status: Literal["cancelled", "crashed"], reason: str) -> None:
        if name in self._open_agents.open:
            self.bus.emit(
                AgentStatus(
                    session_id=self.session_id,
                    agent=name,
                    status=status,
                    iteration=self._open_agents.open[name],
                    reason=reason,
                )
            )

    def _end_open_agents(self, status: str, error: str | None) -> None:
        """An ended session leaves no agent "thinking": each one still open gets a final status and
        (in the recorder) an end time: cancelled when the session was stopped, crashed otherwise."""
        final: Literal["cancelled", "crashed"] = "cancelled" if status == "cancelled" else "crashed"
        for name in list(self._open_agents.open):
            self._end_agent(name, final, error or f"the session ended ({status}) first")

    async def _dispatch(self, tasks: list[Task], scope: Scope, graph: Any) -> tuple[Findings, ...]:
        supervisor = DynamicSupervisor(registry=self.registry, name=("swarm", self.session_id))
        await supervisor.start()
        counters: dict[str, int] = {}
        names = []
        for task in tasks:
            counters[task.role] = counters.get(task.role, 0) + 1
            names.append(f"{task.role}-{counters[task.role]}")

        async def run_task(indexed: tuple[int, Task]) -> Findings:
            index, task = indexed
            return await self._run_role(ROLES[task.role], names[index], task, scope, graph)

        try:
            outcomes = await supervised_map(
                run_task,
                list(enumerate(tasks)),
                supervisor=supervisor,
                max_concurrency=self.max_agents,
                name=lambda i, item: (names[i], self.session_id),
            )
        finally:
            await _to_the_end(supervisor.stop())
        results = []
        for outcome in outcomes:
            if outcome.ok:
                results.append(outcome.value)
            else:
                reason = outcome.reason
                err = "timed out" if reason == "timeout" else f"{type(reason).__name__}: {reason}"
                self._end_agent(names[outcome.index], "crashed", err)  # if it died without saying so
                results.append(
                    Findings(
                        task=outcome.item[1].prompt,
                        text=f"failed: {err}",
                        partial=True,
                        agent=names[outcome.index],
                        session_id=self.session_id,
                        error=err,
                    )
                )
        return tuple(results)  # type: ignore[arg-type]

    async def _run_role(self, role: Role, name: str, task: Task, scope: Scope, graph: Any) -> Findings:
        model = self.weak if role.model == "weak" else self.model
        agent = Agent(
            name=name,
            role=role.name,
            model=model,
            tools=role.tools(),
            system_prompt=role.system_prompt.format(limit=role.max_iterations),
            max_iterations=role.max_iterations,
            bus=self.bus,
            parent="lead",
            gate=self.gate,
            context=ToolContext(
                scope=scope,
                project=self.root,
                session_id=self.session_id,
                graph=graph.for_agent(name) if graph is not None else None,
            ),
        )
        try:
            return await research(agent, task.prompt, scope)
        except BudgetReached as exc:
            self.stop(str(exc))  # the others' calls in flight settle and are recorded as the run winds down
            raise

    # the decision graph -------------------------------------------------------------------

    async def _log_plan(self, graph: Any, tasks: list[Task]) -> tuple[int, list[int]] | None:
        if graph is None:
            return None

        def write() -> tuple[int, list[int]]:
            goal = graph.add_node(
                "goal",
                self.intent.splitlines()[0][:200],
                self.intent,
                metadata={"models": [self.model.name, self.weak.name]},
            )
            actions = [
                graph.add_node(
                    "action", f"research: {t.prompt}"[:200], t.prompt, parent_id=goal.id, metadata={"role": t.role}
                ).id
                for t in tasks
            ]
            return goal.id, actions

        return await asyncio.to_thread(write)

    async def _log_findings(
        self, graph: Any, ids: tuple[int, list[int]] | None, findings: tuple[Findings, ...]
    ) -> None:
        if graph is None or ids is None:
            return
        _, actions = ids

        def write() -> None:
            for action_id, f in zip(actions, findings, strict=True):
                confidence = 20 if f.error else (40 if f.partial or not f.evidence else 70)
                title = str(f.evidence[0]) if f.evidence else _first_line(f.text)
                graph.for_agent(f.agent).add_node(
                    "observation",
                    title[:200],
                    f.text[:4000],
                    confidence=confidence,
                    parent_id=action_id,
                    metadata={
                        "evidence": [str(e) for e in f.evidence[:20]],
                        "partial": f.partial,
                        "error": f.error,
                        "model": f.model,
                    },
                )
            # A human's answer is a decision of the run: linked to the task (action) it allowed or refused.
            action_of = {f.agent: action_id for action_id, f in zip(actions, findings, strict=True)}
            for request, answer in self.gate.queue.decided:
                target = json.dumps(dict(request.arguments), default=str)
                graph.for_agent(request.agent).add_node(
                    "decision",
                    f"{answer.action} {request.tool} {target}"[:200],
                    (request.decision.explain if request.decision is not None else "")
                    + (f"\n{answer.message}" if answer.message else ""),
                    confidence=100,
                    parent_id=action_of.get(request.agent),
                    edge_type="chosen" if answer.action == "allow" else "rejected",
                    metadata={
                        "approval": request.id,
                        "tool": request.tool,
                        "decision": answer.action,
                        "by": answer.by,
                        "always": answer.always,
                        "rule_added": answer.rule.describe() if answer.rule is not None else None,
                    },
                )

        await asyncio.to_thread(write)


def _check_priced(budget_usd: float, models: tuple[Model, ...], config_file: Path) -> None:
    """A USD budget needs every model's price; refuse to start rather than run unguarded."""
    for m in models:
        if m.price is None:
            raise ConfigError(
                f"{m.name} has no known price, so a ${budget_usd:g} budget cannot be enforced: add "
                f'[prices."{m.name}"] with input_per_mtok and output_per_mtok (USD per million tokens) to '
                f"{config_file}, or cap tokens instead (--token-budget N in %%loom, token_budget=N in Python)"
            )


async def _to_the_end(step: Any, *, then_cancel: bool = True) -> Any:
    """Await a clean-up step (stopping the agents, closing the recorder) to its end even if a
    cancellation arrives meanwhile: cut short, the session would end with agents still "thinking"
    and its last events unwritten. That cancellation is raised once the step is over (unless
    `then_cancel` is false: after the session's end is recorded, a late one changes nothing)."""
    future = asyncio.ensure_future(step)
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled and then_cancel:
        raise asyncio.CancelledError
    return future.result()


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("["):
            return line
    return text.strip()[:200] or "(no findings)"


def run_sync(swarm: Swarm, on_result: Callable[[SwarmResult], None] | None = None) -> SwarmResult:
    """Run where no loop is running (a script, a terminal); inside a loop use `await swarm.run()`."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result = asyncio.run(swarm.run())
        if on_result:
            on_result(result)
        return result
    raise RuntimeError("run_sync(swarm) cannot block inside a running event loop: use `await swarm.run()`")
