"""Every provider but Anthropic, through litellm's acompletion (OpenAI, Ollama, vLLM, ...).

litellm's own retries differ by provider and do not all honour retry-after, so they are turned
off and one RetryPolicy applies to all (see _retry.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from typing import Any

from ._base import DEFAULT_LIMITER, Model, ModelSpec, ProviderLimiter, check_local_only
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
from ._pricing import LOCAL_PROVIDERS, Price, cost_usd, lookup_price
from ._retry import Retryable, RetryPolicy, is_retryable_status, retry_call

__all__ = ["LitellmModel", "import_litellm"]


def import_litellm() -> Any:
    """Import litellm the only safe way: with the bundled price map (else it fetches one from the
    network at import, seconds offline) and without its telemetry or debug banners."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.drop_params = True  # e.g. tool_choice="none" where a provider lacks it
    return litellm


class LitellmModel(Model):
    """`provider:model` or `provider/model` for any provider litellm knows."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
        limiter: ProviderLimiter = DEFAULT_LIMITER,
        price: Price | None = None,
    ) -> None:
        self.spec = spec
        self.provider = spec.provider
        self.name = spec.name
        self.base_url = base_url
        self.retry = retry
        self.limiter = limiter
        self._api_key = api_key
        self.price = price if price is not None else lookup_price(spec.provider, spec.model)
        if api_key is None and base_url is None and spec.provider not in LOCAL_PROVIDERS:
            missing = import_litellm().validate_environment(model=spec.litellm_name).get("missing_keys") or []
            if missing:
                raise MissingAPIKey(self.name, list(missing))

    def __repr__(self) -> str:
        return f"<LitellmModel {self.name} base_url={self.base_url!r}>"

    async def request(
        self,
        messages: Sequence[Message],
        *,
        system: str = "",
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings = ModelSettings(),
    ) -> Response:
        check_local_only(self.name, self.base_url)
        litellm = import_litellm()
        wire: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        for m in messages:
            wire.extend(_to_wire(m))
        kwargs: dict[str, Any] = {
            "model": self.spec.litellm_name,
            "messages": wire,
            "max_tokens": settings.max_tokens,
            "timeout": settings.timeout,
            "num_retries": 0,
            "max_retries": 0,
        }
        if settings.temperature is not None:
            kwargs["temperature"] = settings.temperature
        if tools:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in tools
            ]
            if settings.tool_choice == "none":
                kwargs["tool_choice"] = "none"
        if self.base_url:
            kwargs["api_base"] = self.base_url
            # OpenAI-compatible local servers take any key, but the client insists on one.
            kwargs["api_key"] = self._api_key or "no-key-needed"
        elif self._api_key:
            kwargs["api_key"] = self._api_key

        async def attempt() -> Any:
            try:
                return await litellm.acompletion(**kwargs)
            except Exception as exc:
                status = getattr(exc, "status_code", None)
                if _is_transport_error(litellm, exc) or is_retryable_status(status):
                    raise Retryable(exc, _retry_after(exc)) from exc
                raise

        started = time.perf_counter()
        try:
            async with self.limiter.semaphore(self.provider):
                raw, retries = await retry_call(attempt, self.retry)
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            retries = getattr(exc, "retries", 0)
            detail = str(getattr(exc, "message", exc)).replace("litellm.", "")
            raise ModelError(
                f"{self.name}: {'HTTP ' + str(status) + ' ' if status else ''}{detail[:500]} after {retries} retries",
                status_code=status if isinstance(status, int) else None,
                retries=retries,
            ) from None
        return self._response(raw, retries, time.perf_counter() - started)

    def _response(self, raw: Any, retries: int, latency: float) -> Response:
        choice = raw.choices[0]
        msg = choice.message
        parts: list[TextPart | ToolCallPart] = []
        if msg.content:
            parts.append(TextPart(text=msg.content))
        for call in msg.tool_calls or []:
            raw_args = call.function.arguments or "{}"
            try:
                args = json.loads(raw_args) if isinstance(raw_args, str) else raw_args
                error = None if isinstance(args, dict) else f"arguments are not a JSON object: {raw_args!r:.200}"
            except json.JSONDecodeError as exc:
                args, error = None, f"arguments are not valid JSON ({exc.msg} at char {exc.pos}): {raw_args!r:.200}"
            parts.append(
                ToolCallPart(
                    id=call.id,
                    name=call.function.name,
                    arguments=args if isinstance(args, dict) else {},
                    arguments_error=error,
                )
            )
        u = getattr(raw, "usage", None)
        prompt = getattr(u, "prompt_tokens", 0) or 0
        details = getattr(u, "prompt_tokens_details", None)
        cached = (getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
        cache_write = getattr(u, "cache_creation_input_tokens", 0) or 0
        usage = Usage(
            input_tokens=max(prompt - cached - cache_write, 0),
            output_tokens=getattr(u, "completion_tokens", 0) or 0,
            cache_read_tokens=cached,
            cache_write_tokens=cache_write,
        )
        return Response(
            parts=tuple(parts),
            usage=usage,
            model=self.name,
            cost_usd=cost_usd(usage, self.price),
            stop_reason=choice.finish_reason,
            latency_s=latency,
            retries=retries,
        )


def _is_transport_error(litellm: Any, exc: Exception) -> bool:
    return isinstance(exc, litellm.Timeout | litellm.APIConnectionError) and not getattr(exc, "status_code", None)


def _retry_after(exc: Exception) -> float | None:
    for headers in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
    ):
        if not headers:
            continue
        try:
            value = headers.get("retry-after-ms")
            if value is not None:
                return float(value) / 1000
            value = headers.get("retry-after")
            if value is not None:
                return float(value)
        except (TypeError, ValueError):
            continue
    return None


def _to_wire(message: Message) -> list[dict[str, Any]]:
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        calls = message.tool_calls
        if calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in calls
            ]
        return [out]
    wire: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": p.tool_call_id, "content": p.content}
        for p in message.parts
        if isinstance(p, ToolResultPart)
    ]
    text = message.text
    if text:
        wire.append({"role": "user", "content": text})
    return wire
