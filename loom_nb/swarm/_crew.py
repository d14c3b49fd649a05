"""The crew runs a checked plan: each task's specialist is a registered process with a mailbox, under
its own DynamicSupervisor (restarted per its role's policy), started when the task is ready, at most
`max_agents` at once.

A specialist works on its task, ends it with `complete_task` (an empty completion is sent back once),
then stays reachable until the run ends: a message wakes it for another turn (an ask is answered
with that turn's text), so a tester can send failures to the implementer that made them. A specialist
that crashes more often than its role allows ends its task `failed`, and the lead hears of it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..agents._loop import Agent
from ..agents._sub_agent import Findings, research
from ..events import BudgetWarning, TaskStatus, TestRun
from ..models._budget import Budget, BudgetReached
from ..runtime import ChildSpec, DynamicSupervisor, Process
from ..tools import Scope, ToolContext, ToolError
from ._mail import render
from ._plan import Scheduler, Task
from ._roles import Role, RoleBook, tool_catalog
from ._team import Completion, Desk

if TYPE_CHECKING:
    from ._swarm import Swarm

__all__ = ["Crew", "TaskResult"]

RESTART_WINDOW_S = 60.0
NOT_COMPLETE = (
    "Your task is not complete yet: call complete_task with a summary of what you did and found "
    "(and files_changed, decisions, test_results, open_questions where they apply). Do it now."
)


@dataclass(kw_only=True)
class TaskResult:
    """What one task of the plan came to."""

    task: Task
    status: str = "pending"
    """done, failed, cancelled or skipped."""
    agent: str = ""
    completion: Completion | None = None
    findings: Findings | None = None
    """For a researcher's task: its answer with checked citations."""
    error: str | None = None
    cost_usd: float | None = 0.0
    started: float = 0.0
    ended: float = 0.0
    tests: list[TestRun] = field(default_factory=list)
    outcome: str = ""
    """In approve-outcomes mode: allow or deny, as the human answered."""

    @property
    def output(self) -> str:
        if self.completion is not None:
            return self.completion.text()
        if self.findings is not None:
            return self.findings.text
        return self.error or ""


def research_findings(results: Sequence[TaskResult], session_id: str = "") -> tuple[Findings, ...]:
    """The researchers' findings of a plan, in plan order; a researcher's task that failed or was
    cancelled answers with why (one skipped or never started has nothing to say)."""
    out = []
    for r in results:
        if r.task.role != "researcher" or r.status in ("skipped", "pending"):
            continue
        if r.findings is not None:
            out.append(r.findings)
            continue
        err = r.error or r.status
        out.append(
            Findings(
                task=r.task.prompt,
                text=f"failed: {err}",
                partial=True,
                agent=r.agent,
                session_id=session_id,
                error=err,
            )
        )
    return tuple(out)


