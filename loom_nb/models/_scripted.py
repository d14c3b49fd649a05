"""A scripted model for tests (ours and users'): replies from a list, or from a function."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from ._base import Model
from ._errors import ModelError
from ._messages import (
    Message,
    ModelSettings,
    Response,
    TextPart,
    ToolCallPart,
    ToolDefinition,
    estimate_usage,
)
from ._pricing import Price, cost_usd

__all__ = ["ScriptExhausted", "ScriptedModel"]

Step = str | ToolCallPart | Sequence[ToolCallPart] | Response | BaseException
"""text -> a text answer; tool call(s) -> a turn asking for them; Response -> as is;
an exception -> the turn fails with it."""
ScriptFn = Callable[[Sequence[Message], Sequence[ToolDefinition]], Step | Awaitable[Step]]


class ScriptExhausted(ModelError):
    """The script has no step left for this turn."""


class ScriptedModel(Model):
    """`ScriptedModel(["hi"])`, `ScriptedModel([tool_call("file_read", path="a"), "done"])`, or
    `ScriptedModel(lambda messages, tools: ...)`. `latency` simulates a model's think time.
    Usage is estimated from characters (4 per token) unless a step carries its own; cost is at
    `price` ($0 by default; None: unknown, as for a model missing from the price map)."""

    provider = "scripted"

    def __init__(
        self,
        script: Iterable[Step] | ScriptFn,
        *,
        name: str = "scripted:test",
        latency: float = 0.0,
        price: Price | None = Price(0.0, 0.0),
    ) -> None:
        self.name = name
        self.price = price
        self.latency = latency
        self._fn: ScriptFn | None = script if callable(script) else None
        self._steps: list[Step] = [] if callable(script) else list(script)
        self._next = 0
        self.requests: list[tuple[list[Message], list[ToolDefinition], ModelSettings]] = []
        """Every request seen, for assertions."""

    async def request(
        self,
        messages: Sequence[Message],
        *,
        system: str = "",
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings = ModelSettings(),
    ) -> Response:
        self.requests.append((list(messages), list(tools), settings))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self._fn is not None:
            step: Any = self._fn(messages, tools)
            if inspect.isawaitable(step):
                step = await step
        else:
            if self._next >= len(self._steps):
                raise ScriptExhausted(f"{self.name} ran out of scripted steps after {self._next} turns")
            step = self._steps[self._next]
            self._next += 1
        return _to_response(step, self.name, messages, system, self.price)


def _to_response(step: Any, name: str, messages: Sequence[Message], system: str, price: Price | None) -> Response:
    if isinstance(step, BaseException):
        raise step
    if isinstance(step, Response):
        return step
    if isinstance(step, str):
        parts: tuple[TextPart | ToolCallPart, ...] = (TextPart(text=step),)
    elif isinstance(step, ToolCallPart):
        parts = (step,)
    elif isinstance(step, Sequence) and all(isinstance(p, TextPart | ToolCallPart) for p in step):
        parts = tuple(step)
    else:
        raise TypeError(f"a script step must be text, tool call(s), a Response or an exception; got {step!r}")
    usage = estimate_usage(messages, system, parts)
    stop = "tool_use" if any(isinstance(p, ToolCallPart) for p in parts) else "end_turn"
    return Response(parts=parts, usage=usage, model=name, cost_usd=cost_usd(usage, price), stop_reason=stop)
