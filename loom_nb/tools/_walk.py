"""Walking a tree the way ripgrep does: hidden entries and symlinks skipped, .gitignore honoured.

Entries that cannot be read (vanished, no permission, names too long) are skipped, and so are
FIFOs, devices and sockets, as ripgrep skips them.

The rules match `rg --no-require-git --no-ignore-dot --no-ignore-global --no-ignore-exclude`:
every .gitignore from the filesystem root down to each directory applies, deeper files and later
lines win, and an ignored directory is not entered. A pattern must match an entry's whole path
(pathspec alone also matches everything below a matching directory): that keeps a search root
that sits inside an ignored directory searchable, as ripgrep does, while pruning gives git's
result for everything walked. That is what lets the pure-Python search return exactly ripgrep's
matches.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pathspec

from ._base import ToolError
from ._scope import open_regular

__all__ = ["is_ignored", "walk_files"]

_Patterns = tuple[tuple[bool, re.Pattern[str]], ...]  # (ignores?, regex), in file order
_Rules = tuple[tuple[str, _Patterns], ...]  # (directory, its .gitignore), outermost first


@functools.lru_cache(maxsize=4096)
def _gitignore(directory: str) -> _Patterns | None:
    try:
        fd = open_regular(os.path.join(directory, ".gitignore"))
    except ToolError:
        return None  # none, unreadable, or a FIFO/device that would block the walk: no rules
    with open(fd, encoding="utf-8", errors="replace") as f:
        try:
            lines = f.read().splitlines()
        except OSError:
            return None
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    patterns = tuple(
        (bool(p.include), p.regex)
        for p in spec.patterns
        if p.include is not None and getattr(p, "regex", None) is not None
    )
    return patterns or None


def _rules_above(directory: Path) -> _Rules:
    chain = []
    for d in reversed([directory, *directory.parents]):
        spec = _gitignore(str(d))
        if spec is not None:
            chain.append((str(d), spec))
    return tuple(chain)


def is_ignored(path: str, is_dir: bool, rules: _Rules) -> bool:
    for base, patterns in reversed(rules):
        prefix = base if base.endswith(os.sep) else base + os.sep
        if not path.startswith(prefix):
            continue
        rel = path[len(prefix) :]
        if os.sep != "/":
            rel = rel.replace(os.sep, "/")
        test = rel + "/" if is_dir else rel
        for ignores, regex in reversed(patterns):
            m = regex.match(test)
            if m is not None and m.end() == len(test):
                return ignores
    return False


def walk_files(start: Path, *, max_depth: int | None = None) -> Iterator[tuple[str, bool, int]]:
    """Yield (absolute path, is_dir, depth) under `start`, depth-first in name order, each
    directory just before its contents; `start` itself is not yielded (a file yields itself)."""
    if start.is_file():
        yield str(start), False, 0
        return
    _gitignore.cache_clear()  # the tree may have changed since the last walk
    stack: list[tuple[Iterator[os.DirEntry[str]], _Rules, int]] = []
    top = str(start)
    spec = _gitignore(top)
    rules = _rules_above(start.parent) + (((top, spec),) if spec is not None else ())
    stack.append((_entries(top), rules, 1))
    while stack:
        entries, rules, depth = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        try:
            if entry.name.startswith(".") or entry.is_symlink():
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if not is_dir and not entry.is_file(follow_symlinks=False):
                continue  # a FIFO, device or socket: as ripgrep does, never listed nor read
        except OSError:
            continue  # an entry that vanished or cannot be stat'ed is skipped, not fatal
        if rules and is_ignored(entry.path, is_dir, rules):
            continue
        yield entry.path, is_dir, depth
        if is_dir and (max_depth is None or depth < max_depth):
            spec = _gitignore(entry.path)
            stack.append((_entries(entry.path), (*rules, (entry.path, spec)) if spec is not None else rules, depth + 1))


def _entries(directory: str) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return iter(sorted(it, key=lambda e: e.name))
    except OSError:
        return iter(())
