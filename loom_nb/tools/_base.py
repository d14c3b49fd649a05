"""What a tool is: a name, a JSON schema, an async function, a permission class."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..models._messages import ToolDefinition

if TYPE_CHECKING:
    from ..events import EventBus
    from ..graph._decisions import DecisionGraph
    from ..workspace import Workspace
    from ._scope import Scope

__all__ = ["Permission", "Tool", "ToolContext", "ToolError", "truncate"]

Permission = Literal["read", "write", "execute", "coordination"]
"""The policy's categories: coordination is talking to other agents and the decision graph."""


class ToolError(Exception):
    """A failure the model should read and act on (bad path, bad regex, ...): becomes an error
    tool-result, never a crash."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolContext:
    """What a tool call may know about where it runs."""

    scope: Scope
    """The directory every path must stay inside."""
    project: Path
    """The project root (a sub-agent's scope is inside it)."""
    session_id: str = ""
    agent: str = ""
    bus: EventBus | None = None
    graph: DecisionGraph | None = None
    """The shared decision graph (the decision tools need it)."""
    workspace: Workspace | None = None
    """The run's git worktree (the write tools commit there; None: the run cannot write)."""
    role: str = ""
    task: str = ""
    """The task the agent works on (commit trailers name it)."""
    team: Any = None
    """The swarm's services for this agent (its post office, its task's completion); None outside a
    swarm. The tools that need it (messages, complete_task) say so when it is missing."""


ToolFn = Callable[[dict[str, Any], ToolContext], Awaitable[str]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Tool:
    """A tool an agent may call."""

    name: str
    description: str
    """What the model reads to decide when to call it."""
    parameters: dict[str, Any]
    """JSON schema of the arguments object."""
    fn: ToolFn
    permission: Permission

    def definition(self) -> ToolDefinition:
        return ToolDefinition(name=self.name, description=self.description, parameters=self.parameters)

    async def __call__(self, arguments: dict[str, Any], ctx: ToolContext) -> str:
        if ctx.workspace is not None and not ctx.workspace.ready:  # its files are still being written
            await asyncio.to_thread(ctx.workspace.wait_ready)
        return await self.fn(validate_arguments(self, arguments), ctx)


_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "number": (int, float),
    "object": dict,
    "array": list,
}


def validate_arguments(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
    """Check arguments against the tool's (flat) schema; fill defaults. Errors say what to send."""
    schema = tool.parameters
    props: dict[str, Any] = schema.get("properties", {})
    unknown = sorted(set(arguments) - set(props))
    if unknown:
        raise ToolError(f"{tool.name} has no argument {', '.join(unknown)}; it takes: {', '.join(props)}")
    missing = [name for name in schema.get("required", []) if name not in arguments]
    if missing:
        raise ToolError(f"{tool.name} needs {', '.join(missing)}")
    out = {}
    for name, prop in props.items():
        if name not in arguments:
            if "default" in prop:
                out[name] = prop["default"]
            continue
        value = arguments[name]
        expected = _TYPES.get(prop.get("type", ""), object)
        bad_bool = isinstance(value, bool) and prop.get("type") in ("integer", "number")
        if value is not None and (not isinstance(value, expected) or bad_bool):
            raise ToolError(f"{tool.name}: {name} must be {prop.get('type')}; got {type(value).__name__}")
        if "enum" in prop and value not in prop["enum"]:
            raise ToolError(f"{tool.name}: {name} must be one of {', '.join(map(str, prop['enum']))}; got {value!r}")
        if isinstance(value, int) and not isinstance(value, bool):
            if "minimum" in prop and value < prop["minimum"]:
                raise ToolError(f"{tool.name}: {name} must be >= {prop['minimum']}; got {value}")
            if "maximum" in prop and value > prop["maximum"]:
                raise ToolError(f"{tool.name}: {name} must be <= {prop['maximum']}; got {value}")
        out[name] = value
    return out


def truncate(lines: list[str], limit: int, what: str, hint: str) -> str:
    """Join lines, cutting at `limit` with a visible marker that says how many were left out."""
    if len(lines) <= limit:
        return "\n".join(lines)
    return "\n".join([*lines[:limit], f"[truncated: {len(lines) - limit} more {what} not shown; {hint}]"])


MAX_OUTPUT_CHARS = 100_000


def cap_chars(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """A last guard on a tool's output size, with a visible marker."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    cut = cut if cut > 0 else limit
    return text[:cut] + f"\n[truncated: output cut at {limit:,} characters of {len(text):,}]"
