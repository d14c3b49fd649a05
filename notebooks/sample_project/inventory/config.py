"""Settings come from settings.toml; environment variables override them."""

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    store_path: Path
    session_lifetime_minutes: int


def load_settings(path: str | Path = "settings.toml") -> Settings:
    """Read the TOML file, then let INVENTORY_STORE override the store path."""
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    store = os.environ.get("INVENTORY_STORE", raw["store"]["path"])
    return Settings(store_path=Path(store), session_lifetime_minutes=int(raw["sessions"]["lifetime_minutes"]))
