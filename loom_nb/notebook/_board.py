"""The plan as a task board and the agents' messages as a feed: folded from events, drawn as HTML and text.

`BoardFold` runs on the swarm thread inside the SessionTracker (under its lock): it keeps the plan's
tasks with their status, agent, cost and result, and the newest messages and test runs. `Board` is
the frozen snapshot a reader gets; `board_html`, `feed_html` and `board_lines` draw it. Task titles,
summaries, file names, message texts and failing test ids were written by models, tools or the
project's files: every one goes through `_safe.escape`, shortened on screen with the full text in
the element's title.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Literal

from .._safe import escape
from ..events import LLMCall, MessageSent, PlanMade, TaskStatus, TestRun

__all__ = ["Board", "BoardFold", "FeedItem", "TaskRow", "TestOutcome", "board_html", "board_lines", "feed_html"]

TASK_COLORS = {
    "pending": "#9e9e9e",
    "running": "#5b8def",
    "done": "#2e7d32",
    "failed": "#d32f2f",
    "cancelled": "#795548",
    "skipped": "#bdbdbd",
}
FEED_LENGTH = 12
"""Messages and test runs the feed shows (the newest); older ones are counted in an "N earlier" note."""
MAX_ROWS = 60
"""Task rows drawn at most: a 1,000-task plan would make every redraw a large message. Running and
failed tasks are always drawn; the rest fill up in plan order and the others are counted."""
SHORT = 100
"""Characters of a message, summary or title shown on the line; the full text is in its title."""
TITLE_CHARS = 4000
TABLE = "border-collapse:separate;border-spacing:12px 1px;margin-left:-12px;font-size:12px;white-space:nowrap"
"""The board's and the agents table's style: the spacing between cells set once on the table, not on each
cell (with 100 agents, per-cell padding made the redraw 3 times larger)."""
HEAD = "text-align:left"
NUMBER = "text-align:right"
WRAP = "white-space:normal;min-width:12em"


@dataclass(frozen=True, kw_only=True)
class TestOutcome:
    """One run of the project's tests, as the board and the feed show it."""

    __test__ = False  # not a pytest test class
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failing: tuple[str, ...] = ()
    exit_code: int | None = None
    round: int = 1
    summary: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors and self.exit_code == 0  # None: killed at its timeout

    def line(self) -> str:
        """ "round 2: 3 passed, 1 failed" (the event's own summary when it has one)."""
        counts = self.summary or ", ".join(
            f"{n} {word}"
            for n, word in (
                (self.passed, "passed"),
                (self.failed, "failed"),
                (self.errors, "errors"),
                (self.skipped, "skipped"),
            )
            if n or word == "passed"
        )
        return (f"round {self.round}: " if self.round > 1 else "") + counts


@dataclass(kw_only=True)
class TaskRow:
    """One task of the plan as the board shows it (a snapshot's copy: changing it changes nothing)."""

    id: str
    title: str = ""
    role: str = ""
    status: str = "pending"
    agent: str = ""
    deps: tuple[tuple[str, str], ...] = ()
    """(task id, kind): blocks, informs, requires_output."""
    reported_cost_usd: float = 0.0
    """The highest cost its TaskStatus events reported."""
    live_cost_usd: float = 0.0
    """What its agents' model calls cost, added up as they arrive."""
    unpriced: bool = False
    """A call of its agents (or its reported cost) had no known price: the cost is a lower bound."""
    summary: str = ""
    files: tuple[str, ...] = ()
    tests: str = ""
    """The test line its completion reported."""
    test: TestOutcome | None = None
    """The newest test run of this task (the tester's)."""
    error: str = ""

    @property
    def cost_usd(self) -> float:
        """Both sums are lower bounds of what the priced calls cost: the larger (see `unpriced`)."""
        return max(self.reported_cost_usd, self.live_cost_usd)

    def after(self) -> str:
        """ "after t1, t2 (output) · informed by t3"."""
        waits = [f"{d} (output)" if k == "requires_output" else d for d, k in self.deps if k != "informs"]
        informs = [d for d, k in self.deps if k == "informs"]
        parts = ([f"after {', '.join(waits)}"] if waits else []) + (
            [f"informed by {', '.join(informs)}"] if informs else []
        )
        return " · ".join(parts)


