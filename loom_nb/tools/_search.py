"""content_search: regex over the files of the scope, with ripgrep when an `rg` binary is on PATH
and a pure-Python search that returns the same matches when it is not."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pathspec

from ._base import Tool, ToolContext, ToolError, cap_chars, truncate
from ._scope import Scope, open_regular
from ._walk import walk_files

__all__ = ["Match", "content_search", "ripgrep_command", "ripgrep_path", "search"]

MAX_FILESIZE = 10 * 1024 * 1024
"""Files above this are skipped by both engines (rg's --max-filesize)."""
MAX_LINE_CHARS = 300
Engine = Literal["auto", "rg", "python"]
RG_STALL_S = 30.0
"""ripgrep blocks for ever opening a .gitignore that is a FIFO; after this long without exiting it
is killed and the Python search (which skips such files) answers instead."""


@dataclass(frozen=True, slots=True, order=True)
class Match:
    path: str
    """Relative to the scope root, with forward slashes."""
    line: int
    """1-based."""
    text: str


def ripgrep_path() -> str | None:
    """The rg binary to use, or None (LOOM_NB_RIPGREP=0 forces the Python search)."""
    if os.environ.get("LOOM_NB_RIPGREP", "1") in ("0", "false", "no"):
        return None
    return shutil.which("rg")


def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.MULTILINE | (re.IGNORECASE if ignore_case else 0))
    except re.error as exc:
        raise ToolError(f"invalid regex {pattern!r}: {exc}") from None


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def _search_python(scope: Scope, start: Path, regex: re.Pattern[str]) -> list[Match]:
    out: list[Match] = []
    root = str(scope.root)
    for path, is_dir, _ in walk_files(start):
        if is_dir:
            continue
        try:
            with open(open_regular(path), "rb") as f:
                data = f.read(MAX_FILESIZE + 1)
        except (OSError, ToolError):
            continue  # unreadable, or swapped for a FIFO since the walk saw it: skipped, as rg does
        if len(data) > MAX_FILESIZE:
            continue
        if b"\0" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            continue  # binary, as rg decides it
        text = _decode(data)
        rel = ""
        line_no, counted_to = 1, 0
        pos = 0
        # Jump from match to match over the whole text; each hit's line is then checked on its own
        # (a match may span lines, which line-oriented search must not report).
        while (m := regex.search(text, pos)) is not None:
            start = text.rfind("\n", 0, m.start()) + 1
            end = text.find("\n", m.start())
            end = len(text) if end < 0 else end
            if start == len(text):
                break  # the empty "line" after a final newline is not a line
            line = text[start:end]
            if regex.search(line):
                line_no += text.count("\n", counted_to, start)
                counted_to = start
                rel = rel or os.path.relpath(path, root).replace(os.sep, "/")
                out.append(Match(rel, line_no, line.rstrip("\r")))
            pos = end + 1
            if pos > len(text):
                break
    return out


def ripgrep_command(rg: str, pattern: str, target: str, *, ignore_case: bool = False) -> list[str]:
    """The rg invocation: ignore rules as the Python walk applies them (see _walk.py), NUL after
    the path so any file name parses, every file's name even when `target` is one file."""
    args = [
        rg,
        "--no-config",
        "--null",
        "--with-filename",
        "--line-number",
        "--no-heading",
        "--color",
        "never",
        "--no-require-git",
        "--no-ignore-dot",
        "--no-ignore-global",
        "--no-ignore-exclude",
        "--max-filesize",
        str(MAX_FILESIZE),
        "--regexp",
        pattern,
    ]
    if ignore_case:
        args.append("--ignore-case")
    return [*args, "--", target]


