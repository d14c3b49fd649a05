"""Configuration from the project's `.loom.toml` (Loom's file), then the environment."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CONFIG_FILE", "DEFAULT_ANTHROPIC", "OFFLINE", "WEAK_ANTHROPIC", "Config", "ConfigError", "load_config"]

CONFIG_FILE = ".loom.toml"
DEFAULT_ANTHROPIC = "anthropic:claude-sonnet-4-5"
WEAK_ANTHROPIC = "anthropic:claude-haiku-4-5"
OFFLINE = "offline"


class ConfigError(ValueError):
    """The project's .loom.toml cannot be used; the message names the file and the fix."""


@dataclass(frozen=True, kw_only=True)
class Config:
    """Settings for a project."""

    project: Path
    """The project root (resolved)."""
    default_model: str
    """Model for the lead and the specialists."""
    weak_model: str
    """Model for sub-agents (cheap and fast)."""
    source: Path | None = None
    """The .loom.toml these came from, if any."""


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
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix or remove the file") from None
    model = data.get("model", {})
    if not isinstance(model, dict):
        raise ConfigError(f'{path}: [model] must be a table, like\n[model]\ndefault = "{DEFAULT_ANTHROPIC}"')
    for key in ("default", "weak"):
        if key in model and (not isinstance(model[key], str) or not model[key].strip()):
            raise ConfigError(f'{path}: [model] {key} must be a model string such as "{WEAK_ANTHROPIC}"')
    return Config(
        project=root,
        default_model=model.get("default", default),
        weak_model=model.get("weak", model.get("default", weak)),
        source=path,
    )