@dataclass(frozen=True, kw_only=True)
class FeedItem:
    """A message between agents, or a test run, in the feed."""

    ts: float
    kind: Literal["message", "test"]
    sender: str
    to: str = ""
    message_kind: str = "message"
    urgent: bool = False
    text: str = ""
    task: str = ""
    test: TestOutcome | None = None


@dataclass(frozen=True, kw_only=True)
class Board:
    """A snapshot of the plan and the feed (readers get this; the fold keeps changing)."""

    revision: int = -1
    """-1 while no plan was made."""
    reason: str = ""
    """Why the plan was last revised."""
    estimate_usd: float | None = None
    estimate_tokens: int = 0
    estimate_basis: str = ""
    tasks: tuple[TaskRow, ...] = ()
    feed: tuple[FeedItem, ...] = ()
    earlier: int = 0
    """Feed items older than the shown ones."""
    dropped: int = 0
    """Pending tasks that plan revisions removed."""

    @property
    def planned(self) -> bool:
        return self.revision >= 0


class BoardFold:
    """Folds plan, task, message and test events (and model calls, for task costs) into a board."""

    def __init__(self, feed_length: int = FEED_LENGTH) -> None:
        self._plan: PlanMade | None = None
        self._tasks: dict[str, TaskRow] = {}
        self._agent_task: dict[str, str] = {}
        self._feed: deque[FeedItem] = deque(maxlen=feed_length)
        self._fed = 0
        self._dropped = 0

    def spawned(self, agent: str, task: str) -> None:
        """An agent started on `task` (AgentSpawned.task): its model calls count for the task."""
        if task:
            self._agent_task[agent] = task

    def apply(self, e: Any) -> str | None:
        """Fold one event; returns a line for the activity feed, if it deserves one."""
        if isinstance(e, LLMCall):  # thousands a second: the row changes in place
            task = self._agent_task.get(e.agent)
            row = self._tasks.get(task) if task else None
            if row is not None:
                row.live_cost_usd += e.cost_usd or 0.0
                row.unpriced = row.unpriced or (e.cost_usd is None and e.error is None)
            return None
        if isinstance(e, PlanMade):
            return self._plan_made(e)
        if isinstance(e, TaskStatus):
            return self._task_status(e)
        if isinstance(e, MessageSent):
            self._push(
                FeedItem(
                    ts=e.ts,
                    kind="message",
                    sender=e.agent,
                    to=e.to,
                    message_kind=e.message_kind,
                    urgent=e.urgent,
                    text=e.text,
                    task=e.task,
                )
            )
            return None
        if isinstance(e, TestRun):
            outcome = TestOutcome(
                passed=e.passed,
                failed=e.failed,
                errors=e.errors,
                skipped=e.skipped,
                failing=e.failing,
                exit_code=e.exit_code,
                round=e.round,
                summary=e.summary,
            )
            task = e.task or self._agent_task.get(e.agent, "")
            row = self._tasks.get(task)
            if row is not None:
                row.test = outcome
            self._push(FeedItem(ts=e.ts, kind="test", sender=e.agent, task=task, text=e.command, test=outcome))
        return None

    def _plan_made(self, e: PlanMade) -> str:
        old = self._tasks
        new: dict[str, TaskRow] = {}
        listed = {t.id for t in e.tasks}
        for row in old.values():  # what already ran stays on the board; a revision replaces what waits
            if row.id not in listed and row.status != "pending":
                new[row.id] = row
        self._dropped += sum(1 for r in old.values() if r.id not in listed and r.status == "pending")
        for t in e.tasks:
            base = old.get(t.id) or TaskRow(id=t.id)
            new[t.id] = replace(base, title=t.title or t.prompt, role=t.role, deps=tuple(t.deps))
        self._tasks = new
        self._plan = e
        if e.revision > 0:
            return f"plan revised (revision {e.revision}): {e.reason or 'no reason given'}"
        cost = f", estimated {_money(e.estimate_usd)}" if e.estimate_usd is not None else ""
        return f"plan made: {_count(len(e.tasks), 'task')}{cost}"

    def _task_status(self, e: TaskStatus) -> str | None:
        row = self._tasks.get(e.task) or TaskRow(id=e.task, role=e.role)  # a task outside the plan is shown too
        if e.agent and (e.status == "running" or e.agent not in self._agent_task):
            self._agent_task[e.agent] = e.task  # an agent given a new task: its calls count there
        self._tasks[e.task] = replace(
            row,
            status=e.status,
            agent=e.agent or row.agent,
            reported_cost_usd=max(e.cost_usd or 0.0, row.reported_cost_usd),
            unpriced=row.unpriced or e.cost_usd is None,
            summary=e.summary or row.summary,
            files=e.files_changed or row.files,
            tests=e.tests or row.tests,
            error=e.error or "",
        )
        if e.status == "failed":
            return f"task {e.task} failed" + (f": {(e.error or e.summary)[:80]}" if e.error or e.summary else "")
        return None

    def _push(self, item: FeedItem) -> None:
        self._feed.append(item)
        self._fed += 1

    def snapshot(self) -> Board:
        p = self._plan
        return Board(
            revision=p.revision if p is not None else -1,
            reason=p.reason if p is not None else "",
            estimate_usd=p.estimate_usd if p is not None else None,
            estimate_tokens=p.estimate_tokens if p is not None else 0,
            estimate_basis=p.estimate_basis if p is not None else "",
            tasks=tuple(copy.copy(t) for t in self._tasks.values()),
            feed=tuple(self._feed),
            earlier=self._fed - len(self._feed),
            dropped=self._dropped,
        )