class Crew:
    """Runs one plan for a swarm; `await crew.run(tasks)` -> {task id: TaskResult} in plan order."""

    def __init__(
        self,
        swarm: Swarm,
        *,
        book: RoleBook,
        scope: Scope,
        graph: Any,
        workspace: Any,
        post: Any,
        on_ended: Callable[[TaskResult], Awaitable[list[Task] | None]] | None = None,
    ) -> None:
        self.swarm = swarm
        self.book = book
        self.scope = scope
        self.graph = graph
        self.workspace = workspace
        self.post = post
        self.on_ended = on_ended
        """Called when a task ends (the lead may revise the plan: it returns the new pending tasks)."""
        self.results: dict[str, TaskResult] = {}
        self._unsubscribe = swarm.bus.subscribe(self._on_event)
        self._names: dict[str, int] = {}
        self._agent_of: dict[str, str] = {}
        self._agents_on: dict[str, list[str]] = {}
        """task id -> the agents that worked on it (a status adds up their costs without a scan of every agent)."""
        self._role_budgets: dict[str, Budget] = {}
        self._read: dict[str, list[Any]] = {}
        """agent name -> the letters its current conversation holds: a crash loses that conversation, so
        the restarted incarnation reads them again first (the mailbox no longer has them)."""
        self._supervisors: list[DynamicSupervisor] = []
        self._catalog = tool_catalog()
        self.scheduler: Scheduler | None = None
        self._inside: Path | None = None
        """The run's scope relative to the repository (readers read that folder of the workspace)."""
        if workspace is not None:
            try:
                self._inside = scope.root.resolve().relative_to(Path(workspace.project).resolve())
            except ValueError:
                self._inside = None

    # events --------------------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        kind = type(event)
        if kind is not BudgetWarning and kind is not TestRun:  # every other event: nothing to do
            return
        if kind is BudgetWarning and self.post is not None and event.session_id == self.swarm.session_id:
            said = f"urgent: {event.message}. Finish your task with what you have and call complete_task."
            loop = self.swarm._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._tell_everyone, said)
        if kind is TestRun:
            for r in self.results.values():
                if r.agent == event.agent and (not event.task or event.task == r.task.id):
                    r.tests.append(event)

    def _status(self, result: TaskResult, status: str, **kw: Any) -> None:
        c = result.completion
        if c is not None and status == "done":
            kw.setdefault("summary", c.summary[:2000])
            kw.setdefault("files_changed", c.files_changed)
            kw.setdefault("decisions", c.decisions)
            kw.setdefault("tests", c.test_results)
            kw.setdefault("open_questions", c.open_questions)
        result.cost_usd = self.swarm.meter.of(self._agents_on.get(result.task.id, ()))
        self.swarm.bus.emit(
            TaskStatus(
                session_id=self.swarm.session_id,
                agent=result.agent,
                task=result.task.id,
                role=result.task.role,
                status=status,  # type: ignore[arg-type]
                cost_usd=result.cost_usd,
                error=result.error,
                **kw,
            )
        )

    def _tell_everyone(self, text: str) -> None:
        if self.post is not None and self.post.live():
            self.post.broadcast("lead", text, urgent=True)

    # the plan ------------------------------------------------------------------------------

    async def run(self, tasks: list[Task]) -> dict[str, TaskResult]:
        scheduler = self.scheduler = Scheduler(tasks)
        for t in tasks:
            self.results[t.id] = TaskResult(task=t)
        running: dict[asyncio.Future[TaskResult], str] = {}
        queue: list[Task] = []  # ready, waiting for a free agent slot (max_agents)
        try:
            while True:
                # A revision may drop a queued task, change it (same id), or hand it back as ready again:
                # each id once, as the scheduler holds it now.
                queue = list(
                    {
                        t.id: scheduler.tasks[t.id]
                        for t in [*queue, *scheduler.ready()]
                        if scheduler.state.get(t.id) == "pending"
                    }.values()
                )
                while queue and len(running) < self.swarm.max_agents:
                    task = queue.pop(0)
                    scheduler.start(task.id)
                    running[asyncio.ensure_future(self._run_task(task))] = task.id
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    task_id = running.pop(future)
                    result = future.result()
                    if result.status == "done":
                        scheduler.finish(task_id, result.output)
                    else:
                        ended = "cancelled" if result.status == "cancelled" else "failed"
                        for skipped in scheduler.fail(task_id, ended):
                            r = self.results[skipped]
                            r.status, r.error = "skipped", f"waited on {task_id}, which {result.status}"
                            self._status(r, "skipped")
                    if self.on_ended is not None:
                        revised = await self.on_ended(result)
                        if revised is not None:
                            self._revise(revised)
        finally:
            for future in running:
                future.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            for r in self.results.values():  # never started (a stop, an error): ended, not left pending
                if r.status == "pending" and scheduler.state.get(r.task.id) == "pending":
                    r.status, r.error = "cancelled", self.swarm.stop_reason or "cancelled"
                    scheduler.state[r.task.id] = "cancelled"
                    self._status(r, "cancelled")
        order = [t.id for t in tasks] + [i for i in self.results if i not in {t.id for t in tasks}]
        return {i: self.results[i] for i in order}

    def _revise(self, tasks: list[Task]) -> None:
        assert self.scheduler is not None
        for dropped in self.scheduler.revise(tasks):
            r = self.results[dropped]
            r.status, r.error = "cancelled", "dropped by the lead's revised plan"
            self._status(r, "cancelled")
        for t in tasks:
            if t.id not in self.results or self.results[t.id].status == "pending":
                self.results[t.id] = TaskResult(task=t)
        for t in tasks:  # waiting on a task that has failed already: the scheduler skipped it at once
            r = self.results[t.id]
            if r.status == "pending" and self.scheduler.state.get(t.id) == "skipped":
                ended = [
                    d.task for d in t.deps if self.scheduler.state.get(d.task) in ("failed", "cancelled", "skipped")
                ]
                r.status = "skipped"
                r.error = f"waited on {', '.join(ended) or 'a task'}, which had ended without being done"
                self._status(r, "skipped")

    async def close(self) -> None:
        """End every specialist (the run is over): their processes stop, their mailboxes close."""
        self._unsubscribe()
        if self.post is not None:
            for name in self.post.live():
                self.post.close(name, "the run ended")
        supervisors, self._supervisors = self._supervisors, []
        await asyncio.gather(*(s.stop(timeout=5.0) for s in supervisors), return_exceptions=True)

    # one task ------------------------------------------------------------------------------

    def _name(self, role: str) -> str:
        n = self._names[role] = self._names.get(role, 0) + 1
        return f"{role}-{n}"

    def agent_names(self) -> dict[str, str]:
        """task id -> the agent that worked on it."""
        return {r.task.id: r.agent for r in self.results.values() if r.agent}

    def _prompt(self, task: Task, round_limit: int) -> str:
        assert self.scheduler is not None
        # A researcher's question stays as asked (its findings answer it); the others read their task's id.
        head = (
            task.prompt.strip() if task.role == "researcher" else f"Task {task.id} ({task.role}): {task.prompt.strip()}"
        )
        lines = [head]
        if task.acceptance:
            lines.append(f"Acceptance: {task.acceptance.strip()}")
        if task.role == "tester":
            lines.append(f"Fix rounds allowed: {round_limit}.")
        for dep, output in self.scheduler.inputs(task.id):
            agent = self.results[dep.id].agent
            lines += ["", f"Output of {dep.id} ({dep.role}, agent {agent}):", output.strip() or "(nothing)"]
        return "\n".join(lines)

    def _budget(self, role: Role, task: Task, name: str) -> Budget | None:
        parent = self.swarm.budget
        caps = self.swarm.role_budgets.get(role.name)
        if caps is not None:
            if role.name not in self._role_budgets:
                usd, tokens = caps
                self._role_budgets[role.name] = (
                    parent.child(usd=usd, tokens=tokens, name=f"role {role.name}")
                    if parent is not None
                    else Budget(usd=usd, tokens=tokens, name=f"role {role.name}")
                )
            parent = self._role_budgets[role.name]
        if self.swarm.task_budget_usd is not None:
            b = f"task {task.id}"
            parent = (
                parent.child(usd=self.swarm.task_budget_usd, name=b)
                if parent is not None
                else Budget(usd=self.swarm.task_budget_usd, name=b)
            )
        if role.budget_usd is not None or role.token_budget is not None:
            b = f"agent {name}"
            parent = (
                parent.child(usd=role.budget_usd, tokens=role.token_budget, name=b)
                if parent is not None
                else Budget(usd=role.budget_usd, tokens=role.token_budget, name=b)
            )
        return parent

    async def _run_task(self, task: Task) -> TaskResult:
        result = self.results[task.id]
        role = self.book.get(task.role)  # the definition now: a redefinition later changes later spawns only
        name = self._name(role.name)
        result.agent = name
        self._agent_of[name] = task.id
        self._agents_on.setdefault(task.id, []).append(name)
        result.started = time.time()
        self._status(result, "running")
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        desk = Desk(task_id=task.id, role=role.name, post=self.post)
        scope = await self._scope(role)
        budget = self._budget(role, task, name)
        prompt = self._prompt(task, self.swarm.fix_rounds)
        starts = 0
        last_error = ""
        swarm = self.swarm

        async def body(proc: Process) -> None:
            nonlocal starts, last_error
            starts += 1
            agent = self._agent(role, name, task, desk, budget, scope, restart=starts > 1)
            if self.post is not None:
                self.post.open(name, proc, role=role.name, task=task.id)
                # Agent.interrupt cancels a step later itself, so a tool call not started yet still ends
                # "interrupted" rather than ending the whole turn cancelled.
                self.post.on_urgent(
                    name, lambda letter: agent.interrupt(f"urgent message {letter.id} from {letter.sender}")
                )
            try:
                if not finished.done():
                    await self._work(agent, role, prompt, desk, result, restarted=starts > 1)
                    if not finished.done():
                        finished.set_result(None)
                if self.post is not None:
                    await self._answer_letters(agent, name)
            except BudgetReached as exc:
                if exc.budget is swarm.budget:  # the run's: the run stops
                    swarm.stop(str(exc))
                # A role's, task's or agent's cap ends this task only (cancelled; what waits on it is
                # skipped and the lead may re-plan); the rest of the plan goes on.
                if not finished.done():
                    finished.set_exception(exc)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # SystemExit too: this specialist's crash, not the run's
                last_error = f"{type(exc).__name__}: {exc}"
                raise  # its name stays open: a restart reopens it with the letters it left unread

        supervisor = DynamicSupervisor(
            registry=swarm.registry,
            name=("task", task.id, swarm.session_id),
            max_restarts=role.max_restarts,
            max_seconds=RESTART_WINDOW_S,
        )
        await supervisor.start()
        self._supervisors.append(supervisor)

        def on_down(down: Any) -> None:  # the task's supervisor gave up (too many crashes), or a temporary one crashed
            if finished.done():
                return
            if starts > 1:
                why = f"{name} crashed {starts} times (role {role.name} allows {role.max_restarts} restarts); last: "
            else:
                why = ""
            reason = down.reason
            said = f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason)
            if self.post is not None:
                self.post.close(name, f"crashed: {last_error or said}")  # asks waiting on it fail now
            finished.set_exception(_TaskCrashed(why + (last_error or said)))

        supervisor.process.add_monitor(on_down)
        restart = (
            "temporary"
            if role.restart == "temporary"
            else ("permanent" if role.restart == "permanent" else "transient")
        )
        try:
            proc = await supervisor.start_child(
                ChildSpec(id=name, start=body, restart=restart, name=(name, swarm.session_id))  # type: ignore[arg-type]
            )
            if restart == "temporary":
                proc.add_monitor(lambda down: on_down(down) if down.abnormal else None)
            await finished
        except asyncio.CancelledError:
            result.status, result.error = "cancelled", swarm.stop_reason or "cancelled"
            result.ended = time.time()
            self._status(result, "cancelled")
            raise
        except BudgetReached as exc:
            result.status, result.error = "cancelled", str(exc)
        except _TaskCrashed as exc:
            result.status, result.error = "failed", str(exc)
        except Exception as exc:
            result.status, result.error = "failed", f"{type(exc).__name__}: {exc}"
        else:
            result.status = "done"
        result.ended = time.time()
        self._status(result, result.status)
        return result

    def _agent(
        self, role: Role, name: str, task: Task, desk: Desk, budget: Budget | None, scope: Scope, *, restart: bool
    ) -> Agent:
        swarm = self.swarm
        tools = [self._catalog[n] for n in role.tools if n in self._catalog]
        post = self.post
        book = self.book

        def who_has(tool: str) -> str:
            owners = [r.name for r in book if tool in r.tools]
            live = [  # reachable: working, or done and waiting for messages; not ended for good
                n
                for n, t in self._agent_of.items()
                if self.results[t].task.role in owners and self.results[t].status in ("pending", "done")
            ]
            if not owners:
                return ""
            who = f"Role {' or '.join(owners)} has it"
            return f"{who}: ask {live[0]} with send_message." if live else f"{who}."

        return Agent(
            name=name,
            role=role.name,
            model=swarm.model_for(role),
            tools=tools,
            system_prompt=role.system_prompt.replace("{limit}", str(role.max_iterations)),
            max_iterations=role.max_iterations,
            bus=swarm.bus,
            parent="lead",
            gate=swarm.gate,
            budget=budget,
            restart=restart,
            role_version=role.version,
            task=task.id,
            who_has=who_has,
            inbox=self._inbox(name, restart) if post is not None else None,
            context=ToolContext(
                scope=scope,
                # in the workspace, paths (and citations) are relative to its root, which mirrors the project's
                project=self.workspace.path
                if self.workspace is not None and _within(scope.root, self.workspace.path)
                else swarm.root,
                session_id=swarm.session_id,
                graph=self.graph.for_agent(name) if self.graph is not None else None,
                workspace=self.workspace,
                role=role.name,
                task=task.id,
                team=desk,
            ),
        )

    async def _scope(self, role: Role) -> Scope:
        """What a specialist reads. A run with a workspace reads it, writers and readers alike: it holds
        the run's changes (a reviewer after an implementer read the user's unchanged checkout); readers
        keep the run's sub-folder scope inside it."""
        ws = self.workspace
        if ws is None:
            return self.scope
        if role.writes:
            return Scope(ws.path)
        inside = self._inside
        if inside is None:  # a scope outside the repository: nothing of the run's is there
            return self.scope
        if inside != Path(".") and not ws.ready:  # the sub-folder may not be written yet
            try:
                await asyncio.to_thread(ws.wait_ready)
            except Exception:  # a checkout that failed: the writers say so; readers read the project
                return self.scope
        return Scope(ws.path / inside)

    async def _work(
        self, agent: Agent, role: Role, prompt: str, desk: Desk, result: TaskResult, *, restarted: bool
    ) -> None:
        if restarted:
            prompt += "\n\n(You were restarted after a crash: check what is already done before redoing it.)"
        if role.name == "researcher":
            findings = await research(agent, prompt, agent.context.scope)
            if self.workspace is not None:
                findings = _in_repository(findings, self.workspace)
            result.findings = findings
            if desk.completion is None:  # its findings are its report (a banner line says who, not what)
                said = [line for line in findings.text.splitlines() if not line.startswith("[")]
                desk.completion = Completion(summary="\n".join(said).strip() or findings.text)
            result.completion = desk.completion
            return
        reply = await agent.run(prompt)
        if desk.completion is None or desk.completion.empty:
            reply = await agent.run(NOT_COMPLETE, resume=True)  # sent back once
        if desk.completion is None or desk.completion.empty:
            desk.completion = Completion(
                summary=reply.text.strip() or "(no report)",
                open_questions=("the agent did not call complete_task; this summary is its last answer",),
            )
        result.completion = desk.completion

    def _inbox(self, name: str, restart: bool) -> Callable[[], str]:
        """What arrived for `name` since its last turn, rendered for the model ("" when nothing); a
        restarted incarnation first gets the letters its crashed predecessor had read."""
        read = self._read.setdefault(name, [])
        if not restart:
            read.clear()
        carried = list(read)  # kept in `read` until read again: a crash before then carries them on once more

        def inbox() -> str:
            letters = [*carried, *self.post.drain(name)]
            if carried:
                read.clear()
                carried.clear()
            read.extend(letters)
            return render(letters) if letters else ""

        return inbox

    async def _answer_letters(self, agent: Agent, name: str) -> None:
        """After its task, a specialist stays reachable: each letter is a turn; an ask gets its text back."""
        while True:
            letter = await self.post.next(name)
            if letter is None:
                return
            self._read.setdefault(name, []).append(letter)
            reply = await agent.run(render([letter]), resume=True)
            if letter.kind == "ask" and not self.post.answered(letter.id):  # not with send_message in its turn
                try:
                    self.post.send(
                        name, letter.sender, reply.text.strip() or "(no answer)", kind="reply", reply_to=letter.id
                    )
                except ToolError:  # the asker ended meanwhile: nobody to answer, and no crash of this agent
                    pass


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class _TaskCrashed(RuntimeError):
    """A task's specialist crashed for good (its reason is the message)."""


def _in_repository(findings: Findings, ws: Any) -> Findings:
    """A researcher that read the worktree cites its files as paths of the repository (what the user
    opens from the project root, and still true once the worktree is merged or discarded), not as
    .loom/worktrees/<session>/... paths."""
    try:
        prefix = Path(ws.path).resolve().relative_to(Path(ws.project).resolve()).as_posix() + "/"
    except ValueError:
        return findings
    evidence = tuple(replace(e, path=e.path.removeprefix(prefix)) for e in findings.evidence)
    return replace(findings, text=findings.text.replace(prefix, ""), evidence=evidence)
