"""Models: one abstract call, `request(messages, ...) -> Response`; a file per provider.

anthropic: goes through the native async SDK; every other provider through litellm; `offline`
needs no key and no network; ScriptedModel is for tests. Providers import lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._base import DEFAULT_LIMITER, Model, ModelSpec, ProviderLimiter, parse_model_string
from ._budget import Budget, BudgetReached, Reservation, current_budget, worst_case
from ._errors import MissingAPIKey, ModelError, ModelRequestBlocked, UnknownModel
from ._intents import Intent, IntentError, PlanStep, parse_intent, plan_for
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
from ._pricing import Price, configured_price, cost_usd, lookup_price

if TYPE_CHECKING:
    from ..config import PriceEntry
from ._retry import RetryPolicy
from ._scripted import ScriptedModel, ScriptExhausted

__all__ = [
    "DEFAULT_LIMITER",
    "Budget",
    "BudgetReached",
    "Intent",
    "IntentError",
    "Message",
    "MissingAPIKey",
    "Model",
    "ModelError",
    "ModelRequestBlocked",
    "ModelSettings",
    "ModelSpec",
    "OfflineModel",
    "Part",
    "PlanStep",
    "Price",
    "ProviderLimiter",
    "Reservation",
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
    "configured_price",
    "cost_usd",
    "current_budget",
    "get_model",
    "lookup_price",
    "parse_intent",
    "parse_model_string",
    "plan_for",
    "tool_call",
    "worst_case",
]


def get_model(model: str | Model, *, prices: Mapping[str, PriceEntry] | None = None, **options: Any) -> Model:
    """A Model from a model string (`anthropic:claude-haiku-4-5`, `openai/gpt-4o`, `offline`).

    prices: the project's own prices (Config.prices, from .loom.toml), over litellm's map.
    options: api_key, base_url, retry (RetryPolicy), limiter (ProviderLimiter), price (Price).
    A Model instance is returned as is.
    """
    if isinstance(model, Model):
        return model
    spec = parse_model_string(model)
    if spec.provider == "offline":
        return OfflineModel(spec.model)
    if prices and "price" not in options:
        options["price"] = configured_price(spec, prices)
    if spec.provider == "anthropic":
        from ._anthropic import AnthropicModel

        return AnthropicModel(spec.model, **options)
    from ._litellm import LitellmModel

    return LitellmModel(spec, **options)
