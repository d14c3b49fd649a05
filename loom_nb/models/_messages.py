"""What goes to and comes from a model, provider-neutral. Each provider converts in its own file."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Message",
    "ModelSettings",
    "Part",
    "Response",
    "TextPart",
    "ToolCallPart",
    "ToolDefinition",
    "ToolResultPart",
    "Usage",
    "tool_call",
]


@dataclass(slots=True, kw_only=True, frozen=True)
class TextPart:
    """Text written by the user or the model."""

    kind: Literal["text"] = "text"
    text: str


@dataclass(slots=True, kw_only=True, frozen=True)
class ToolCallPart:
    """The model asks for a tool to run."""

    kind: Literal["tool_call"] = "tool_call"
    id: str
    """Provider-issued id; the matching ToolResultPart carries it back."""
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    """Parsed JSON arguments ({} when they did not parse; see arguments_error)."""
    arguments_error: str | None = None
    """Set when the model sent arguments that are not a JSON object: the tool is not run and the
    model is told why, so it can try again."""


@dataclass(slots=True, kw_only=True, frozen=True)
class ToolResultPart:
    """What a tool returned (or why it failed), sent back to the model."""

    kind: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False


Part = TextPart | ToolCallPart | ToolResultPart


class _PartsView:
    """What a message and a response both say about their parts."""

    __slots__ = ()
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        return "\n".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]


@dataclass(slots=True, kw_only=True, frozen=True)
class Message(_PartsView):
    """One turn of the conversation. Tool results travel in user messages (Anthropic's shape)."""

    role: Literal["user", "assistant"]
    parts: tuple[Part, ...]

    @classmethod
    def user(cls, text: str) -> Message:
        return cls(role="user", parts=(TextPart(text=text),))

    @property
    def tool_results(self) -> list[ToolResultPart]:
        return [p for p in self.parts if isinstance(p, ToolResultPart)]


@dataclass(slots=True, kw_only=True, frozen=True)
class ToolDefinition:
    """A tool as the model sees it."""

    name: str
    description: str
    parameters: dict[str, Any]
    """JSON schema of the arguments object."""


@dataclass(slots=True, kw_only=True, frozen=True)
class Usage:
    """Token counts of one or more turns."""

    input_tokens: int = 0
    """Input tokens billed at the full rate (cache reads and writes are counted apart)."""
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens


@dataclass(slots=True, kw_only=True, frozen=True)
class Response(_PartsView):
    """A model turn's answer."""

    parts: tuple[TextPart | ToolCallPart, ...]
    usage: Usage
    model: str
    """The model string that answered, in loom's provider:model form."""
    cost_usd: float | None
    """USD for this turn from the price map; None when the price is unknown."""
    stop_reason: str | None = None
    latency_s: float = 0.0
    retries: int = 0
    """Attempts beyond the first that this turn needed."""

    def as_message(self) -> Message:
        return Message(role="assistant", parts=self.parts)


@dataclass(slots=True, kw_only=True, frozen=True)
class ModelSettings:
    """Per-request knobs shared by every provider."""

    max_tokens: int = 4096
    temperature: float | None = None
    timeout: float = 120.0
    """Seconds for one HTTP attempt (retries get their own)."""
    tool_choice: Literal["auto", "none"] = "auto"
    """none: the model must answer in text (used for an agent's last allowed iteration)."""


_call_ids = itertools.count(1)


def tool_call(name: str, _id: str | None = None, /, **arguments: Any) -> ToolCallPart:
    """Shorthand for scripts and tests: tool_call("file_read", path="a.py")."""
    return ToolCallPart(id=_id or f"call_{next(_call_ids)}", name=name, arguments=arguments)


def estimate_usage(messages: Sequence[Message], system: str, reply: Sequence[Part]) -> Usage:
    """Tokens as about 4 characters each, for models that count none (offline, scripted)."""

    def chars(part: Part) -> int:
        if isinstance(part, TextPart):
            return len(part.text)
        if isinstance(part, ToolResultPart):
            return len(part.content)
        return len(part.name) + len(str(part.arguments))

    sent = len(system) + sum(chars(p) for m in messages for p in m.parts)
    return Usage(input_tokens=sent // 4 + 1, output_tokens=sum(chars(p) for p in reply) // 4 + 1)
