"""workspace_diff: what the run has changed so far, for the reviewer (and anyone who reads before acting).

It is the run's commits as one unified diff, from the user's HEAD at the run's start to the
worktree's branch (`Workspace.diff()`), optionally of one file or folder, cut at ~20 KiB with a
note naming the files left out.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ._base import Tool, ToolContext, ToolError
from ._write import _require_workspace

__all__ = ["workspace_diff"]

MAX_DIFF_BYTES = 20 * 1024


def _diff_of(ctx: ToolContext, rel: str | None) -> tuple[str, list[str]]:
    from ..workspace._git import git

    ws = ctx.workspace
    assert ws is not None
    ws.wait_ready()
    if rel is None:
        return ws.diff(), ws.changed_files()
    span = f"{ws.base}...{ws.branch}"
    spec = f":(literal){rel}"  # a path, never a glob or pathspec magic
    diff = git(ws.project, "diff", "--no-color", "--no-ext-diff", span, "--", spec).stdout
    names = git(ws.project, "diff", "--name-only", "-z", span, "--", spec).stdout
    return diff, [p for p in names.split("\x00") if p]


def _cut(diff: str, files: list[str]) -> str:
    """At most MAX_DIFF_BYTES, cut at a line, naming the files whose changes are not (all) shown."""
    data = diff.encode()
    if len(data) <= MAX_DIFF_BYTES:
        return diff
    shown = data[:MAX_DIFF_BYTES].decode(errors="ignore")
    shown = shown[: shown.rfind("\n") + 1] or shown
    started = [f for f in files if f"diff --git a/{f} " in shown]
    whole = set(started[:-1])  # the last one begun is the one cut
    cut = [f for f in files if f not in whole]
    names = ", ".join(cut[:20]) + (f" and {len(cut) - 20} more" if len(cut) > 20 else "")
    return (
        f"{shown}[cut: the diff is {len(data):,} bytes, {MAX_DIFF_BYTES:,} shown; not shown in full: {names}. "
        "Call workspace_diff with path= to read one file]"
    )


async def _workspace_diff(args: dict[str, Any], ctx: ToolContext) -> str:
    _require_workspace(ctx)
    path = args["path"].strip()
    rel: str | None = None
    if path and path != ".":
        resolved = ctx.scope.resolve(path, must_exist=False)  # a deleted file's change is still readable
        rel = ctx.scope.relative(resolved)
        try:  # git reads paths from the repository's root; a reader's scope may be a sub-folder of the worktree
            rel = resolved.relative_to(ctx.workspace.path).as_posix()  # type: ignore[union-attr]
        except ValueError:
            pass
        if any(part.casefold() == ".git" for part in Path(rel).parts):
            raise ToolError(f"{path!r} is inside .git; name a file or folder of the project")
        rel = None if rel == "." else rel
    diff, files = await asyncio.to_thread(_diff_of, ctx, rel)
    if not files:
        where = f" to {rel}" if rel else ""
        return f"no changes{where} yet: the run has committed nothing{where and ' there'}"
    listed = ", ".join(files[:30]) + (f" and {len(files) - 30} more" if len(files) > 30 else "")
    head = f"{len(files)} file{'s' * (len(files) != 1)} changed by the run's commits: {listed}"
    return f"{head}\n{_cut(diff, files)}"


workspace_diff = Tool(
    name="workspace_diff",
    description=(
        "The run's changes so far as a unified diff (its commits, from where the run started). Give a path to "
        "see only that file or folder. Long diffs are cut at ~20 KiB, naming the files not shown."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": {"type": "string", "default": "", "description": "A file or folder in the workspace; empty: all."},
        },
    },
    fn=_workspace_diff,
    permission="read",
)
