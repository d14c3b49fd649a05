"""file_write, file_edit, file_delete, file_move: the hands of an implementer.

Every path goes through the scope's checks (nothing outside the worktree, no symlink leading out)
and nothing inside `.git` is ever written. Each applied change is one commit of the run's workspace,
attributed to the agent, so the user can read, merge or undo it. Writes happen only in a workspace:
a context without one refuses them, saying how to give the run a workspace.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._base import Tool, ToolContext, ToolError
from ._scope import open_regular

if TYPE_CHECKING:
    from ..workspace import Commit

__all__ = ["WRITE_TOOLS", "commit_changes", "file_delete", "file_edit", "file_move", "file_write"]

MAX_WRITE_BYTES = 1_000_000
"""Larger contents are refused: a model writing a megabyte at once is almost always a mistake."""


def _require_workspace(ctx: ToolContext) -> None:
    if ctx.workspace is None:
        raise ToolError(
            "this run has no workspace, so it cannot write; start the run with writes enabled "
            "(a git repository and a role that may write)"
        )


def _target(ctx: ToolContext, path: str, *, must_exist: bool) -> Path:
    _require_workspace(ctx)
    resolved = ctx.scope.resolve(path, must_exist=must_exist)
    rel = Path(ctx.scope.relative(resolved))
    if any(part.casefold() == ".git" for part in rel.parts):  # as the policy: in any letter case
        raise ToolError(f"{path!r} is inside .git; git's own files are never written (loom commits for you)")
    if resolved == ctx.scope.root:
        raise ToolError(f"{path!r} is the workspace itself; name a file inside it")
    return resolved


def _read_text(path: Path, shown: str, tool: str) -> str:
    """The text of a regular file (undecodable bytes kept as they are, for the write back); a FIFO, a
    device or a binary file is refused, never waited on or mangled."""
    with open(open_regular(path), "rb") as f:
        data = f.read()
    if b"\0" in data[:8192]:
        raise ToolError(f"{shown!r} is a binary file; {tool} changes text files only")
    return data.decode("utf-8", errors="surrogateescape")


def _check_text(content: str, what: str) -> None:
    if "\x00" in content:
        raise ToolError(f"{what} contains a NUL byte; only text files are written")
    size = len(content.encode(errors="surrogateescape"))  # a file's undecodable bytes count as themselves
    if size > MAX_WRITE_BYTES:
        raise ToolError(f"{what} is {size:,} bytes; at most {MAX_WRITE_BYTES:,} are written at once")


def _write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".loom-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            f.write(content)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def commit_changes(ctx: ToolContext, paths: list[str] | None, message: str) -> Commit | None:
    """One attributed commit of these paths (None: all changes) and a CommitMade event; None if no change."""
    assert ctx.workspace is not None
    commit = await asyncio.to_thread(
        ctx.workspace.commit, paths, message, agent=ctx.agent or "agent", role=ctx.role or "agent", task=ctx.task
    )
    if commit is not None and ctx.bus is not None:
        from ..events import CommitMade

        ctx.bus.emit(
            CommitMade(
                session_id=ctx.session_id,
                agent=ctx.agent,
                sha=commit.sha,
                message=commit.message,
                files=commit.files,
                insertions=commit.insertions,
                deletions=commit.deletions,
                task=ctx.task,
            )
        )
    return commit


async def _commit(ctx: ToolContext, paths: list[str], message: str) -> str:
    commit = await commit_changes(ctx, paths, message)
    if commit is None:
        return "no change (the file already had that content); nothing committed"
    return f"committed {commit.sha[:10]} (+{commit.insertions} -{commit.deletions}): {commit.message}"


async def _file_write(args: dict[str, Any], ctx: ToolContext) -> str:
    path = _target(ctx, args["path"], must_exist=False)
    content = args["content"]
    _check_text(content, "the content")
    if path.is_dir():
        raise ToolError(f"{args['path']!r} is a directory; name a file")
    existed = path.exists()
    if existed:
        await asyncio.to_thread(_read_text, path, args["path"], "file_write")
    await asyncio.to_thread(_write_atomically, path, content)
    rel = ctx.scope.relative(path)
    done = await _commit(ctx, [rel], f"{'rewrite' if existed else 'create'} {rel}")
    return f"wrote {rel} ({len(content.splitlines())} lines); {done}"


async def _file_edit(args: dict[str, Any], ctx: ToolContext) -> str:
    path = _target(ctx, args["path"], must_exist=True)
    old, new = args["old"], args["new"]
    if path.is_dir():
        raise ToolError(f"{args['path']!r} is a directory; name a file")
    if not old:
        raise ToolError("old is empty; give the exact text to replace (with a line or two of context)")
    if old == new:
        raise ToolError("old and new are the same; nothing to change")
    _check_text(new, "new")
    text = await asyncio.to_thread(_read_text, path, args["path"], "file_edit")
    rel = ctx.scope.relative(path)
    count = text.count(old)
    if count == 0:
        raise ToolError(f"old was not found in {rel}. {_candidates(text, old)}")
    if count > 1 and not args["replace_all"]:
        lines = [text.count("\n", 0, i) + 1 for i in _occurrences(text, old)]
        raise ToolError(
            f"old occurs {count} times in {rel} (lines {', '.join(map(str, lines[:10]))}); add surrounding lines "
            "to make it unique, or pass replace_all=true"
        )
    updated = text.replace(old, new) if args["replace_all"] else text.replace(old, new, 1)
    _check_text(updated, "the edited file")
    await asyncio.to_thread(_write_atomically, path, updated)
    done = await _commit(ctx, [rel], f"edit {rel}")
    return f"replaced {count if args['replace_all'] else 1} occurrence(s) in {rel}; {done}"


def _occurrences(text: str, needle: str) -> list[int]:
    found, start = [], 0
    while (i := text.find(needle, start)) != -1:
        found.append(i)
        start = i + 1
    return found


def _candidates(text: str, old: str) -> str:
    """The lines that come closest to `old`, so the model can copy the exact text."""
    lines = text.splitlines()
    first = old.strip().splitlines()[0] if old.strip() else old
    close = difflib.get_close_matches(first.strip(), [line.strip() for line in lines], n=3, cutoff=0.5)
    if not close:
        return "Read the file (file_read) and copy the exact text, whitespace included."
    shown = []
    for candidate in close:
        number = next(i for i, line in enumerate(lines, 1) if line.strip() == candidate)
        shown.append(f"  line {number}: {lines[number - 1]!r}")
    return "Closest lines:\n" + "\n".join(shown) + "\nCopy the exact text, whitespace included."


def _deletable(ctx: ToolContext, raw: str) -> Path:
    """The file to delete; a symlink is deleted itself, never what it points to."""
    named = Path(os.path.normpath(ctx.scope.root / raw)) if "\x00" not in raw else None
    if named is None or not named.is_symlink():
        return _target(ctx, raw, must_exist=True)
    _require_workspace(ctx)
    ctx.scope.resolve(os.fspath(named.parent))  # the folder holding it must be inside
    if ".git" in named.relative_to(ctx.scope.root).parts:
        raise ToolError(f"{raw!r} is inside .git; git's own files are never written")
    return named


async def _file_delete(args: dict[str, Any], ctx: ToolContext) -> str:
    path = _deletable(ctx, args["path"])
    if path.is_dir() and not path.is_symlink():
        raise ToolError(f"{args['path']!r} is a directory; delete its files one by one")
    rel = ctx.scope.relative(path)
    await asyncio.to_thread(path.unlink)
    return f"deleted {rel}; " + await _commit(ctx, [rel], f"delete {rel}")


async def _file_move(args: dict[str, Any], ctx: ToolContext) -> str:
    source = _target(ctx, args["source"], must_exist=True)
    destination = _target(ctx, args["destination"], must_exist=False)
    if source.is_dir():
        raise ToolError(f"{args['source']!r} is a directory; move files one by one")
    if destination.exists() and not args["overwrite"]:
        raise ToolError(f"{args['destination']!r} exists; pass overwrite=true to replace it")
    if destination.is_dir():
        raise ToolError(f"{args['destination']!r} is a directory; name the new file path")
    src, dst = ctx.scope.relative(source), ctx.scope.relative(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(os.replace, source, destination)
    return f"moved {src} to {dst}; " + await _commit(ctx, [src, dst], f"move {src} to {dst}")


_PATH = {"type": "string", "description": "A path relative to the workspace root."}

file_write = Tool(
    name="file_write",
    description="Create a text file, or replace all of an existing one. Prefer file_edit for changes to a file.",
    parameters={
        "type": "object",
        "properties": {"path": _PATH, "content": {"type": "string", "description": "The whole new content."}},
        "required": ["path", "content"],
    },
    fn=_file_write,
    permission="write",
)
file_edit = Tool(
    name="file_edit",
    description=(
        "Replace an exact piece of text in a file. `old` must match exactly once (whitespace included): "
        "include a line or two of context to make it unique, or set replace_all."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": _PATH,
            "old": {"type": "string", "description": "The exact text to replace."},
            "new": {"type": "string", "description": "The text to put in its place."},
            "replace_all": {"type": "boolean", "default": False, "description": "Replace every occurrence."},
        },
        "required": ["path", "old", "new"],
    },
    fn=_file_edit,
    permission="write",
)
file_delete = Tool(
    name="file_delete",
    description="Delete a file of the workspace (one commit; the user can undo it).",
    parameters={"type": "object", "properties": {"path": _PATH}, "required": ["path"]},
    fn=_file_delete,
    permission="write",
)
file_move = Tool(
    name="file_move",
    description="Move or rename a file of the workspace.",
    parameters={
        "type": "object",
        "properties": {
            "source": _PATH,
            "destination": _PATH,
            "overwrite": {"type": "boolean", "default": False, "description": "Replace an existing destination."},
        },
        "required": ["source", "destination"],
    },
    fn=_file_move,
    permission="write",
)

WRITE_TOOLS: tuple[Tool, ...] = (file_write, file_edit, file_delete, file_move)
