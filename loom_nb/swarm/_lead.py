"""The lead's thinking: plan an intent into tasks, and answer from what came back.

With a real model the lead asks it (one turn each, recorded like any agent's). The offline model
cannot plan, so the lead does it by rule and says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..agents._loop import Agent
from ..agents._sub_agent import Findings
from ..events import AgentSpawned, AgentStatus, AgentStatusName, EventBus
from ..models._base import Model
from ..models._offline import answer_sentences
from ..tools import Scope, ToolContext
from ._roles import Task

__all__ = ["Lead", "plan_by_rule"]

PLAN_PROMPT = """You lead a swarm of researchers in a codebase. Split the user's request into at most {n}
focused research questions that together answer it; each is answered by one researcher who can
search and read the code. Reply with the questions only, one per line, no numbering."""

SUMMARY_PROMPT = """You lead a swarm of researchers. Below are the user's request and what each researcher
found. Write the answer to the request: the conclusion first, then the supporting evidence as
`path:line` citations taken from the findings. Say plainly what is still unknown."""

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
    """The session's one lead agent. Planning and answering are two turns of the same agent, so it
    is spawned once and never shown as restarted; between them it waits (idle) for its researchers."""

    def __init__(self, *, model: Model, bus: EventBus, session_id: str, scope: Scope) -> None:
        self.model = model
        self.bus = bus
        self.session_id = session_id
        self._agent = Agent(
            name="lead",
            role="lead",
            model=model,
            tools=[],
            max_iterations=1,
            bus=bus,
            context=ToolContext(scope=scope, project=scope.root, session_id=session_id),
        )

    def _status(self, status: AgentStatusName, reason: str) -> None:
        self.bus.emit(AgentStatus(session_id=self.session_id, agent="lead", status=status, iteration=1, reason=reason))

    async def _turn(self, system_prompt: str, text: str) -> str:
        self._agent.system_prompt = system_prompt
        return (await self._agent.run(text)).text

    async def plan(self, intent: str, max_tasks: int) -> list[Task]:
        """Research tasks for the intent, at most max_tasks."""
        if _offline(self.model):
            self.bus.emit(AgentSpawned(session_id=self.session_id, agent="lead", role="lead", model=self.model.name))
            self._status("thinking", "planning by rule (offline model)")
            questions = plan_by_rule(intent, max_tasks)
        else:
            text = await self._turn(PLAN_PROMPT.format(n=max_tasks), intent)
            questions = [_BULLET.sub("", line).strip() for line in text.splitlines()]
            questions = [q for q in questions if len(q.split()) >= 3][:max_tasks] or [intent.strip()]
        n = len(questions)
        self._status("idle", f"waiting for {n} researcher{'s' if n != 1 else ''}")
        return [Task(role="researcher", prompt=q) for q in questions]

    async def answer(self, intent: str, findings: Sequence[Findings]) -> str:
        """The swarm's answer from its researchers' findings."""
        if _offline(self.model):
            text = _summary_by_rule(intent, findings)
            self._status("done", "final")
            return text
        body = "\n\n".join(
            f"## Question {i}: {f.task}\n{f.text.strip()}" + (f"\n(failed: {f.error})" if f.error else "")
            for i, f in enumerate(findings, 1)
        )
        return await self._turn(SUMMARY_PROMPT, f"Request: {intent}\n\n{body}")


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