# drawing ------------------------------------------------------------------------------------


ALL_TASKS = "handle.tracker.board() has them all"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _money(x: float) -> str:
    return f"${x:.4f}"


def _cut(text: str, n: int = SHORT) -> str:
    """One line of at most `n` characters ("…" says it was cut)."""
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"


def _short(text: str, n: int = SHORT) -> str:
    """Escaped text on one line, cut at `n` characters; the whole (up to TITLE_CHARS) in the title."""
    cut = _cut(text, n)
    if cut == text:
        return escape(cut)
    return f'<span title="{escape(text[:TITLE_CHARS])}">{escape(cut)}</span>'


def _list(items: tuple[str, ...], n: int = 3) -> str:
    shown = ", ".join(items[:n]) + (f", +{len(items) - n}" if len(items) > n else "")
    return f'<span title="{escape(chr(10).join(items)[:TITLE_CHARS])}">{escape(shown)}</span>'


def _test_html(t: TestOutcome) -> str:
    color = "#2e7d32" if t.ok else "#c62828"
    mark = "✓" if t.ok else "✗"
    failing = f" — {_list(t.failing)}" if t.failing else ""
    return f'<span style="color:{color}">{mark} tests {escape(t.line())}</span>{failing}'


def estimate_text(b: Board, *, spent_usd: float = 0.0, unpriced: bool = False, budget_usd: float | None = None) -> str:
    """ "estimated $0.0400, 12,000 tokens (priors from 12 tasks of 3 earlier runs) · spent $0.0123"; an
    estimate above the session's budget says so (the run would stop before the plan is done)."""
    if b.estimate_usd is None:
        est = "estimated cost unknown (a model's price is unknown)"
        if b.estimate_tokens:
            est = f"estimated {b.estimate_tokens:,} tokens, cost unknown (a model's price is unknown)"
    else:
        est = f"estimated {_money(b.estimate_usd)}" + (f", {b.estimate_tokens:,} tokens" if b.estimate_tokens else "")
    if b.estimate_basis:  # "12 tasks of 3 earlier runs", or a phrase of its own ("default priors (...)")
        basis = b.estimate_basis
        est += f" ({basis})" if "prior" in basis.lower() else f" (priors from {basis})"
    if _over_budget(b, budget_usd):
        est += f", more than the budget of {_money(budget_usd or 0.0)}"
    return f"{est} · spent {_money(spent_usd)}" + (" + unpriced calls" if unpriced else "")


