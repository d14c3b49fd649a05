"""What the offline specialists share: the conversation read back (their only state), the call and
result of each step, and how they read the tools' answers."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ._intents import task_part
from ._messages import Message, TextPart, ToolCallPart, ToolResultPart
from ._offline_code import read_lines

__all__ = [
    "MAX_READ",
    "TEST_NAME",
    "Calls",
    "Conversation",
    "Done",
    "call",
    "cid",
    "content_rows",
    "file_rows",
    "read_whole",
    "word_pattern",
]

MAX_READ = 2000
"""Lines per file_read (the tool's maximum)."""
TEST_NAME = re.compile(r"(?:^|/)(test_[^/]*\.py|[^/]*_test\.py)$")
Calls = tuple[ToolCallPart, ...]


@dataclass(slots=True)
class Conversation:
    """What the conversation so far says: the task, the calls made and their results, the letters."""

    task: str
    calls: dict[str, ToolCallPart] = field(default_factory=dict)
    results: dict[str, ToolResultPart] = field(default_factory=dict)
    letters: list[str] = field(default_factory=list)
    """Texts of the user messages after the task (letters rendered between turns)."""

    @classmethod
    def read(cls, messages: Sequence[Message]) -> Conversation:
        first = next((m.text for m in messages if m.role == "user" and m.text), "")
        conv = cls(task=task_part(first))
        seen_task = False
        for m in messages:
            if m.role == "assistant":
                conv.calls.update((c.id, c) for c in m.tool_calls)
                continue
            conv.results.update((r.tool_call_id, r) for r in m.tool_results)
            texts = [p.text for p in m.parts if isinstance(p, TextPart) and p.text]
            if texts and not seen_task:
                seen_task = True
                continue
            conv.letters += texts
        return conv

    def ok(self, call_id: str) -> str | None:
        r = self.results.get(call_id)
        return None if r is None or r.is_error else r.content

    def error(self, call_id: str) -> str | None:
        r = self.results.get(call_id)
        return r.content if r is not None and r.is_error else None

    def done(self, call_id: str) -> bool:
        return call_id in self.results


@dataclass(frozen=True, slots=True)
class Done:
    """A role's work is finished: what its completion says."""

    summary: str
    files_changed: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    test_results: str = ""
    open_questions: tuple[str, ...] = ()


def call(call_id: str, name: str, **arguments: Any) -> ToolCallPart:
    return ToolCallPart(id=f"offline_{call_id}", name=name, arguments=arguments)


def cid(call_id: str) -> str:
    return f"offline_{call_id}"


def word_pattern(symbol: str) -> str:
    return rf"\b{re.escape(symbol)}\b"


_CONTENT_ROW = re.compile(r"^(.+?):(\d+):(.*)$")


def content_rows(result: str | None) -> list[tuple[str, int, str]]:
    rows = []
    for row in (result or "").splitlines():
        m = _CONTENT_ROW.match(row)
        if m:
            rows.append((m.group(1), int(m.group(2)), m.group(3)))
    return rows


def file_rows(result: str | None) -> list[str]:
    rows = (r.strip() for r in (result or "").splitlines())
    return [r for r in rows if r and not r.startswith(("[truncated", "No matches for /", "No files match "))]


def read_whole(conv: Conversation, prefix: str, paths: Sequence[str]) -> Calls | dict[str, dict[int, str]]:
    """Read each file whole (several file_read calls for a long one); the lines once all are read."""
    calls, out = [], {}
    for i, path in enumerate(paths):
        lines: dict[int, str] = {}
        offset = 1
        while True:
            key = f"{prefix}read_{i}_{offset}"
            if not conv.done(cid(key)):
                calls.append(call(key, "file_read", path=path, offset=offset, limit=MAX_READ))
                break
            got, total = read_lines(conv.ok(cid(key)) or "")
            lines.update(got)
            if not got or max(got) >= total:
                out[path] = lines
                break
            offset = max(got) + 1
    return tuple(calls) if calls else out
