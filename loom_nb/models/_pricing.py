"""Prices from litellm's bundled price map, read as data (importing litellm takes seconds).

Unknown stays unknown: a model missing from the map, or listed at $0 by a paid provider, has no
price (None), never a made-up $0.00.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._messages import Usage

if TYPE_CHECKING:
    from ..config import PriceEntry
    from ._base import ModelSpec

__all__ = ["Price", "configured_price", "cost_usd", "lookup_price"]

# Providers that run on the user's own machine: their $0 in the map is the truth.
LOCAL_PROVIDERS = frozenset({"ollama", "ollama_chat", "hosted_vllm", "vllm", "lm_studio", "llamafile"})
_MAP_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True, slots=True)
class Price:
    """USD per token."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None

    @classmethod
    def per_mtok(cls, entry: PriceEntry) -> Price:
        """From a .loom.toml [prices] entry (USD per million tokens)."""
        mega = 1e6  # divide: 15.0 / 1e6 == 1.5e-05, while 15.0 * 1e-6 is one ulp off
        return cls(
            input=entry.input_per_mtok / mega,
            output=entry.output_per_mtok / mega,
            cache_read=None if entry.cache_read_per_mtok is None else entry.cache_read_per_mtok / mega,
            cache_write=None if entry.cache_write_per_mtok is None else entry.cache_write_per_mtok / mega,
        )


@functools.cache
def _price_map() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / _MAP_FILE
        if path.is_file():
            with path.open(encoding="utf-8") as f:
                return json.load(f)
    # The file moved in some release: fall back to litellm's own (slow) import.
    import os

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return dict(litellm.model_cost)


def _candidates(provider: str, model: str) -> list[str]:
    names = [f"{provider}/{model}", model]
    undated = re.sub(r"-\d{8}$", "", model)
    if undated != model:
        names += [f"{provider}/{undated}", undated]
    return names


def lookup_price(provider: str, model: str) -> Price | None:
    """The price of provider/model, or None when the map does not know it."""
    table = _price_map()
    for name in _candidates(provider, model):
        entry = table.get(name)
        if not isinstance(entry, dict):
            continue
        inp, out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if inp is None or out is None:
            continue
        if inp == 0 and out == 0 and provider not in LOCAL_PROVIDERS:
            return None  # a paid provider at $0 is a hole in the map, not a gift
        return Price(
            input=float(inp),
            output=float(out),
            cache_read=entry.get("cache_read_input_token_cost"),
            cache_write=entry.get("cache_creation_input_token_cost"),
        )
    if provider in LOCAL_PROVIDERS:
        return Price(0.0, 0.0)
    return None


def configured_price(spec: ModelSpec, prices: Mapping[str, PriceEntry]) -> Price | None:
    """The project's own price for the model (a [prices] entry in .loom.toml), if it sets one.

    Keys are model strings in any accepted form ("anthropic:x", "anthropic/x", "claude-x")."""
    from ._base import parse_model_string
    from ._errors import UnknownModel

    for key, entry in prices.items():
        try:
            name = parse_model_string(key).name
        except UnknownModel as exc:
            raise UnknownModel(f'[prices."{key}"] in .loom.toml: {exc}') from None
        if name == spec.name:
            return Price.per_mtok(entry)
    return None


def cost_usd(usage: Usage, price: Price | None) -> float | None:
    if price is None:
        return None
    read = price.cache_read if price.cache_read is not None else price.input
    write = price.cache_write if price.cache_write is not None else price.input
    return (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_read_tokens * read
        + usage.cache_write_tokens * write
    )
