"""What a specialist of a plan has besides its tools: its desk (the task, the post office, the slot
its completion lands in) and the `complete_task` tool that ends a task with a structured report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..tools._base import Tool, ToolContext, ToolError

__all__ = ["TEAM_TOOLS", "Completion", "Desk", "complete_task"]

MAX_FIELD = 8_000


@dataclass(frozen=True, kw_only=True)
class Completion:
    """How a task ended, in the agent's own words (files changed are also checked against commits)."""

    summary: str
    files_changed: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    test_results: str = ""
    open_questions: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.summary.strip()

    def text(self) -> str:
        """As a dependent task and the lead read it."""
        lines = [self.summary.strip()]
        if self.files_changed:
            lines.append("Files changed: " + ", ".join(self.files_changed))
        lines += [f"Decision: {d}" for d in self.decisions]
        if self.test_results:
            lines.append(f"Tests: {self.test_results}")
        lines += [f"Open question: {q}" for q in self.open_questions]
        return "\n".join(lines)


@dataclass(kw_only=True)
class Desk:
    """The swarm's services for one agent (`ToolContext.team`)."""

    task_id: str
    role: str
    post: Any = None
    """The run's PostOffice (None in a run without messages)."""
    completion: Completion | None = None
    """Set by complete_task; the swarm reads it when the agent's turn ends."""
    extra: dict[str, Any] = field(default_factory=dict)


def _strings(args: dict[str, Any], key: str) -> tuple[str, ...]:
    value = args.get(key) or []
    if not all(isinstance(v, str) for v in value):
        raise ToolError(f"complete_task: {key} must be a list of strings")
    return tuple(v.strip()[:MAX_FIELD] for v in value if v.strip())


async def _complete_task(args: dict[str, Any], ctx: ToolContext) -> str:
    desk = ctx.team
    if not isinstance(desk, Desk):
        raise ToolError("complete_task ends a task of a plan; this agent has no task (it runs outside a swarm plan)")
    summary = (args.get("summary") or "").strip()
    if not summary:
        raise ToolError(
            "complete_task needs a summary: say what you did and found (files, decisions, test results go "
            "in their own fields)"
        )
    desk.completion = Completion(
        summary=summary[:MAX_FIELD],
        files_changed=_strings(args, "files_changed"),
        decisions=_strings(args, "decisions"),
        test_results=(args.get("test_results") or "").strip()[:MAX_FIELD],
        open_questions=_strings(args, "open_questions"),
    )
    return f"Task {desk.task_id} is recorded as complete. End your turn now with a one-line final answer."


_LIST = {"type": "array", "items": {"type": "string"}, "default": []}

complete_task = Tool(
    name="complete_task",
    description=(
        "End your task with a structured report: summary (what you did and found), files_changed, "
        "decisions (one line each), test_results (one line), open_questions. Call it once, at the end."
    ),
    parameters={
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "What you did and found."},
            "files_changed": {**_LIST, "description": "Paths you changed."},
            "decisions": {**_LIST, "description": "Decisions you made or followed, one line each."},
            "test_results": {"type": "string", "default": "", "description": "e.g. '12 passed, 1 failed'."},
            "open_questions": {**_LIST, "description": "What is still unknown or needs a human."},
        },
        "required": ["summary"],
    },
    fn=_complete_task,
    permission="coordination",
)


def TEAM_TOOLS() -> tuple[Tool, ...]:
    """The swarm's own tools: complete_task, and the messages when the post office is installed."""
    from ._mail_tools import MAIL_TOOLS

    return (complete_task, *MAIL_TOOLS)
