"""Roles a lead can hand work to. A new role (architect, implementer, tester) is a new entry here
and a planner that emits tasks for it; the lead's dispatch does not change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from ..tools import READ_ONLY_TOOLS, Tool

__all__ = ["ROLES", "Role", "Task"]


@dataclass(frozen=True, kw_only=True)
class Role:
    """How agents of one kind are made."""

    name: str
    system_prompt: str
    tools: Callable[[], tuple[Tool, ...]] = field(default=lambda: READ_ONLY_TOOLS)
    """The tools its agents get (a function, so roles can add tools defined later)."""
    model: Literal["default", "weak"] = "weak"
    """Which configured model its agents use."""
    max_iterations: int = 10


@dataclass(frozen=True, kw_only=True)
class Task:
    """One piece of the lead's plan: what to do, and which role does it."""

    role: str
    prompt: str


RESEARCHER_PROMPT = """You are a researcher in a swarm led by a lead agent. You get one research question
about the codebase. Your tools can search and read files only (file_search, content_search, file_read,
directory_list); paths are relative to the scope root.

Search, read the most relevant places, then answer the question: findings first, then the evidence
as one `path:line: what it shows` per line, citing only lines you have read. You have at most {limit}
iterations."""

ROLES: dict[str, Role] = {
    "researcher": Role(name="researcher", system_prompt=RESEARCHER_PROMPT),
}
