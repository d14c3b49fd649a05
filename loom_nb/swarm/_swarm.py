"""A swarm run: one session. The lead plans, researchers work under a DynamicSupervisor, the lead
answers; every step is an event, recorded to the project's graph, and the plan and findings land in
the decision graph (goal -> research action -> observation, with agent names).

The engine is loop-agnostic: `await swarm.run()` on any running loop (a script, a test, or the
kernel's swarm thread that the notebook face provides).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..agents._sub_agent import Findings, _resolve_scope
from ..config import ConfigError, load_config
from ..events import (
    ENDED_STATUSES,
    AgentSpawned,
    AgentStatus,
    BudgetWarning,
    Event,
    EventBus,
    LLMCall,
    PlanMade,
    SessionEnded,
    SessionStarted,
    Warning,
)
from ..models import get_model
from ..models._base import Model
from ..models._budget import Budget, BudgetReached, reset_budget, use_budget
from ..models._messages import Usage
from ..permissions import ApprovalQueue, OnAsk, PermissionGate, Policy
from ..runtime import Registry
from ..tools import Scope
from . import _roles
from ._crew import Crew, TaskResult, research_findings
from ._lead import Lead
from ._plan import Task, check_plan
from ._roles import Role, RoleBook

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
    tasks: tuple[TaskResult, ...] = ()
    """Each task of the plan: status, agent, completion, cost, test runs."""
    estimate_usd: float | None = None
    """What the plan was expected to cost before it started (None: a price was unknown)."""
    reverted: tuple[str, ...] = ()
    """Commits reverted at the end because the tests still failed (or an outcome was denied)."""

    def __str__(self) -> str:
        return self.text or f"[{self.status}] {self.error or ''}"


class _Meter:
    """Adds up tokens and cost from LLMCall events, for the session and per agent (tasks and roles add
    their agents' up)."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.cost = 0.0
        self.unpriced = 0
        self.by_agent: dict[str, float] = {}
        self.unpriced_agents: set[str] = set()

    def of(self, agents: Sequence[str]) -> float | None:
        """What these agents' calls cost (None when a price of theirs is unknown)."""
        if any(a in self.unpriced_agents for a in agents):
            return None
        return sum(self.by_agent.get(a, 0.0) for a in agents)

    def __call__(self, event: Event) -> None:
        if type(event) is not LLMCall:  # every event passes here: one identity check for the others
            return
        if event.cost_usd is not None:
            self.by_agent[event.agent] = self.by_agent.get(event.agent, 0.0) + event.cost_usd
        elif event.error is None:
            self.unpriced_agents.add(event.agent)
        if event.error is not None and event.cost_usd is not None:
            self.cost += event.cost_usd  # a call abandoned in flight, charged at its reserved worst case
        elif event.error is None:
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
        kind = type(event)
        if kind is AgentSpawned:
            self._known.add(event.agent)
            self.open[event.agent] = 0
        elif kind is AgentStatus and event.agent in self._known:
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
        strong: Model | str | None = None,
        roles: RoleBook | None = None,
        plan: list[Task] | None = None,
        role_budgets: dict[str, float | tuple[float | None, int | None]] | None = None,
        task_budget_usd: float | None = None,
        fix_rounds: int | None = None,
        approve_outcomes: bool = False,
        revise: bool = True,
    ) -> None:
        if not intent or not intent.strip():
            raise ValueError("a swarm needs an intent: say what you want found out")
        if max_agents < 1:
            raise ValueError(f"max_agents must be >= 1; got {max_agents}")
        if max_tasks < 1:
            raise ValueError(f"max_tasks must be >= 1; got {max_tasks}")
        if budget_usd is not None and not budget_usd > 0:
            raise ValueError(f"budget_usd must be > 0 (or None for no budget); got {budget_usd}")
        if token_budget is not None and not token_budget > 0:
            raise ValueError(f"token_budget must be > 0 (or None for no budget); got {token_budget}")
        self.intent = intent.strip()
        self.root, self.scope_dir = _resolve_scope(project, scope)
        config = load_config(self.root)
        # Models are built now, so a missing key is reported before anything starts.
        self.model = get_model(model if model is not None else config.default_model, prices=config.prices)
        self.weak = get_model(weak if weak is not None else config.weak_model, prices=config.prices)
        strong_name = strong if strong is not None else getattr(config, "strong_model", None)
        self.strong = get_model(strong_name, prices=config.prices) if strong_name is not None else self.model
        self.book = (roles if roles is not None else _roles.roles).with_project(self.root)
        """The roles of this run: the process's (`loom_nb.roles`), then the project's [roles.NAME] tables."""
        self._models: dict[str, Model] = {}
        self._prices = config.prices
        if budget_usd is not None:
            _check_priced(budget_usd, self._all_models(), config.source or self.root / ".loom.toml")
        self.max_agents = max_agents
        """Agents working at once (the lead's plan may hold more tasks; they queue)."""
        self.max_tasks = max_tasks
        """Most tasks the lead's plan may hold."""
        self.given_plan = plan
        """A plan the user wrote (checked like the lead's); None: the lead plans."""
        self.role_budgets: dict[str, tuple[float | None, int | None]] = {}
        for name, cap in (role_budgets or {}).items():
            self.book.get(name)  # an unknown role is an error now, with the roles named
            usd, tokens = cap if isinstance(cap, tuple) else (cap, None)
            if (usd is not None and not usd > 0) or (tokens is not None and not tokens > 0):  # NaN too
                raise ValueError(f"the budget of role {name!r} must be > 0; got {cap!r}")
            self.role_budgets[name] = (usd, tokens)
        if task_budget_usd is not None and not task_budget_usd > 0:  # NaN too
            raise ValueError(f"task_budget_usd must be > 0 (or None); got {task_budget_usd}")
        self.task_budget_usd = task_budget_usd
        test = getattr(config, "test", None)
        self.fix_rounds = fix_rounds if fix_rounds is not None else getattr(test, "fix_rounds", 2)
        """Rounds a tester may send failures back to the implementer before the run gives up."""
        self.approve_outcomes = approve_outcomes
        """Writing roles edit their worktree without asking; a human approves each task's outcome."""
        self.revise = revise
        """Let the lead revise the plan when a task fails or leaves open questions (models only)."""
        self.estimate_usd: float | None = None
        self.results: dict[str, TaskResult] = {}
        self.workspace: Any = None
        self.store: Any = None
        self._planned_roles: set[str] | None = None
        """The graph file the run records to (its earlier runs give the estimate's priors)."""
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
        self._open_agents = _OpenAgents()
        self.bus.subscribe(self._on_event)  # one subscriber for the three: every event of the run passes here
        self.policy = policy if policy is not None else Policy.load(self.root, preset=preset)
        """Decides every tool call of the run's agents (default: the project's .loom.toml [permissions])."""
        role_presets = {r.name: r.preset for r in self.book if r.preset is not None}
        self.policy.role_presets = {**role_presets, **self.policy.role_presets}
        self.gate = PermissionGate(
            self.policy,
            queue=ApprovalQueue(timeout=approval_timeout),
            bus=self.bus,
            session_id=self.session_id,
            on_ask=approve,
            # approve-outcomes: a writing role's edits need no approval (its task's outcome will); only the
            # preset's ask on a write is lifted: commands, rules that ask and deny rules stay as they are
            edits_unasked=frozenset(r.name for r in self.book if r.writes) if approve_outcomes else frozenset(),
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
        """Whether a role of this run may run commands (the live view says then if no OS sandbox holds
        them): of its plan's roles once there is a plan, of every role it could use before."""
        names = self._planned_roles
        roles = [self.book.get(n) for n in names if n in self.book] if names is not None else list(self.book)
        return any(t in ("shell", "run_tests") for role in roles for t in role.tools)

    def model_for(self, role: Role) -> Model:
        """The model of a role's agents: a tier of the run's (strong, default, weak) or its own."""
        tier = role.tier()
        if tier == "strong":
            return self.strong
        if tier == "weak":
            return self.weak
        if tier == "default":
            return self.model
        if role.model not in self._models:
            self._models[role.model] = get_model(role.model, prices=self._prices)
        return self._models[role.model]

    def _all_models(self) -> tuple[Model, ...]:
        models = {m.name: m for m in (self.model, self.weak, self.strong)}
        for role in self.book:
            m = self.model_for(role)
            models.setdefault(m.name, m)
        return tuple(models.values())

    def warn(self, code: str, message: str) -> None:
        """Tell the user something about the run that did not stop it (recorded; the live view shows it)."""
        self.bus.emit(Warning(session_id=self.session_id, agent="", code=code, message=message))

    def _on_event(self, event: Event) -> None:
        kind = type(event)
        if kind is LLMCall:
            self.meter(event)
        elif kind is AgentSpawned or kind is AgentStatus:
            self._open_agents(event)
        elif kind is BudgetWarning and event.session_id == self.session_id:
            self.budget_warning = event  # type: ignore[assignment]

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
            self.store = store
            try:
                recorder = Recorder(store, project_decisions=True).attach(self.bus)
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
        self._reverted: list[str] = []
        text, status, error = "", "done", None
        try:
            if unusable is not None:
                raise unusable
            if self._stop_reason is not None:  # stopped before it began
                raise asyncio.CancelledError
            scope = Scope(self.scope_dir)
            lead = Lead(model=self.model, bus=self.bus, session_id=self.session_id, scope=scope, book=self.book)
            if self.given_plan is not None:
                lead.spawn("following the user's plan")
                tasks = self._check_given(self.given_plan)
            else:
                tasks = await lead.plan(self.intent, self.max_tasks, fix_rounds=self.fix_rounds)
            await self._announce(tasks)
            results = await self._work(tasks, scope, graph, lead)
            findings = research_findings(results, self.session_id)
            await self._log_findings(graph, recorder, results)
            reverted = await self._settle_outcomes(results)
            text = await lead.answer(self.intent, results, workspace=self.workspace, reverted=reverted)
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
            if self.workspace is not None:  # kept for diff / merge / undo / discard; no longer live
                with contextlib.suppress(OSError):
                    self.workspace.release()
            self._end_open_agents(status, error)
            self.bus.emit(SessionEnded(session_id=self.session_id, agent="", status=status, error=error))
            if recorder is not None:
                await _to_the_end(asyncio.to_thread(recorder.close), then_cancel=False)
                if recorder.failure is not None:  # the events are spooled; the message says where (final counts)
                    kept = error is None or error.startswith("recording to ")
                    status, error = "failed", recorder.failure if kept else f"{error}; {recorder.failure}"
        if self.meter.unpriced:
            self.warn("unknown_price", f"{self.meter.unpriced} calls had no known price; cost is a lower bound")
        return SwarmResult(
            session_id=self.session_id,
            status=status,
            text=text,
            tasks=tuple(self.results.values()),
            estimate_usd=self.estimate_usd,
            reverted=tuple(self._reverted),
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
            self.warn(
                "stale_worktrees",
                f"{len(stale)} workspace(s) of killed runs ({', '.join(stale[:5])}): %loom worktrees "
                "--clean (or loom-nb worktrees --clean) removes them, %loom diff SESSION shows what they hold",
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

    def _check_given(self, tasks: list[Task]) -> list[Task]:
        from ._plan import number

        tasks = number(tasks)
        check_plan(tasks, self.book.names(), max_tasks=max(self.max_tasks, len(tasks)))
        return tasks

    async def _announce(self, tasks: list[Task]) -> None:
        """Record the plan with its expected cost (per-role priors from earlier runs when there are any)."""
        from ._estimate import estimate

        self._planned_roles = {t.role for t in tasks}
        guess = await asyncio.to_thread(estimate, tasks, self)
        self.estimate_usd = guess.usd
        self.bus.emit(
            PlanMade(
                session_id=self.session_id,
                agent="lead",
                tasks=tuple(t.planned() for t in tasks),
                estimate_usd=guess.usd,
                estimate_tokens=guess.tokens,
                estimate_basis=guess.basis,
            )
        )

    async def _work(self, tasks: list[Task], scope: Scope, graph: Any, lead: Lead) -> list[TaskResult]:
        """Run the plan: a workspace when a role of it writes, a post office, the crew."""
        if any(self.book.get(t.role).writes for t in tasks):
            self.workspace = await self._open_workspace()
        from ..runtime import spawn
        from ._mail import PostOffice

        post = PostOffice(bus=self.bus, session_id=self.session_id, registry=self.registry)
        # The lead's mailbox: what specialists send it is read when it revises the plan or answers.
        lead_box = spawn(_hold, name=None)
        post.open("lead", lead_box, role="lead")
        lead.post = post
        revision = 0

        async def on_ended(result: TaskResult) -> list[Task] | None:
            nonlocal revision
            if not self.revise or crew.scheduler is None:
                return None
            if revision >= self.max_tasks:  # a lead that re-plans every failure anew would never stop
                if revision == self.max_tasks:
                    revision += 1  # said once
                    self.warn(
                        "revisions_spent",
                        f"the lead revised the plan {self.max_tasks} times (max_tasks); {result.task.id} "
                        f"{result.status} and the plan goes on as it is: what failed is in the answer",
                    )
                return None
            revised = await lead.revise(self.intent, result, crew, self.max_tasks)
            if revised is None:
                return None
            revision += 1
            self._planned_roles = (self._planned_roles or set()) | {t.role for t in revised}
            self.bus.emit(
                PlanMade(
                    session_id=self.session_id,
                    agent="lead",
                    tasks=tuple(t.planned() for t in revised),
                    revision=revision,
                    reason=f"{result.task.id} {result.status}",
                )
            )
            return revised

        crew = Crew(
            self, book=self.book, scope=scope, graph=graph, workspace=self.workspace, post=post, on_ended=on_ended
        )
        try:
            self.results = await crew.run(tasks)
        finally:
            self.results = self.results or crew.results
            lead.letters += post.drain("lead")  # before the crew's close(), which closes the lead's name too
            await _to_the_end(crew.close())
            lead_box.kill()
        return list(self.results.values())

    async def _open_workspace(self) -> Any:
        from ..workspace import Workspace, WorkspaceError

        try:
            ws = await asyncio.to_thread(Workspace.create, self.root, self.session_id)
            await asyncio.to_thread(ws.hold)
            return ws
        except WorkspaceError as exc:
            self.warn("no_workspace", str(exc))
            return None

    async def _settle_outcomes(self, results: list[TaskResult]) -> list[str]:
        """Tests still failing after the fix rounds: the run's commits are reverted. In approve-outcomes
        mode each writing task's outcome goes to a human; a denied one is reverted."""
        ws = self.workspace
        if ws is None:
            return []
        from ._outcomes import failing_tests, review_outcomes

        if failing_tests(results):
            reverted = await asyncio.to_thread(ws.undo)
            self._reverted = [c.sha for c in reverted]
            return self._reverted
        if self.approve_outcomes:
            self._reverted = await review_outcomes(self, results)
        return self._reverted

    # the decision graph -------------------------------------------------------------------

    async def _log_findings(self, graph: Any, recorder: Any, results: list[TaskResult]) -> None:
        """A researcher's findings, with their checked citations, as an observation under its task's node
        (the recorder projects the plan, task outcomes, commits, tests, messages and approvals itself)."""
        if graph is None or recorder is None:
            return
        researched = [r for r in results if r.findings is not None]
        if not researched:
            return

        def write() -> None:
            recorder.flush(timeout=30.0)  # the plan's task nodes are written by the recorder's thread
            for r in researched:
                f = r.findings
                assert f is not None
                node = graph.task_node(r.task.id)
                confidence = 20 if f.error else (40 if f.partial or not f.evidence else 70)
                title = str(f.evidence[0]) if f.evidence else _first_line(f.text)
                graph.for_agent(r.agent or "lead").add_node(
                    "observation",
                    title[:200],
                    f.text[:4000],
                    confidence=confidence,
                    parent_id=node.id if node is not None else None,
                    metadata={
                        "task": r.task.id,
                        "evidence": [str(e) for e in f.evidence[:20]],
                        "partial": f.partial,
                        "error": f.error,
                        "model": f.model,
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


async def _hold(process: Any) -> None:
    """A mailbox with nobody reading it until asked: the lead's, between its turns."""
    await asyncio.Event().wait()


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