def _over_budget(b: Board, budget_usd: float | None) -> bool:
    return b.estimate_usd is not None and budget_usd is not None and b.estimate_usd > budget_usd


def _task_cost(t: TaskRow) -> str:
    if t.status == "pending" and not t.cost_usd and not t.unpriced:
        return ""
    return _money(t.cost_usd) + (" +?" if t.unpriced else "")


def _rows_shown(tasks: tuple[TaskRow, ...], limit: int) -> list[TaskRow]:
    if len(tasks) <= limit:
        return list(tasks)
    keep = {t.id for t in tasks if t.status in ("running", "failed")}
    for t in tasks:
        if len(keep) >= limit:
            break
        keep.add(t.id)
    return [t for t in tasks if t.id in keep]


def board_html(
    b: Board,
    *,
    spent_usd: float = 0.0,
    unpriced: bool = False,
    budget_usd: float | None = None,
    limit: int = MAX_ROWS,
) -> str:
    """The plan's tasks as a table, with the estimate and the running cost above it ("" before a plan)."""
    if not b.planned and not b.tasks:
        return ""
    head = f"<b>plan</b> · {_count(len(b.tasks), 'task')}"
    counts = {s: sum(1 for t in b.tasks if t.status == s) for s in TASK_COLORS}
    head += "".join(f" · {n} {s}" for s, n in counts.items() if n and s != "pending")
    if b.revision > 0:
        reason = _short(b.reason or "no reason given")
        head += (
            f' · <span class="loom-plan-revised" style="color:#b26a00">plan revised: {reason}</span>'
            f" (revision {b.revision}" + (f", {_count(b.dropped, 'pending task')} dropped" if b.dropped else "") + ")"
        )
    estimate = ""
    if b.planned:
        text = estimate_text(b, spent_usd=spent_usd, unpriced=unpriced, budget_usd=budget_usd)
        over = ' style="color:#b26a00"' if _over_budget(b, budget_usd) else ""
        estimate = f'<div class="loom-estimate"{over}>{escape(text)}</div>'
    rows = []
    shown = _rows_shown(b.tasks, limit)
    for t in shown:
        color = TASK_COLORS.get(t.status, "#9e9e9e")
        result = []
        if t.status in ("done", "failed", "cancelled", "skipped") and (t.summary or t.error):
            text = t.error if t.status == "failed" and t.error else t.summary
            style = ' style="color:#c62828"' if t.status == "failed" else ""
            result.append(f"<span{style}>{_short(text)}</span>")
        if t.files:
            result.append(f"{_count(len(t.files), 'file')}: {_list(t.files)}")
        if t.test is not None:
            result.append(_test_html(t.test))
        elif t.tests:
            result.append(f"tests {_short(t.tests)}")
        cells = (
            escape(t.id),
            _short(t.title, 80),
            escape(t.role),
            f'<span style="color:{color}">●</span> {escape(t.status)}',
            escape(t.agent),
            escape(t.after()),
        )
        tds = "".join(f'<td style="{WRAP}">{c}</td>' if i == 1 else f"<td>{c}</td>" for i, c in enumerate(cells))
        rows.append(
            f'<tr class="loom-task">{tds}<td style="{NUMBER}">{_task_cost(t)}</td>'
            f'<td style="{WRAP}">{"<br>".join(result)}</td></tr>'
        )
    more = len(b.tasks) - len(shown)
    note = f'<div style="color:#777">{_count(more, "more task")} not shown ({ALL_TASKS})</div>' if more else ""
    names = ("task", "title", "role", "status", "agent", "depends on")
    th = "".join(f'<th style="{HEAD}">{c}</th>' for c in names)
    th += f'<th style="{NUMBER}">cost</th><th style="{HEAD}">result</th>'
    return (
        f'<div class="loom-board" style="margin-top:6px">{head}{estimate}'
        f'<table class="loom-tasks" style="{TABLE}">'
        f'<thead><tr>{th}</tr></thead><tbody style="vertical-align:top">{"".join(rows)}</tbody></table>{note}</div>'
    )


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def feed_html(b: Board) -> str:
    """Messages and test runs, newest last, with a note of how many earlier ones are not shown."""
    if not b.feed:
        return ""
    lines = []
    if b.earlier:
        lines.append(f'<span style="color:#999">{b.earlier} earlier not shown</span>')
    for m in b.feed:
        who = escape(m.sender or "loom")
        if m.kind == "test" and m.test is not None:
            task = f" ({escape(m.task)})" if m.task else ""
            lines.append(f"{_clock(m.ts)} {who}{task} {_test_html(m.test)}")
            continue
        to = "everyone" if m.to == "*" else m.to
        kind = f" [{escape(m.message_kind)}]" if m.message_kind != "message" else ""
        urgent = ' <b style="color:#c62828">⚑ urgent</b>' if m.urgent else ""
        lines.append(f"{_clock(m.ts)} {who} → {escape(to)}{kind}{urgent}: {_short(m.text)}")
    return (
        '<div class="loom-messages" style="font:11px monospace;color:#333;margin-top:6px">'
        "<b>messages</b><br>" + "<br>".join(lines) + "</div>"
    )


