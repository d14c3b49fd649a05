"""The lead's thinking: plan an intent into tasks, and answer from what came back.

With a real model the lead asks it (one turn each, recorded like any agent's). The offline model
cannot plan, so the lead does it by rule and says so.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..agents._loop import Agent
from ..agents._sub_agent import Findings
from ..events import AgentSpawned, AgentStatus, AgentStatusName, EventBus
from ..models._base import Model
from ..models._offline import answer_sentences
from ..tools import Scope, ToolContext
from ._plan import PlanError, Task, check_plan, parse_plan, tasks_from
from ._roles import RoleBook, roles

if TYPE_CHECKING:
    from ._crew import Crew, TaskResult

__all__ = ["Lead", "plan_by_rule"]

_JSONISH = re.compile(r"^\s*(```|\{|\[)")

PLAN_PROMPT = """You lead a team of specialists working on a codebase. You never edit files yourself.
Turn the user's request into a plan of at most {n} tasks. The roles:
{roles}

Reply with JSON only:
{{"tasks": [{{"id": "t1", "role": "researcher", "title": "short title", "prompt": "what to do, concretely",
  "acceptance": "what must hold when it is done", "deps": [{{"task": "t0", "kind": "requires_output"}}]}}]}}
Dependency kinds: "blocks" (wait for it), "requires_output" (wait, and get its output), "informs" (do not
wait; get its output if done). A question that only needs reading is one or more researcher tasks with no
dependencies. A change: research, then architect, then implementer(s), then tester (then reviewer)."""

FIX_PROMPT = """The plan cannot run:
{problems}
Send the whole corrected plan, as JSON only."""

REVISE_PROMPT = """Task {task} ({role}, agent {agent}) ended {status}.
{output}

The plan now:
{board}

