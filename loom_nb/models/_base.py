"""The one abstract call every agent uses, model strings, and per-provider backpressure."""

from __future__ import annotations

import asyncio
import difflib
import ipaddress
import os
import re
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ._errors import ModelRequestBlocked, UnknownModel
from ._messages import Message, ModelSettings, Response, ToolDefinition

if TYPE_CHECKING:
    from ._pricing import Price

__all__ = ["Model", "ModelSpec", "ProviderLimiter", "check_local_only", "parse_model_string"]


class Model(ABC):
    """A chat model with tools. Subclasses convert to their provider's wire format."""

    name: str
    """loom's provider:model form, for example "anthropic:claude-haiku-4-5"."""
    provider: str
    price: Price | None = None
    """USD per token, for budgets to reserve a call's worst case; None: unknown (a USD budget is refused)."""

    @abstractmethod
    async def request(
        self,
        messages: Sequence[Message],
        *,
        system: str = "",
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings = ModelSettings(),
    ) -> Response:
        """One model turn. Raises ModelError when it fails for good."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Release connections made on the running loop (a no-op for models without any)."""

    async def __aenter__(self) -> Model:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A parsed model string."""

    provider: str
    model: str

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}" if self.model else self.provider

    @property
    def litellm_name(self) -> str:
        return f"{self.provider}/{self.model}"


def parse_model_string(spec: str) -> ModelSpec:
    """Accept loom's `provider:model` and litellm's `provider/model`; a bare claude-* is Anthropic."""
    text = spec.strip()
    if not text:
        raise UnknownModel(
            "empty model string: use a form like 'anthropic:claude-haiku-4-5', 'openai/gpt-4o' or 'offline'"
        )
    if text == "offline" or text.startswith("offline:"):
        return ModelSpec("offline", text.partition(":")[2])
    colon, slash = text.find(":"), text.find("/")
    # "ollama/llama3:8b" has a tag colon after the slash: the first separator decides.
    if colon > 0 and (slash < 0 or colon < slash):
        provider, model = text[:colon], text[colon + 1 :]
    elif slash > 0:
        provider, model = text[:slash], text[slash + 1 :]
    elif text.startswith("claude"):
        provider, model = "anthropic", text
    else:
        raise UnknownModel(
            f"model string {spec!r} names no provider: write it as 'provider:model' "
            "(for example 'anthropic:claude-haiku-4-5', 'openai:gpt-4o', 'ollama:llama3') or 'offline'"
        )
    if not model:
        raise UnknownModel(f"model string {spec!r} names no model after the provider")
    if _BAD_CHARS.search(text):
        raise UnknownModel(f"model string {spec!r} contains spaces or control characters; write it as 'provider:model'")
    provider = provider.lower()
    from ._providers import known_providers

    known = known_providers()
    if provider not in known:
        close = difflib.get_close_matches(provider, sorted(known), n=3, cutoff=0.6)
        advice = "use a provider litellm knows (anthropic, openai, gemini, mistral, ollama, ...) or 'offline'"
        if close:
            advice = f"did you mean {' or '.join(repr(c) for c in close)}? Otherwise {advice}"
        raise UnknownModel(f"model string {spec!r} names an unknown provider {provider!r}: {advice}")
    return ModelSpec(provider, model)


_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f]")


class ProviderLimiter:
    """At most `limit` requests in flight per provider (backpressure), per event loop.

    The default of 16 keeps a 100-agent swarm under typical tier-1 rate limits while a turn's
    latency, not the limit, stays the bottleneck for small swarms. Set per provider with
    `set_limit("anthropic", 64)`.
    """

    def __init__(self, default: int = 16, limits: dict[str, int] | None = None) -> None:
        self.default = default
        self.limits = dict(limits or {})
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]]
        self._semaphores = weakref.WeakKeyDictionary()

    def set_limit(self, provider: str, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1; got {limit}")
        self.limits[provider] = limit
        for per_loop in self._semaphores.values():
            per_loop.pop(provider, None)

    def limit(self, provider: str) -> int:
        return self.limits.get(provider, self.default)

    def semaphore(self, provider: str) -> asyncio.Semaphore:
        per_loop = self._semaphores.setdefault(asyncio.get_running_loop(), {})
        sem = per_loop.get(provider)
        if sem is None:
            sem = per_loop[provider] = asyncio.Semaphore(self.limit(provider))
        return sem


DEFAULT_LIMITER = ProviderLimiter()


def _is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_local_only(model: str, base_url: str | None) -> None:
    """Refuse a request that would leave the machine while LOOM_NB_ONLY_LOCAL_MODELS is set."""
    if os.environ.get("LOOM_NB_ONLY_LOCAL_MODELS") and not _is_loopback(base_url):
        raise ModelRequestBlocked(
            f"{model}: real model requests are blocked (LOOM_NB_ONLY_LOCAL_MODELS is set, as in the "
            f"test suite) and {base_url or 'the provider default URL'} is not on 127.0.0.1; use "
            "loom_nb.testing.FakeLLMServer or the offline model"
        )