def board_lines(
    b: Board, *, spent_usd: float = 0.0, unpriced: bool = False, budget_usd: float | None = None
) -> list[str]:
    """The board and the feed as plain lines (the text summary; terminal() makes them safe)."""
    if not b.planned and not b.tasks and not b.feed:
        return []
    lines: list[str] = []
    if b.planned or b.tasks:
        money = estimate_text(b, spent_usd=spent_usd, unpriced=unpriced, budget_usd=budget_usd)
        lines.append(f"plan: {_count(len(b.tasks), 'task')} · {money}")
        if b.revision > 0:
            lines.append(f"  plan revised: {b.reason or 'no reason given'} (revision {b.revision})")
        shown = _rows_shown(b.tasks, MAX_ROWS)
        for t in shown:
            after = f" ({t.after()})" if t.deps else ""
            result = t.error if t.status == "failed" and t.error else t.summary
            test = f" · tests {_cut(t.tests)}" if t.tests else ""
            if t.test is not None:
                test = f" · tests {t.test.line()}" + (f" ({_cut(', '.join(t.test.failing))})" if t.test.failing else "")
            lines.append(
                f"  {t.id:<6} {t.status:<9} {t.role:<11} {t.agent:<14} {_task_cost(t):>8}  "
                f"{_cut(t.title)}{after}" + (f" — {_cut(result)}" if result else "") + test
            )
        if len(shown) < len(b.tasks):
            lines.append(f"  {_count(len(b.tasks) - len(shown), 'more task')} not shown ({ALL_TASKS})")
    if b.feed:
        lines.append("messages" + (f" ({b.earlier} earlier not shown)" if b.earlier else "") + ":")
        for m in b.feed:
            if m.kind == "test" and m.test is not None:
                failing = f" ({_cut(', '.join(m.test.failing))})" if m.test.failing else ""
                lines.append(f"  {_clock(m.ts)} {m.sender} tests {m.test.line()}{failing}")
            else:
                to = "everyone" if m.to == "*" else m.to
                kind = f" [{m.message_kind}]" if m.message_kind != "message" else ""
                urgent = " URGENT" if m.urgent else ""
                text = _cut(m.text)
                lines.append(f"  {_clock(m.ts)} {m.sender} -> {to}{kind}{urgent}: {text}")
    return lines
