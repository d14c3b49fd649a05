"""The lead's thinking: plan an intent into tasks, and synthesise what came back.

With a real model the lead asks it (one turn each, recorded like any agent's). The offline model
cannot plan, so the lead does it by rule and says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..agents._loop import Agent
from ..agents._sub_agent import Findings
from ..events import AgentSpawned, AgentStatus, EventBus
from ..models._base import Model
from ..models._offline import choose_terms
from ..tools import Scope, ToolContext
from ._roles import Task

__all__ = ["plan", "synthesise"]

PLAN_PROMPT = """You lead a swarm of researchers in a codebase. Split the user's request into at most {n}
focused research questions that together answer it; each is answered by one researcher who can
search and read the code. Reply with the questions only, one per line, no numbering."""

SUMMARY_PROMPT = """You lead a swarm of researchers. Below are the user's request and what each researcher
found. Write the answer to the request: the conclusion first, then the supporting evidence as
`path:line` citations taken from the findings. Say plainly what is still unknown."""

_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|Q\d+[:.])\s*")


def _offline(model: Model) -> bool:
    return model.provider == "offline"


def _lead_agent(model: Model, prompt: str, bus: EventBus, session_id: str, scope: Scope) -> Agent:
    return Agent(
        name="lead",
        role="lead",
        model=model,
        tools=[],
        system_prompt=prompt,
        max_iterations=1,
        bus=bus,
        context=ToolContext(scope=scope, project=scope.root, session_id=session_id),
    )


def plan_by_rule(intent: str, n: int) -> list[str]:
    """Sentences and questions of the intent; a single one is widened with its key terms."""
    parts = [p.strip(" \n\t-*") for p in re.split(r"(?<=[?.!;])\s+|\n+", intent) if p.strip(" \n\t-*")]
    questions = [p for p in parts if len(p.split()) >= 3] or [intent.strip()]
    if len(questions) == 1:
        for term in choose_terms(intent, limit=n)[: n - 1]:
            questions.append(f"Where is {term.text} defined, and where is it used?")
    return list(dict.fromkeys(questions))[:n]


async def plan(
    intent: str, *, model: Model, max_tasks: int, bus: EventBus, session_id: str, scope: Scope
) -> list[Task]:
    """Research tasks for the intent, at most max_tasks."""
    if _offline(model):
        bus.emit(AgentSpawned(session_id=session_id, agent="lead", role="lead", model=model.name))
        bus.emit(
            AgentStatus(
                session_id=session_id,
                agent="lead",
                status="thinking",
                iteration=1,
                reason="planning by rule (offline model)",
            )
        )
        questions = plan_by_rule(intent, max_tasks)
    else:
        agent = _lead_agent(model, PLAN_PROMPT.format(n=max_tasks), bus, session_id, scope)
        result = await agent.run(intent)
        questions = [_BULLET.sub("", line).strip() for line in result.text.splitlines()]
        questions = [q for q in questions if len(q.split()) >= 3][:max_tasks] or [intent.strip()]
    return [Task(role="researcher", prompt=q) for q in questions]


async def synthesise(
    intent: str, findings: Sequence[Findings], *, model: Model, bus: EventBus, session_id: str, scope: Scope
) -> str:
    """The swarm's answer from its researchers' findings."""
    if _offline(model):
        text = _summary_by_rule(intent, findings)
        bus.emit(AgentStatus(session_id=session_id, agent="lead", status="done", iteration=1, reason="final"))
        return text
    body = "\n\n".join(
        f"## Question {i}: {f.task}\n{f.text.strip()}" + (f"\n(failed: {f.error})" if f.error else "")
        for i, f in enumerate(findings, 1)
    )
    agent = _lead_agent(model, SUMMARY_PROMPT, bus, session_id, scope)
    result = await agent.run(f"Request: {intent}\n\n{body}")
    return result.text


def _summary_by_rule(intent: str, findings: Sequence[Findings]) -> str:
    lines = [
        "[offline lead: questions by rule, findings by keyword search; no LLM was used]",
        f"Request: {intent.strip()}",
        "",
    ]
    for i, f in enumerate(findings, 1):
        lines.append(f"{i}. {f.task}")
        if f.error:
            lines.append(f"   failed: {f.error}")
        elif f.evidence:
            lines += [f"   - {ev}" for ev in f.evidence[:4]]
        else:
            lines.append("   nothing found")
    cited = sum(len(f.evidence) for f in findings)
    lines += ["", f"{len(findings)} researchers, {cited} cited lines checked against the files."]
    return "\n".join(lines)
