"""The scope: every path a tool touches resolves inside one directory, or is refused unread."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from ._base import ToolError

__all__ = ["Scope", "ScopeError", "directory", "expand", "open_regular", "resolve_path", "show_path"]


class ScopeError(ToolError):
    """A path or glob that would leave the scope, or that cannot be resolved at all."""


_REASONS = {
    errno.ELOOP: "is a symlink loop",
    errno.ENAMETOOLONG: "is too long (at most 255 bytes per name and 4,096 per path)",
    errno.ENOTDIR: "has a file where a directory should be",
    errno.EACCES: "cannot be read: permission denied",
    errno.EPERM: "cannot be read: operation not permitted",
    errno.ENOENT: "does not exist",
}
_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def show_path(text: str, limit: int = 80) -> str:
    """A path for an error message: quoted, and cut short when long (a 5,000-character path
    would drown the message the model has to read)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[: limit - 20] + '…' + text[-12:]!r} ({len(text):,} characters)"


def why(exc: OSError) -> str:
    """What an OSError on a path means, in words a model or a user can act on."""
    return _REASONS.get(exc.errno or 0) or f"cannot be used: {exc.strerror or exc}"


def resolve_path(path: Path, shown: str, what: str = "") -> Path:
    """`path.resolve()`, with the ways a path cannot be resolved (a symlink loop, a name too
    long, a file used as a directory, no permission) turned into one readable ScopeError.
    `shown` is the path as the caller gave it, `what` a prefix such as "scope "."""
    try:
        return path.resolve()
    except RuntimeError:  # Python < 3.13 reports a symlink loop this way
        raise ScopeError(f"{what}{show_path(shown)} is a symlink loop; refused") from None
    except OSError as exc:
        raise ScopeError(f"{what}{show_path(shown)} {why(exc)}; refused") from None
    except ValueError as exc:  # "embedded null byte" and the like
        raise ScopeError(f"{what}{show_path(shown)} is not a valid path ({exc}); refused") from None


def expand(text: str, what: str = "") -> Path:
    """`Path(text).expanduser()`, with an unknown user's `~name` as a ScopeError (Python raises
    RuntimeError for it)."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        raise ScopeError(f"{what}{show_path(text)} starts with a home directory that does not exist") from None


def directory(raw: str | os.PathLike[str], what: str, base: Path | None = None) -> Path:
    """The resolved directory `raw` names (relative to `base` if given), or one readable
    ScopeError saying why not. `what` names it in the message ("scope ", "project ")."""
    text = os.fspath(raw)
    if "\x00" in text:
        raise ScopeError(f"the {what.strip()} path contains a NUL byte")
    path = expand(text, what)
    if base is not None and not path.is_absolute():
        path = base / path
    resolved = resolve_path(path, text, what)
    try:
        mode = resolved.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise ScopeError(f"{what}{show_path(text)} is not a directory (it does not exist)") from None
    except OSError as exc:
        raise ScopeError(f"{what}{show_path(text)} {why(exc)}") from None
    if not stat.S_ISDIR(mode):
        kind = "a file" if stat.S_ISREG(mode) else _kind(mode)
        raise ScopeError(f"{what}{show_path(text)} is {kind}, not a directory")
    return resolved


def _kind(mode: int) -> str | None:
    """None for what tools may read (a directory or a regular file), else what it is."""
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return None
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def open_regular(path: str | os.PathLike[str]) -> int:
    """A descriptor open for reading on a regular file, or ToolError. O_NONBLOCK so a FIFO put
    where a file was (even after a check) never blocks the open; refused by fstat right after."""
    name = os.path.basename(os.fspath(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ToolError(f"{show_path(name)} {why(exc)}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else _kind(mode)
            raise ToolError(f"{show_path(name)} is {kind}; only regular files can be read")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Scope:
    """A directory tools may read. Paths are relative to it (absolute paths inside it work too);
    `..` climbing out, absolute paths elsewhere, symlinks leading out, NUL bytes and globs that
    climb out are refused before anything is opened, and so is a path that cannot be resolved
    (symlink loop, name too long) or that names a FIFO, device or socket (reading one would hang
    or never end)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = directory(root, "scope ")

    def __repr__(self) -> str:
        return f"Scope({str(self.root)!r})"

    def resolve(self, path: str, *, must_exist: bool = True) -> Path:
        if not isinstance(path, str):
            raise ToolError(f"a path must be a string; got {type(path).__name__}")
        if "\x00" in path:
            raise ScopeError("the path contains a NUL byte; refused")
        text = path.strip() or "."
        fast = self._below_root(text)
        if fast is not None:
            found, mode = fast
            if must_exist and mode is not None and (kind := _kind(mode)) is not None:
                raise ToolError(f"{show_path(path)} is {kind}; tools read regular files and directories only")
            return found
        candidate = expand(text)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        resolved = resolve_path(candidate, path)  # follows symlinks, so a link leading out is caught here
        if not resolved.is_relative_to(self.root):
            raise ScopeError(
                f"{show_path(path)} is outside the scope {self.root}; refused. Use a path relative to the scope "
                "(symlinks leading out of it are refused too)"
            )
        if not must_exist:
            return resolved
        try:
            mode = resolved.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            dangling = " (a symlink whose target is missing)" if os.path.islink(candidate) else ""
            raise ToolError(f"{show_path(path)} does not exist in the scope {self.root}{dangling}") from None
        except OSError as exc:
            raise ScopeError(f"{show_path(path)} {why(exc)}; refused") from None
        kind = _kind(mode)
        if kind is not None:
            raise ToolError(f"{show_path(path)} is {kind}; tools read regular files and directories only")
        return resolved

    def _below_root(self, text: str) -> tuple[Path, int | None] | None:
        """The common case without resolving the root again: a plain relative path whose every component
        exists and none is a symlink is the root joined with it (one lstat per component). Anything
        else (a link, a missing name, `..`, `~`, an absolute path) takes the full resolution."""
        if text.startswith(("/", "~")) or "\\" in text:
            return None
        parts = [part for part in text.split("/") if part not in ("", ".")]
        if ".." in parts:
            return None
        current, mode = str(self.root), None
        for part in parts:
            current = current + os.sep + part
            try:
                mode = os.lstat(current).st_mode
            except (OSError, ValueError):
                return None
            if stat.S_ISLNK(mode):
                return None
        return (Path(current) if parts else self.root), mode

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
