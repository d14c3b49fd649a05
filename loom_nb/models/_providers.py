"""The providers litellm can route to, read from its source as data (importing litellm takes seconds).

litellm keeps them in the `LlmProviders` enum of litellm/types/utils.py (`litellm.provider_list` is
that enum); reading the enum's string values from the file gives the same set in ~2 ms. If the
enum ever moves, fall back to importing litellm.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

__all__ = ["known_providers"]

# Always known: loom's own, and the two that loom routes itself.
_OWN = frozenset({"offline", "anthropic"})
_ENUM = re.compile(r"^class LlmProviders\(.*?\):\n(.*?)^\S", re.S | re.M)
_VALUE = re.compile(r'^\s+[A-Z0-9_]+\s*=\s*"([^"]+)"', re.M)


@functools.cache
def known_providers() -> frozenset[str]:
    """Provider names a model string may start with (litellm's list, plus offline and anthropic)."""
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.submodule_search_locations:
        source = Path(next(iter(spec.submodule_search_locations))) / "types" / "utils.py"
        try:
            match = _ENUM.search(source.read_text(encoding="utf-8"))
        except OSError:
            match = None
        if match:
            values = set(_VALUE.findall(match.group(1)))
            if len(values) > 20:  # a real enum, not a stray match
                return _OWN | values
    from ._litellm import import_litellm

    return _OWN | {getattr(p, "value", p) for p in import_litellm().provider_list}
