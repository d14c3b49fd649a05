"""file_read, file_search and directory_list: read-only views of the scope."""

from __future__ import annotations

import asyncio
import os
import stat
from typing import Any

import pathspec

from ._base import Tool, ToolContext, ToolError, cap_chars, truncate
from ._scope import Scope, open_regular
from ._walk import walk_files

__all__ = ["directory_list", "file_read", "file_search"]

MAX_LINE_CHARS = 2000
INLINE_READ_BYTES = 64 * 1024
"""A regular file up to this size is read on the event loop (a page-cache read of it takes microseconds;
handing it to a thread costs more than the read); larger ones are read on a thread."""


class _TooBig(Exception):
    """A file meant to be read inline grew past INLINE_READ_BYTES after its stat: read it on a thread."""


def _read_lines(path: str, offset: int, limit: int, max_bytes: int | None = None) -> tuple[list[tuple[int, str]], int]:
    with open(open_regular(path), "rb") as f:  # a FIFO or device is refused, never waited on
        if max_bytes is not None and os.fstat(f.fileno()).st_size > max_bytes:
            raise _TooBig
        if b"\0" in f.read(8192):
            raise ToolError(f"{os.path.basename(path)} is a binary file; file_read shows text only")
        f.seek(0)
        wanted: list[tuple[int, str]] = []
        total = 0
        for total, raw in enumerate(f, 1):
            if offset <= total < offset + limit:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if len(text) > MAX_LINE_CHARS:
                    text = text[:MAX_LINE_CHARS] + " …[line truncated]"
                wanted.append((total, text))
    return wanted, total


async def _file_read(args: dict[str, Any], ctx: ToolContext) -> str:
    path = ctx.scope.resolve(args["path"])
    try:
        info: os.stat_result | None = path.stat()
    except OSError:  # gone meanwhile, or unreadable: opening it says why
        info = None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{args['path']!r} is a directory; use directory_list")
    offset, limit = args["offset"], args["limit"]
    try:
        if info is None or not stat.S_ISREG(info.st_mode) or info.st_size > INLINE_READ_BYTES:
            raise _TooBig
        lines, total = _read_lines(str(path), offset, limit, INLINE_READ_BYTES)  # ~10 us; a thread's hop: 20-100
    except _TooBig:
        lines, total = await asyncio.to_thread(_read_lines, str(path), offset, limit)
    rel = ctx.scope.relative(path)
    if total == 0:
        return f"{rel} is empty."
    if not lines:
        raise ToolError(f"offset {offset} is past the end of {rel}, which has {total} lines")
    last = lines[-1][0]
    header = f"{rel} (lines {lines[0][0]}-{last} of {total})"
    body = "\n".join(f"{n:>6}\t{text}" for n, text in lines)
    more = f"\n[truncated: {total - last} more lines; read on with offset={last + 1}]" if last < total else ""
    return cap_chars(f"{header}\n{body}{more}")


file_read = Tool(
    name="file_read",
    description=(
        "Read a text file of the scope with line numbers. Use offset (1-based first line) and "
        "limit (number of lines) to read a part of a long file."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "File path relative to the scope."},
            "offset": {"type": "integer", "minimum": 1, "default": 1},
            "limit": {"type": "integer", "minimum": 1, "maximum": 2000, "default": 400},
        },
        "required": ["path"],
    },
    fn=_file_read,
    permission="read",
)


def _find(scope: Scope, start: str, pattern: str) -> list[str]:
    base = scope.resolve(start)
    spec = pathspec.GitIgnoreSpec.from_lines([pattern])
    root = str(scope.root)
    found = []
    for path, is_dir, _ in walk_files(base):
        if is_dir:
            continue
        if spec.match_file(os.path.relpath(path, base).replace(os.sep, "/")):
            found.append(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(found)


async def _file_search(args: dict[str, Any], ctx: ToolContext) -> str:
    pattern = Scope.check_glob(args["pattern"])
    found = await asyncio.to_thread(_find, ctx.scope, args["path"], pattern)
    if not found:
        return f"No files match {pattern!r} under {args['path']}."
    return cap_chars(truncate(found, args["max_results"], "files", "use a narrower pattern or path"))


file_search = Tool(
    name="file_search",
    description=(
        "Find files by gitignore-style glob under a path of the scope: '*.py' matches at any depth, "
        "'src/*.py' only directly in src/, '**/test_*.py' anywhere. Honours .gitignore; skips hidden "
        "files. Returns paths relative to the scope, sorted."
    ),
    parameters={
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "Glob, relative to path."},
            "path": {"type": "string", "default": "."},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500},
        },
        "required": ["pattern"],
    },
    fn=_file_search,
    permission="read",
)


def _listing(scope: Scope, start: str, depth: int) -> list[str]:
    base = scope.resolve(start)
    if not base.is_dir():
        raise ToolError(f"{start!r} is a file; use file_read")
    rows = []
    for path, is_dir, level in walk_files(base, max_depth=depth):
        name = os.path.basename(path)
        indent = "  " * (level - 1)
        if is_dir:
            rows.append(f"{indent}{name}/")
        else:
            try:
                size = os.path.getsize(path)
            except OSError:
                size = 0
            rows.append(f"{indent}{name} ({_size(size)})")
    return rows


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


async def _directory_list(args: dict[str, Any], ctx: ToolContext) -> str:
    rows = await asyncio.to_thread(_listing, ctx.scope, args["path"], args["depth"])
    rel = ctx.scope.relative(ctx.scope.resolve(args["path"]))
    if not rows:
        return f"{rel}/ is empty (or everything in it is hidden or ignored)."
    return cap_chars(f"{rel}/\n" + truncate(rows, args["max_entries"], "entries", "list a subdirectory or lower depth"))


directory_list = Tool(
    name="directory_list",
    description=(
        "List a directory of the scope as an indented tree (directories end with '/', files show "
        "their size), down to `depth` levels. Honours .gitignore; skips hidden entries."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": {"type": "string", "default": "."},
            "depth": {"type": "integer", "minimum": 1, "maximum": 6, "default": 2},
            "max_entries": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500},
        },
    },
    fn=_directory_list,
    permission="read",
)
