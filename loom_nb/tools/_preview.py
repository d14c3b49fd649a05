"""What an approval card shows for a call before it runs: the diff a write would make, the command."""

from __future__ import annotations

import difflib
from typing import Any

from ._base import ToolContext, ToolError
from ._write import _read_text

__all__ = ["preview"]

MAX_PREVIEW_LINES = 400


def preview(tool: str, arguments: dict[str, Any], ctx: ToolContext) -> str:
    """A unified diff for writes (from the files as they are now), the command for shell; "" otherwise.
    Never raises: a preview that cannot be made says why."""
    try:
        if ctx.workspace is not None:
            ctx.workspace.wait_ready()
        if tool == "shell":
            return f"$ {arguments.get('command', '')}"
        if tool == "run_tests":
            from ._tests import shown_command

            return f"$ {shown_command(arguments, ctx)}"
        if tool == "file_write":
            return _diff(ctx, tool, arguments["path"], lambda old: arguments["content"])
        if tool == "file_edit":
            old, new, every = arguments["old"], arguments["new"], arguments.get("replace_all", False)
            return _diff(
                ctx,
                tool,
                arguments["path"],
                lambda text: text.replace(old, new) if every else text.replace(old, new, 1),
            )
        if tool == "file_delete":
            return _diff(ctx, tool, arguments["path"], lambda old: None)
        if tool == "file_move":
            return f"rename {arguments['source']} -> {arguments['destination']}"
    except (KeyError, TypeError) as exc:
        return f"(no preview: argument {exc} missing or malformed)"
    except (ToolError, OSError) as exc:
        return f"(no preview: {exc})"
    return ""


def _diff(ctx: ToolContext, tool: str, path: str, change: Any) -> str:
    target = ctx.scope.resolve(path, must_exist=False)
    rel = ctx.scope.relative(target)
    before = _read_text(target, path, tool) if target.is_file() else None
    after = change(before or "")
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile=f"a/{rel}" if before is not None else "/dev/null",
        tofile=f"b/{rel}" if after is not None else "/dev/null",
    )
    out = list(lines)
    if len(out) > MAX_PREVIEW_LINES:
        out = [*out[:MAX_PREVIEW_LINES], f"... {len(out) - MAX_PREVIEW_LINES} more lines\n"]
    return "".join(out)