Reply KEEP to go on with it, or JSON {{"tasks": [...]}} with the tasks still to do (they replace the pending
ones; done tasks may be named as dependencies)."""

SUMMARY_PROMPT = """You lead a swarm of researchers. Below are the user's request and what each researcher
found. Write the answer to the request: the conclusion first, then the supporting evidence as
`path:line` citations taken from the findings. Say plainly what is still unknown."""

CODING_SUMMARY_PROMPT = """You lead a team that changed a codebase. Below are the request, each task's
report, the commits and the test results. Answer the request: what was done and whether the tests pass,
citing tasks (t1), commits (their short sha), decisions and test results. Say plainly what failed or is
still open."""

_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|Q\d+[:.])\s*")


def _offline(model: Model) -> bool:
    return model.provider == "offline"


def plan_by_rule(intent: str, n: int) -> list[str]:
    """The intent's own questions and sentences, one task each. A single question stays one task:
    inventing sub-questions ("Where is X defined?") only buys answers nobody asked for."""
    parts = [p.strip(" \n\t-*") for p in re.split(r"(?<=[?.!;])\s+|\n+", intent) if p.strip(" \n\t-*")]
    questions = [p for p in parts if len(p.split()) >= 3] or [intent.strip()]
    return list(dict.fromkeys(questions))[:n]


class Lead:
    """The session's one lead agent. Planning, revising and answering are turns of the same agent, so
    it is spawned once and never shown as restarted; between them it waits (idle) for its team."""

    def __init__(
        self, *, model: Model, bus: EventBus, session_id: str, scope: Scope, book: RoleBook | None = None
    ) -> None:
        self.model = model
        self.bus = bus
        self.session_id = session_id
        self.book = book if book is not None else roles
        self._spawned = False
        self.post: Any = None
        """The run's post office (specialists may write to "lead")."""
        self.letters: list[Any] = []
        """Letters drained from the lead's mailbox and not yet read in a turn."""
        self._agent = Agent(
            name="lead",
            role="lead",
            model=model,
            tools=[],
            max_iterations=1,
            bus=bus,
            context=ToolContext(scope=scope, project=scope.root, session_id=session_id),
            role_version=self.book.get("lead").version if "lead" in self.book else 0,
        )

    def _status(self, status: AgentStatusName, reason: str) -> None:
        self.bus.emit(AgentStatus(session_id=self.session_id, agent="lead", status=status, iteration=1, reason=reason))

    def spawn(self, reason: str) -> None:
        """Show the lead as started when it plans without a model turn (offline, or the user's plan)."""
        if not self._spawned and not self._agent._spawned:
            self._spawned = self._agent._spawned = True
            self.bus.emit(
                AgentSpawned(
                    session_id=self.session_id,
                    agent="lead",
                    role="lead",
                    model=self.model.name,
                    role_version=self._agent.role_version,
                )
            )
        self._status("thinking", reason)

    async def _turn(self, system_prompt: str, text: str, *, resume: bool = False) -> str:
        self._agent.system_prompt = system_prompt
        return (await self._agent.run(text, resume=resume)).text

    def _mail(self) -> str:
        """What the specialists wrote to the lead since its last turn (rendered as data), or ""."""
        from ._mail import render

        if self.post is not None and "lead" in self.post.live():
            self.letters += self.post.drain("lead")
        letters, self.letters = self.letters, []
        return "\n\n" + render(letters) if letters else ""

    def _roles_text(self) -> str:
        return "\n".join(
            f"- {r.name}: {r.description}" + (" (edits files)" if r.writes else "")
            for r in self.book
            if r.name != "lead"
        )

    async def plan(self, intent: str, max_tasks: int, *, fix_rounds: int = 2) -> list[Task]:
        """The plan for the intent, checked (at most max_tasks). A model's plan that cannot run gets one
        chance to be fixed; then PlanError ends the run, saying why."""
        if _offline(self.model):
            self.spawn("planning by rule (offline model)")
            tasks = _offline_plan(intent, max_tasks, fix_rounds)
            check_plan(tasks, self.book.names(), max_tasks=max_tasks)
        else:
            prompt = PLAN_PROMPT.format(n=max_tasks, roles=self._roles_text())
            text = await self._turn(prompt, intent)
            try:
                tasks = self._read_plan(text, intent, max_tasks)
            except PlanError as first:
                text = await self._turn(prompt, FIX_PROMPT.format(problems=first), resume=True)
                try:
                    tasks = self._read_plan(text, intent, max_tasks)
                except PlanError as second:
                    raise PlanError(f"the lead's plan could not run, even after one fix: {second}") from None
        n = len(tasks)
        self._status("idle", f"waiting for {n} task{'s' if n != 1 else ''}")
        return tasks

    def _read_plan(self, text: str, intent: str, max_tasks: int) -> list[Task]:
        if _JSONISH.search(text) or '"tasks"' in text:
            tasks = parse_plan(text)
        else:  # plain lines: research questions (what a model told to plan research may send)
            questions = [_BULLET.sub("", line).strip() for line in text.splitlines()]
            questions = [q for q in questions if len(q.split()) >= 3][:max_tasks] or [intent.strip()]
            tasks = tasks_from({"role": "researcher", "prompt": q} for q in questions)
        check_plan(tasks, self.book.names(), max_tasks=max_tasks)
        return tasks

    async def revise(self, intent: str, result: TaskResult, crew: Crew, max_tasks: int) -> list[Task] | None:
        """After a task ends: the lead may replace the pending tasks (models only; the offline lead
        keeps its plan). Asked when a task failed or left open questions."""
        if _offline(self.model) or crew.scheduler is None:
            return None
        open_questions = result.completion.open_questions if result.completion is not None else ()
        pending = [i for i, s in crew.scheduler.state.items() if s == "pending"]
        if result.status == "done" and not open_questions:
            return None
        if result.status == "done" and not pending:
            return None
        board = "\n".join(
            f"- {t.id} [{crew.scheduler.state.get(t.id)}] {t.role}: {t.title}"
            + (f" ({t.after()})" if t.after() else "")
            for t in crew.scheduler.tasks.values()
        )
        self._status("thinking", f"revising the plan: {result.task.id} {result.status}")
        text = await self._turn(
            PLAN_PROMPT.format(n=max_tasks, roles=self._roles_text()),
            REVISE_PROMPT.format(
                task=result.task.id,
                role=result.task.role,
                agent=result.agent,
                status=result.status,
                output=(result.output or result.error or "")[:4000],
                board=board,
            )
            + self._mail(),
            resume=True,
        )
        self._status("idle", "waiting for the team")
        if text.strip().upper().startswith("KEEP") or "{" not in text:
            return None
        try:
            tasks = parse_plan(text)
            done = [t for i, t in crew.scheduler.tasks.items() if crew.scheduler.state[i] != "pending"]
            taken = {t.id for t in done}
            clash = [t.id for t in tasks if t.id in taken]
            if clash:
                raise PlanError(f"task ids {', '.join(clash)} are taken by tasks that already ran; use new ids")
            check_plan([*done, *tasks], self.book.names(), max_tasks=max_tasks + len(done))
        except PlanError as exc:
            self.bus.emit(
                AgentStatus(
                    session_id=self.session_id,
                    agent="lead",
                    status="idle",
                    iteration=1,
                    reason=f"revised plan ignored: {exc}".splitlines()[0],
                )
            )
            return None
        return tasks

    async def answer(
        self,
        intent: str,
        results: Sequence[TaskResult] | Sequence[Findings],
        *,
        workspace: Any = None,
        reverted: Sequence[str] = (),
    ) -> str:
        """The swarm's answer from what its tasks reported."""
        items = list(results)
        if items and not isinstance(items[0], Findings):
            task_results: list[TaskResult] = items  # type: ignore[assignment]
            if all(r.task.role == "researcher" for r in task_results):
                from ._crew import research_findings

                return await self.answer(intent, research_findings(task_results, self.session_id))
            return await self._coding_answer(intent, task_results, workspace, reverted)
        findings: list[Findings] = items  # type: ignore[assignment]
        if _offline(self.model):
            text = _summary_by_rule(intent, findings)
            self._status("done", "final")
            return text
        body = "\n\n".join(
            f"## Question {i}: {f.task}\n{f.text.strip()}" + (f"\n(failed: {f.error})" if f.error else "")
            for i, f in enumerate(findings, 1)
        )
        return await self._turn(SUMMARY_PROMPT, f"Request: {intent}\n\n{body}")

    async def _coding_answer(
        self, intent: str, results: list[TaskResult], workspace: Any, reverted: Sequence[str]
    ) -> str:
        from ._report import report

        facts = await asyncio.to_thread(report, intent, results, workspace, reverted)
        if _offline(self.model):
            self._status("done", "final")
            return "[offline lead: plan by rule, work by the offline model; no LLM was used]\n" + facts
        return await self._turn(CODING_SUMMARY_PROMPT, facts + self._mail())


