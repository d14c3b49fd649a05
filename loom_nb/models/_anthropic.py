"""Anthropic through its native async SDK: truly async, prompt caching, the SDK's own retries."""

from __future__ import annotations

import asyncio
import contextvars
import os
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._base import DEFAULT_LIMITER, Model, ProviderLimiter, check_local_only
from ._errors import MissingAPIKey, ModelError
from ._messages import (
    Message,
    ModelSettings,
    Response,
    TextPart,
    ToolCallPart,
    ToolDefinition,
    ToolResultPart,
    Usage,
)
from ._pricing import Price, cost_usd, lookup_price
from ._retry import RetryPolicy

if TYPE_CHECKING:
    import anthropic

__all__ = ["AnthropicModel"]

# Attempts made by the current request; the middleware runs once per attempt, inside the SDK's
# retry loop and in the caller's task, so a context variable scopes the count to one request.
_attempts: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("loom_attempts", default=None)


async def _count_attempts(request: Any, call_next: Any) -> Any:
    counter = _attempts.get()
    if counter is not None:
        counter[0] += 1
    return await call_next(request)


class AnthropicModel(Model):
    """`anthropic:<model>`. The system prompt and tool definitions are marked for prompt caching."""

    provider = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
        limiter: ProviderLimiter = DEFAULT_LIMITER,
        cache_prompt: bool = True,
        price: Price | None = None,
    ) -> None:
        self.model = model
        self.name = f"anthropic:{model}"
        self._api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not self._api_key:
            raise MissingAPIKey(self.name, ["ANTHROPIC_API_KEY"])
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL")
        self.retry = retry
        self.limiter = limiter
        self.cache_prompt = cache_prompt
        self.price = price if price is not None else lookup_price("anthropic", model)
        # httpx clients bind their pool to the loop they first ran on: one client per loop.
        self._clients: weakref.WeakKeyDictionary[Any, anthropic.AsyncAnthropic] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:  # never the key
        return f"<AnthropicModel {self.name} base_url={self.base_url!r}>"

    async def aclose(self) -> None:
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def _client(self) -> anthropic.AsyncAnthropic:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import anthropic
            import httpx2

            # Keep alive as many connections as the limiter lets run at once: the SDK's default
            # (100) makes a larger swarm reconnect on every turn.
            limit = self.limiter.limit(self.provider)
            client = anthropic.AsyncAnthropic(
                api_key=self._api_key,
                base_url=self.base_url,
                max_retries=self.retry.max_retries,
                middleware=[_count_attempts],
                http_client=anthropic.DefaultAsyncHttpxClient(
                    limits=httpx2.Limits(max_connections=max(limit, 100), max_keepalive_connections=limit)
                ),
            )
            self._clients[loop] = client
        return client

    async def request(
        self,
        messages: Sequence[Message],
        *,
        system: str = "",
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings = ModelSettings(),
    ) -> Response:
        check_local_only(self.name, self.base_url)
        import anthropic

        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": settings.max_tokens,
            "messages": [_to_wire(m) for m in messages],
            "timeout": settings.timeout,
        }
        if system:
            block: dict[str, Any] = {"type": "text", "text": system}
            if self.cache_prompt:
                block["cache_control"] = {"type": "ephemeral"}
            kwargs["system"] = [block]
        if tools:
            wire_tools: list[dict[str, Any]] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
            ]
            if self.cache_prompt:  # one breakpoint after the last tool caches them all
                wire_tools[-1] = {**wire_tools[-1], "cache_control": {"type": "ephemeral"}}
            kwargs["tools"] = wire_tools
            if settings.tool_choice == "none":
                kwargs["tool_choice"] = {"type": "none"}
        if settings.temperature is not None:
            kwargs["temperature"] = settings.temperature

        counter = [0]
        token = _attempts.set(counter)
        started = time.perf_counter()
        try:
            async with self.limiter.semaphore(self.provider):
                raw = await self._client().messages.create(**kwargs)
        except anthropic.APIStatusError as exc:
            hint = " (check ANTHROPIC_API_KEY)" if exc.status_code in (401, 403) else ""
            raise ModelError(
                f"{self.name}: HTTP {exc.status_code} {_error_message(exc)}{hint}"
                f" after {max(counter[0] - 1, 0)} retries",
                status_code=exc.status_code,
                retries=max(counter[0] - 1, 0),
            ) from None
        except anthropic.APIConnectionError as exc:  # includes timeouts
            kind = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "connection failed"
            raise ModelError(
                f"{self.name}: {kind} after {max(counter[0] - 1, 0)} retries ({exc})",
                retries=max(counter[0] - 1, 0),
            ) from None
        finally:
            _attempts.reset(token)
        latency = time.perf_counter() - started
        usage = Usage(
            input_tokens=raw.usage.input_tokens or 0,
            output_tokens=raw.usage.output_tokens or 0,
            cache_read_tokens=getattr(raw.usage, "cache_read_input_tokens", None) or 0,
            cache_write_tokens=getattr(raw.usage, "cache_creation_input_tokens", None) or 0,
        )
        parts: list[TextPart | ToolCallPart] = []
        for block in raw.content:
            if block.type == "text":
                parts.append(TextPart(text=block.text))
            elif block.type == "tool_use":
                args = block.input
                if isinstance(args, dict):
                    parts.append(ToolCallPart(id=block.id, name=block.name, arguments=args))
                else:
                    parts.append(
                        ToolCallPart(
                            id=block.id,
                            name=block.name,
                            arguments_error=f"arguments are not a JSON object: {args!r:.200}",
                        )
                    )
        return Response(
            parts=tuple(parts),
            usage=usage,
            model=self.name,
            cost_usd=cost_usd(usage, self.price),
            stop_reason=raw.stop_reason,
            latency_s=latency,
            retries=max(counter[0] - 1, 0),
        )


def _error_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", exc))


def _to_wire(message: Message) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            if part.text:
                content.append({"type": "text", "text": part.text})
        elif isinstance(part, ToolCallPart):
            content.append({"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments})
        elif isinstance(part, ToolResultPart):
            content.append(
                {
                    "type": "tool_result",
                    "tool_use_id": part.tool_call_id,
                    "content": part.content,
                    "is_error": part.is_error,
                }
            )
    return {"role": message.role, "content": content}
