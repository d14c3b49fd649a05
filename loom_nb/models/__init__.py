"""Models: one abstract call, `request(messages, ...) -> Response`; a file per provider.

anthropic: goes through the native async SDK; every other provider through litellm; `offline`
needs no key and no network; ScriptedModel is for tests. Providers import lazily.
"""

from __future__ import annotations

from typing import Any

from ._base import DEFAULT_LIMITER, Model, ModelSpec, ProviderLimiter, parse_model_string
from ._errors import MissingAPIKey, ModelError, ModelRequestBlocked, UnknownModel
from ._messages import (
    Message,
    ModelSettings,
    Part,
    Response,
    TextPart,
    ToolCallPart,
    ToolDefinition,
    ToolResultPart,
    Usage,
    tool_call,
)
from ._offline import OfflineModel
from ._pricing import Price, cost_usd, lookup_price
from ._retry import RetryPolicy
from ._scripted import ScriptedModel, ScriptExhausted

__all__ = [
    "DEFAULT_LIMITER",
    "Message",
    "MissingAPIKey",
    "Model",
    "ModelError",
    "ModelRequestBlocked",
    "ModelSettings",
    "ModelSpec",
    "OfflineModel",
    "Part",
    "Price",
    "ProviderLimiter",
    "Response",
    "RetryPolicy",
    "ScriptExhausted",
    "ScriptedModel",
    "TextPart",
    "ToolCallPart",
    "ToolDefinition",
    "ToolResultPart",
    "UnknownModel",
    "Usage",
    "cost_usd",
    "get_model",
    "lookup_price",
    "parse_model_string",
    "tool_call",
]


def get_model(model: str | Model, **options: Any) -> Model:
    """A Model from a model string (`anthropic:claude-haiku-4-5`, `openai/gpt-4o`, `offline`).

    options: api_key, base_url, retry (RetryPolicy), limiter (ProviderLimiter).
    A Model instance is returned as is.
    """
    if isinstance(model, Model):
        return model
    spec = parse_model_string(model)
    if spec.provider == "offline":
        return OfflineModel(spec.model)
    if spec.provider == "anthropic":
        from ._anthropic import AnthropicModel

        return AnthropicModel(spec.model, **options)
    from ._litellm import LitellmModel

    return LitellmModel(spec, **options)
