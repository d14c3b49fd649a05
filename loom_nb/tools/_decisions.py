"""decision_log and decision_query: how agents write to and read the shared decision graph.

The session and the agent come from the tool context, never from the model.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ._base import Tool, ToolContext, ToolError

if TYPE_CHECKING:
    from ..graph._decisions import DecisionGraph, Node

__all__ = ["decision_log", "decision_query"]

_NODE_TYPES = ["goal", "decision", "option", "action", "outcome", "observation", "revisit"]
_EDGE_TYPES = ["leads_to", "chosen", "rejected", "requires", "blocks", "enables", "supersedes"]


def _graph(ctx: ToolContext) -> DecisionGraph:
    if ctx.graph is None:
        raise ToolError("this session has no decision graph (it runs without a store); nothing was logged")
    return ctx.graph.for_agent(ctx.agent, ctx.session_id or None)


def _line(n: Node) -> str:
    conf = f" ({n.confidence}%)" if n.confidence is not None else ""
    who = f" — {n.agent_name}" if n.agent_name else ""
    return f"#{n.id} [{n.node_type}] {n.title}{conf}{who}"


async def _decision_log(args: dict[str, Any], ctx: ToolContext) -> str:
    from ..graph._store import GraphError

    graph = _graph(ctx)

    def write() -> str:
        parent = args.get("parent_id")
        if parent is None and ctx.task:  # an agent on a plan's task: its node hangs under the task's
            task_node = graph.task_node(ctx.task)
            parent = task_node.id if task_node is not None else None
        node = graph.add_node(
            args["node_type"],
            args["title"],
            args.get("description"),
            confidence=args.get("confidence"),
            metadata={"task": ctx.task} if ctx.task else None,
            parent_id=parent,
            edge_type=args["edge_type"],
        )
        link = f", {args['edge_type']} from #{parent}" if parent is not None else ""
        return f"logged {_line(node)}{link}"

    try:
        return await asyncio.to_thread(write)
    except GraphError as exc:
        raise ToolError(f"{exc}; nothing was logged") from None


decision_log = Tool(
    name="decision_log",
    description=(
        "Record a node in the shared decision graph: a goal, a decision, an option, an action, an outcome, "
        "an observation or a revisit, with your confidence (0-100). Link it to an existing node with "
        "parent_id (edge_type says how: leads_to by default, chosen, rejected, requires, blocks, enables, "
        "supersedes)."
    ),
    parameters={
        "type": "object",
        "properties": {
            "node_type": {"type": "string", "enum": _NODE_TYPES},
            "title": {"type": "string", "description": "One line."},
            "description": {"type": "string"},
            "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
            "parent_id": {"type": "integer", "description": "Existing node this one follows from."},
            "edge_type": {"type": "string", "enum": _EDGE_TYPES, "default": "leads_to"},
        },
        "required": ["node_type", "title"],
    },
    fn=_decision_log,
    permission="coordination",
)


async def _decision_query(args: dict[str, Any], ctx: ToolContext) -> str:
    from ..graph._store import GraphError

    graph = _graph(ctx)
    kind = args["query"]

    def read() -> str:
        if kind == "active_goals":
            nodes = graph.active_goals(ctx.session_id or None)
        elif kind == "recent_decisions":
            nodes = graph.recent_decisions(args["limit"], ctx.session_id or None)
        elif kind == "search":
            if not args.get("text"):
                raise ToolError("search needs text")
            nodes = graph.search(args["text"], limit=args["limit"])
        else:
            return graph.pulse(session_id=ctx.session_id or None).summary
        return "\n".join(_line(n) for n in nodes) if nodes else "(none)"

    try:
        return await asyncio.to_thread(read)
    except GraphError as exc:
        raise ToolError(str(exc)) from None


decision_query = Tool(
    name="decision_query",
    description=(
        "Read the shared decision graph: active_goals, recent_decisions, pulse (goals with no action yet, "
        "low-confidence and stale nodes), or search (title and description contain text)."
    ),
    parameters={
        "type": "object",
        "properties": {
            "query": {"type": "string", "enum": ["active_goals", "recent_decisions", "pulse", "search"]},
            "text": {"type": "string", "description": "For search."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
        },
        "required": ["query"],
    },
    fn=_decision_query,
    permission="read",
)
