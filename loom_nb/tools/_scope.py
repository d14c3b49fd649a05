"""The scope: every path a tool touches resolves inside one directory, or is refused unread."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ._base import ToolError

__all__ = ["Scope", "ScopeError"]


class ScopeError(ToolError):
    """A path or glob that would leave the scope."""


class Scope:
    """A directory tools may read. Paths are relative to it (absolute paths inside it work too);
    `..` climbing out, absolute paths elsewhere, symlinks leading out, NUL bytes and globs that
    climb out are refused before anything is opened."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        raw = os.fspath(root)
        if "\x00" in raw:
            raise ScopeError("the scope path contains a NUL byte")
        path = Path(raw).expanduser().resolve()
        if not path.is_dir():
            raise ScopeError(f"scope {raw!r} is not a directory")
        self.root = path

    def __repr__(self) -> str:
        return f"Scope({str(self.root)!r})"

    def resolve(self, path: str, *, must_exist: bool = True) -> Path:
        if not isinstance(path, str):
            raise ToolError(f"a path must be a string; got {type(path).__name__}")
        if "\x00" in path:
            raise ScopeError("the path contains a NUL byte; refused")
        text = path.strip() or "."
        candidate = Path(text).expanduser()
        if not candidate.is_absolute():
            candidate = self.root / candidate
        resolved = candidate.resolve()  # follows symlinks, so a link leading out is caught here
        if not resolved.is_relative_to(self.root):
            raise ScopeError(
                f"{path!r} is outside the scope {self.root}; refused. Use a path relative to the scope "
                "(symlinks leading out of it are refused too)"
            )
        if must_exist and not resolved.exists():
            raise ToolError(f"{path!r} does not exist in the scope {self.root}")
        return resolved

    def relative(self, path: Path) -> str:
        rel = path.relative_to(self.root).as_posix()
        return rel if rel else "."

    @staticmethod
    def check_glob(pattern: str) -> str:
        """A glob may only look down from where it is applied."""
        if not isinstance(pattern, str) or not pattern.strip():
            raise ToolError("the glob pattern is empty")
        if "\x00" in pattern:
            raise ScopeError("the glob pattern contains a NUL byte; refused")
        text = pattern.strip()
        if text.startswith(("/", "\\", "~")) or (len(text) > 1 and text[1] == ":"):
            raise ScopeError(f"glob {pattern!r} is absolute; globs are relative to the scope")
        if ".." in PurePosixPath(text.replace("\\", "/")).parts:
            raise ScopeError(f"glob {pattern!r} climbs out with '..'; refused")
        return text
