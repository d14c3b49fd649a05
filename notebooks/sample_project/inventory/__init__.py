"""A small shop-inventory service (the tutorials' sample project)."""

from .config import Settings, load_settings
from .sessions import SessionStore
from .stock import Stock

__all__ = ["SessionStore", "Settings", "Stock", "load_settings"]
