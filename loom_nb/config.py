"""Configuration from the project's `.loom.toml` (Loom's file), then the environment."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_ANTHROPIC",
    "OFFLINE",
    "WEAK_ANTHROPIC",
    "Config",
    "ConfigError",
    "PriceEntry",
    "load_config",
    "read_toml",
]

CONFIG_FILE = ".loom.toml"
DEFAULT_ANTHROPIC = "anthropic:claude-sonnet-4-5"
WEAK_ANTHROPIC = "anthropic:claude-haiku-4-5"
OFFLINE = "offline"


class ConfigError(ValueError):
    """The project's .loom.toml cannot be used; the message names the file and the fix."""


@dataclass(frozen=True, kw_only=True)
class PriceEntry:
    """A model's price from `[prices."provider:model"]` in .loom.toml, in USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    """Default: the input price."""
    cache_write_per_mtok: float | None = None
    """Default: the input price."""


_PRICE_KEYS = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok")
_PRICE_EXAMPLE = '[prices."anthropic:claude-opus-4-1"] with input_per_mtok = 15.0 and output_per_mtok = 75.0'


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings for a project."""

    project: Path
    """The project root (resolved)."""
    default_model: str
    """Model for the lead and the specialists."""
    weak_model: str
    """Model for sub-agents (cheap and fast)."""
    strong_model: str | None = None
    """Model for the strong tier (architects); None: the default model."""
    source: Path | None = None
    """The .loom.toml these came from, if any."""
    prices: Mapping[str, PriceEntry] = field(default_factory=dict)
    """Prices the project sets (over litellm's map), keyed by model string as written."""


def read_toml(path: Path, error: type[ValueError] = ConfigError) -> dict[str, Any]:
    """The tables of a .loom.toml ({} without the file); `error` with the fix when it is not TOML."""
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML ({exc}); fix or remove the file") from None


def load_config(project: str | os.PathLike[str] = ".") -> Config:
    """Read `<project>/.loom.toml` ([model] default = ..., weak = ...).

    Without a file (or a key): Anthropic models when ANTHROPIC_API_KEY is set, else the offline
    model, so everything runs on a machine with no key and no network.
    """
    root = Path(project).expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(f"project {os.fspath(project)!r} is not a directory")
    has_key = bool(os.environ.get("ANTHROPIC_API_KEY"))
    default = DEFAULT_ANTHROPIC if has_key else OFFLINE
    weak = WEAK_ANTHROPIC if has_key else OFFLINE
    path = root / CONFIG_FILE
    if not path.is_file():
        return Config(project=root, default_model=default, weak_model=weak)
    data = read_toml(path)
    model = data.get("model", {})
    if not isinstance(model, dict):
        raise ConfigError(f'{path}: [model] must be a table, like\n[model]\ndefault = "{DEFAULT_ANTHROPIC}"')
    for key in ("default", "weak", "strong"):
        if key in model and (not isinstance(model[key], str) or not model[key].strip()):
            raise ConfigError(f'{path}: [model] {key} must be a model string such as "{WEAK_ANTHROPIC}"')
    return Config(
        project=root,
        default_model=model.get("default", default),
        weak_model=model.get("weak", model.get("default", weak)),
        strong_model=model.get("strong"),
        source=path,
        prices=_prices(path, data.get("prices", {})),
    )


def _prices(path: Path, table: Any) -> dict[str, PriceEntry]:
    """`[prices."provider:model"]` tables: input_per_mtok and output_per_mtok, cache prices optional."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [prices] must hold one table per model, like {_PRICE_EXAMPLE}")
    prices = {}
    for name, entry in table.items():
        where = f'{path}: [prices."{name}"]'
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table, like {_PRICE_EXAMPLE}")
        unknown = sorted(set(entry) - set(_PRICE_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(_PRICE_KEYS)}")
        for key in _PRICE_KEYS[:2]:
            if key not in entry:
                raise ConfigError(f"{where} needs {key} (USD per million tokens), like {_PRICE_EXAMPLE}")
        for key, value in entry.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
                raise ConfigError(f"{where}: {key} must be a number of USD per million tokens >= 0; got {value!r}")
        prices[name] = PriceEntry(**{k: float(v) for k, v in entry.items()})
    return prices