def _offline_plan(intent: str, max_tasks: int, fix_rounds: int = 2) -> list[Task]:
    """The offline lead's plan: the documented coding intents (models/_intents.py) get the whole team;
    anything else is research, one question per task. An intent of the family that cannot be done (a
    keyword as the new name, ...) is a PlanError saying why."""
    from ..models._intents import IntentError, parse_intent, plan_for

    try:
        parsed = parse_intent(intent)
    except IntentError as exc:
        raise PlanError(f"the offline lead cannot plan this: {exc}") from None
    if parsed is None:
        return tasks_from({"role": "researcher", "prompt": q} for q in plan_by_rule(intent, max_tasks))
    # One implementer works the plan, and the crew names agents role-n in the order they start.
    steps = plan_for(parsed, implementer="implementer-1", fix_rounds=fix_rounds)
    return tasks_from(
        {"id": s.id, "role": s.role, "title": s.title, "prompt": s.prompt, "acceptance": s.acceptance, "deps": s.deps}
        for s in steps
    )


def _summary_by_rule(intent: str, findings: Sequence[Findings]) -> str:
    """One answer per question: the researcher's own sentences when it was the offline model,
    else its cited lines; a question with nothing found says so."""
    lines = [
        "[offline lead: questions by rule, answers by keyword search; no LLM was used]",
        f"Request: {intent.strip()}",
        "",
    ]
    for i, f in enumerate(findings, 1):
        lines.append(f"{i}. {f.task}")
        said = answer_sentences(f.text)
        if f.error:
            lines.append(f"   failed: {f.error}")
        elif said:
            lines.append(f"   {said}")
        elif f.evidence:
            lines += [f"   - {ev}" for ev in f.evidence[:4]]
        else:
            lines.append("   Nothing in the code answered this.")
    cited = sum(len(f.evidence) for f in findings)
    n = len(findings)
    lines += ["", f"{n} researcher{'s' * (n != 1)}, {cited} cited line{'s' * (cited != 1)} checked against the files."]
    return "\n".join(lines)