async def _search_rg(rg: str, scope: Scope, start: Path, pattern: str, ignore_case: bool) -> list[Match] | None:
    """Matches from ripgrep, or None when the Python search must answer: rg cannot parse the regex
    (Python's dialect is wider), cannot start, or is stuck (see RG_STALL_S)."""
    args = ripgrep_command(rg, pattern, scope.relative(start), ignore_case=ignore_case)
    try:
        proc = await asyncio.create_subprocess_exec(
            *args, cwd=scope.root, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError:
        return None  # rg cannot start (gone, not executable): the Python search answers
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), RG_STALL_S)
    except (asyncio.CancelledError, TimeoutError) as exc:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if isinstance(exc, TimeoutError):
            return None
        raise
    if proc.returncode == 2 and not stdout and b"regex" in stderr:
        return None
    out = []
    for row in stdout.split(b"\n"):
        if not row:
            continue
        path, _, rest = row.partition(b"\0")
        number, _, text = rest.partition(b":")
        rel = path.decode("utf-8", errors="replace")
        if rel.startswith("./"):
            rel = rel[2:]
        out.append(Match(rel, int(number), text.decode("utf-8", errors="replace").rstrip("\r")))
    return out


async def search(
    scope: Scope,
    pattern: str,
    *,
    path: str = ".",
    glob: str | None = None,
    ignore_case: bool = False,
    engine: Engine = "auto",
) -> list[Match]:
    """All matching lines under `path`, sorted by (path, line). Both engines give the same list."""
    start = scope.resolve(path)
    regex = _compile(pattern, ignore_case)  # validates early, for both engines
    file_filter = None
    if glob:
        file_filter = pathspec.GitIgnoreSpec.from_lines([Scope.check_glob(glob)])
    rg = ripgrep_path() if engine == "auto" else (shutil.which("rg") if engine == "rg" else None)
    if engine == "rg" and rg is None:
        raise ToolError("ripgrep (rg) is not on PATH")
    matches = await _search_rg(rg, scope, start, pattern, ignore_case) if rg else None
    if matches is None:
        matches = await asyncio.to_thread(_search_python, scope, start, regex)
    if file_filter is not None:
        base = scope.relative(start) if start.is_dir() else scope.relative(start.parent)
        matches = [m for m in matches if file_filter.match_file(_under(m.path, base))]
    matches.sort()
    return matches


def _under(path: str, base: str) -> str:
    if base == ".":
        return path
    return path[len(base) + 1 :] if path.startswith(base + "/") else path


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS] + " …[line truncated]"


def format_matches(matches: Sequence[Match], mode: str, max_results: int) -> str:
    hint = "narrow the pattern, path or glob"
    if mode == "files_with_matches":
        files = list(dict.fromkeys(m.path for m in matches))
        return truncate(files, max_results, "files", hint)
    if mode == "count":
        counts: dict[str, int] = {}
        for m in matches:
            counts[m.path] = counts.get(m.path, 0) + 1
        return truncate([f"{p}:{n}" for p, n in counts.items()], max_results, "files", hint)
    return truncate([f"{m.path}:{m.line}:{_shorten(m.text)}" for m in matches], max_results, "matching lines", hint)


async def _content_search(args: dict[str, Any], ctx: ToolContext) -> str:
    matches = await search(
        ctx.scope, args["pattern"], path=args["path"], glob=args.get("glob"), ignore_case=args["ignore_case"]
    )
    if not matches:
        where = f" in files matching {args['glob']!r}" if args.get("glob") else ""
        return f"No matches for /{args['pattern']}/ under {args['path']}{where}."
    return cap_chars(format_matches(matches, args["output_mode"], args["max_results"]))


content_search = Tool(
    name="content_search",
    description=(
        "Search file contents with a regular expression, line by line (like ripgrep), under a path "
        "of the scope. Honours .gitignore; skips hidden and binary files. output_mode 'content' gives "
        "path:line:text, 'files_with_matches' the file paths, 'count' path:matching_lines."
    ),
    parameters={
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "description": "Regular expression (Rust/Python syntax)."},
            "path": {
                "type": "string",
                "description": "File or directory to search, relative to the scope.",
                "default": ".",
            },
            "glob": {
                "type": "string",
                "description": "Only files matching this gitignore-style glob, for example '*.py' or 'src/**/*.ts'.",
            },
            "ignore_case": {"type": "boolean", "default": False},
            "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"], "default": "content"},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 200},
        },
        "required": ["pattern"],
    },
    fn=_content_search,
    permission="read",
)
