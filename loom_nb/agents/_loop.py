"""The agent loop: model turn -> tool calls (concurrent) -> model turn ..., at most N iterations.

Every step is an event on the bus; the loop knows nothing of recorders or widgets.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from ..events import AgentSpawned, AgentStatus, EventBus, LLMCall, ToolCallEvent, ToolStarted, Warning
from ..models import get_model
from ..models._base import Model
from ..models._errors import ModelError
from ..models._messages import (
    Message,
    ModelSettings,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from ..tools._base import Tool, ToolContext, ToolError

__all__ = ["Agent", "AgentResult"]

LAST_TURN_NUDGE = (
    "This is your last allowed turn: no more tools. Answer now with what you have found so far, "
    "citing file:line evidence, and say what is still unknown."
)


@dataclass(kw_only=True, frozen=True)
class AgentResult:
    """What an agent run produced."""

    text: str
    """The final answer (or, when cut short, what was found so far)."""
    partial: bool
    """True when the iteration limit ended the run rather than the model."""
    stop_reason: Literal["final", "max_iterations"]
    iterations: int
    usage: Usage
    cost_usd: float | None
    """Sum over turns; None if any turn's price was unknown."""
    model: str
    tool_calls: int
    messages: tuple[Message, ...]


def summarize_args(arguments: dict[str, object], limit: int = 120) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Agent:
    """A model with tools and a system prompt. `await agent.run(input)` -> AgentResult."""

    def __init__(
        self,
        *,
        name: str,
        model: Model | str,
        tools: Sequence[Tool],
        context: ToolContext,
        system_prompt: str = "",
        role: str = "agent",
        max_iterations: int = 25,
        settings: ModelSettings = ModelSettings(),
        bus: EventBus | None = None,
        parent: str | None = None,
    ) -> None:
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1; got {max_iterations}")
        self.name = name
        self.role = role
        self.model = get_model(model)
        self.tools = {t.name: t for t in tools}
        self.context = replace(context, agent=name, bus=bus if bus is not None else context.bus)
        self.system_prompt = system_prompt
        self.max_iterations = max_iterations
        self.settings = settings
        self.bus = self.context.bus or EventBus()
        self.session_id = self.context.session_id or uuid.uuid4().hex[:12]
        self.parent = parent
        self._definitions = [t.definition() for t in tools]

    def __repr__(self) -> str:
        return f"<Agent {self.name} role={self.role} model={self.model.name}>"

    def _status(self, status: str, iteration: int, **kw: object) -> None:
        self.bus.emit(
            AgentStatus(
                session_id=self.session_id,
                agent=self.name,
                status=status,  # type: ignore[arg-type]
                iteration=iteration,
                **kw,
            )
        )  # type: ignore[arg-type]

    async def run(self, input: str) -> AgentResult:
        bus, sid, name = self.bus, self.session_id, self.name
        bus.emit(AgentSpawned(session_id=sid, agent=name, role=self.role, model=self.model.name, parent=self.parent))
        messages: list[Message] = [Message.user(input)]
        usage = Usage()
        cost: float | None = 0.0
        warned_price = False
        tool_calls = 0
        iteration = 0
        try:
            for iteration in range(1, self.max_iterations + 1):
                last = iteration == self.max_iterations
                self._status("thinking", iteration)
                settings, sent = self.settings, messages
                if last and iteration > 1:
                    settings = replace(settings, tool_choice="none")
                    sent = [*messages[:-1], _with_text(messages[-1], LAST_TURN_NUDGE)]
                started = time.perf_counter()
                try:
                    response = await self.model.request(
                        sent, system=self.system_prompt, tools=self._definitions, settings=settings
                    )
                except ModelError as exc:
                    bus.emit(
                        LLMCall(
                            session_id=sid,
                            agent=name,
                            model=self.model.name,
                            latency_s=time.perf_counter() - started,
                            retries=exc.retries,
                            error=str(exc),
                        )
                    )
                    raise
                r = response.usage
                bus.emit(
                    LLMCall(
                        session_id=sid,
                        agent=name,
                        model=response.model,
                        input_tokens=r.input_tokens,
                        output_tokens=r.output_tokens,
                        cache_read_tokens=r.cache_read_tokens,
                        cache_write_tokens=r.cache_write_tokens,
                        cost_usd=response.cost_usd,
                        latency_s=response.latency_s or time.perf_counter() - started,
                        retries=response.retries,
                    )
                )
                usage = usage + r
                if response.cost_usd is None:
                    cost = None
                    if not warned_price:
                        warned_price = True
                        bus.emit(
                            Warning(
                                session_id=sid,
                                agent=name,
                                code="unknown_price",
                                message=f"{response.model} has no price in litellm's price map: "
                                "its cost is reported as unknown, not $0",
                            )
                        )
                elif cost is not None:
                    cost += response.cost_usd
                messages.append(response.as_message())
                calls = response.tool_calls
                if not calls or last:
                    partial = last and (bool(calls) or iteration > 1)
                    text = response.text if not calls else _found_so_far(messages)
                    reason = "max_iterations" if partial else "final"
                    self._status("done", iteration, reason=reason)
                    return AgentResult(
                        text=text,
                        partial=partial,
                        stop_reason=reason,  # type: ignore[arg-type]
                        iterations=iteration,
                        usage=usage,
                        cost_usd=cost,
                        model=self.model.name,
                        tool_calls=tool_calls,
                        messages=tuple(messages),
                    )
                self._status("executing", iteration, tool=", ".join(c.name for c in calls))
                results = await asyncio.gather(*(self._run_tool(c) for c in calls))
                tool_calls += len(calls)
                messages.append(Message(role="user", parts=tuple(results)))
        except asyncio.CancelledError:
            self._status("cancelled", iteration, reason="stopped")
            raise
        except Exception as exc:
            self._status("crashed", iteration, reason=f"{type(exc).__name__}: {exc}")
            raise
        raise AssertionError("unreachable: the last iteration always returns")

    async def _run_tool(self, call: ToolCallPart) -> ToolResultPart:
        bus, sid, name = self.bus, self.session_id, self.name
        summary = summarize_args(call.arguments)
        bus.emit(ToolStarted(session_id=sid, agent=name, tool=call.name, call_id=call.id, args_summary=summary))
        started = time.perf_counter()
        tool = self.tools.get(call.name)
        outcome: Literal["ok", "error", "refused"] = "ok"
        error: str | None = None
        if tool is None:
            outcome = "refused"
            error = (
                f"tool {call.name!r} is not available to this agent; it may use only "
                f"{', '.join(sorted(self.tools))}. Nothing was run."
            )
        elif call.arguments_error is not None:
            outcome, error = "error", f"{call.name} was not run: {call.arguments_error}. Send a JSON object."
        else:
            try:
                content = await tool(call.arguments, self.context)
            except ToolError as exc:
                outcome, error = "error", str(exc)
            except Exception as exc:  # a tool that raises becomes an error result; the loop goes on
                outcome, error = "error", f"{call.name} failed: {type(exc).__name__}: {exc}"
        bus.emit(
            ToolCallEvent(
                session_id=sid,
                agent=name,
                tool=call.name,
                call_id=call.id,
                args_summary=summary,
                duration_s=time.perf_counter() - started,
                outcome=outcome,
                error=error,
            )
        )
        if error is not None:
            return ToolResultPart(tool_call_id=call.id, name=call.name, content=error, is_error=True)
        return ToolResultPart(tool_call_id=call.id, name=call.name, content=content)


def _with_text(message: Message, text: str) -> Message:
    return Message(role=message.role, parts=(*message.parts, TextPart(text=text)))


def _found_so_far(messages: list[Message]) -> str:
    """When the limit cuts a model off mid-search: its own words so far, then what its tools returned."""
    said = [m.text for m in messages if m.role == "assistant" and m.text]
    results = [p for m in messages for p in m.tool_results if not p.is_error]
    lines = ["Stopped at the iteration limit before a final answer. Found so far:"]
    lines += said
    for p in results[-6:]:
        head = p.content.strip().splitlines()[:8]
        lines.append(f"[{p.name}]\n" + "\n".join(head))
    return "\n".join(lines)
