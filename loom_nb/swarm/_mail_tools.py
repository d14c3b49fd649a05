"""The tools agents talk with: send_message, ask and broadcast (permission "coordination").

They reach the run's post office through `ctx.team.post` (the swarm's per-agent services) and send
as `ctx.agent` from `ctx.task`; outside a swarm they say so.
"""

from __future__ import annotations

from typing import Any

from ..tools._base import Tool, ToolContext, ToolError
from ._mail import PostOffice, render

__all__ = ["ASK", "BROADCAST", "MAIL_TOOLS", "SEND_MESSAGE"]


def _post(ctx: ToolContext) -> PostOffice:
    post = getattr(ctx.team, "post", None) if ctx.team is not None else None
    if post is None or not ctx.agent:
        raise ToolError(
            "messages need a swarm run: send_message, ask and broadcast reach the other agents of a swarm, "
            "and this agent runs outside one"
        )
    return post  # type: ignore[no-any-return]


async def _send_message(args: dict[str, Any], ctx: ToolContext) -> str:
    post = _post(ctx)
    letter = post.send(ctx.agent, args["to"], args["text"], reply_to=args.get("reply_to") or "", task=ctx.task)
    if letter.reply_to:
        return f"sent {letter.id} to {letter.to} (answering {letter.reply_to})"
    return f"sent {letter.id} to {letter.to}"


async def _ask(args: dict[str, Any], ctx: ToolContext) -> str:
    post = _post(ctx)
    reply = await post.ask_letter(
        ctx.agent, args["to"], args["question"], timeout=float(args["timeout_s"]), task=ctx.task
    )
    return render([reply])


async def _broadcast(args: dict[str, Any], ctx: ToolContext) -> str:
    post = _post(ctx)
    letter, names = post.broadcast(ctx.agent, args["text"], task=ctx.task)
    return f"sent {letter.id} to {len(names)} agent{'s' if len(names) != 1 else ''}: {', '.join(names)}"


_TO = {"type": "string", "description": "The addressee's agent name (researcher-1, tester-1, lead, ...)."}

SEND_MESSAGE = Tool(
    name="send_message",
    description=(
        "Send a message to another agent of this run; it reads it between its turns. To answer an ask "
        "(or any message), pass that message's id as reply_to. Up to 16 KiB of text."
    ),
    parameters={
        "type": "object",
        "properties": {
            "to": _TO,
            "text": {"type": "string", "description": "What to tell it."},
            "reply_to": {"type": "string", "default": "", "description": "The id of the message this answers (m3)."},
        },
        "required": ["to", "text"],
    },
    fn=_send_message,
    permission="coordination",
)

ASK = Tool(
    name="ask",
    description=(
        "Ask another agent of this run a question and wait for its answer (it answers between its turns). "
        "Fails when it does not answer within timeout_s seconds, or when it ends first."
    ),
    parameters={
        "type": "object",
        "properties": {
            "to": _TO,
            "question": {"type": "string", "description": "The question, with what it needs to answer."},
            "timeout_s": {"type": "integer", "default": 120, "minimum": 1, "maximum": 600},
        },
        "required": ["to", "question"],
    },
    fn=_ask,
    permission="coordination",
)

BROADCAST = Tool(
    name="broadcast",
    description="Send one message to every other live agent of this run (each reads it between its turns).",
    parameters={
        "type": "object",
        "properties": {"text": {"type": "string", "description": "What everyone should know."}},
        "required": ["text"],
    },
    fn=_broadcast,
    permission="coordination",
)

MAIL_TOOLS = (SEND_MESSAGE, ASK, BROADCAST)
