"""The live view of a session: ipywidgets, updated at most 10 times a second, with a stop button.

It shows the header (status, tokens, cost, budget), the plan as a task board with its estimate, the
agents, the messages and test runs between them, the activity notes and the approval cards.
Updates come from a refresher task on the swarm thread that redraws only when the session changed
(the notebook server pauses output above 1000 messages a second; a flood of events here still means
at most 10 redraws a second, each one message per widget that changed). `poll()` is the coalescer;
its clock is a constructor argument, so a test drives it through simulated seconds. Nothing is
printed from that thread. While the run lasts, the display carries a static HTML/text summary beside
the widget; when it ends, the display is replaced by that summary, so nbconvert, nbval and terminals
(no widget front end) show the outcome, the board included, as well.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._safe import CONTAINER_CLASS, escape, pre, terminal
from ._board import HEAD, NUMBER, TABLE, Board, board_html, board_lines, feed_html

if TYPE_CHECKING:
    from ._runner import SwarmHandle

__all__ = ["LiveView"]

STATUS_COLORS = {
    "thinking": "#5b8def",
    "executing": "#ef8a17",
    "waiting": "#e0a800",
    "idle": "#9e9e9e",
    "done": "#2e7d32",
    "crashed": "#d32f2f",
    "restarting": "#9b6ef3",
    "cancelled": "#795548",
}
MAX_RATE_HZ = 10.0
TICK_S = 1.0
"""Redraw at least this often while the run lasts, so the elapsed time moves when no event comes."""


def _money(x: float) -> str:
    return f"${x:.4f}"


class LiveView:
    """Shows one SwarmHandle; `display(view)` in a cell (the magic does it)."""

    def __init__(self, handle: SwarmHandle, *, clock: Callable[[], float] = time.monotonic) -> None:
        import ipywidgets as w

        self.handle = handle
        self.clock = clock
        """Seconds, monotonic: when the coalescer last drew and whether a redraw is due (tests inject one)."""
        self.redraws = 0
        """How many times the widgets were redrawn (the benchmark reads it)."""
        self._seen = -1
        self._drawn = -math.inf
        self._lock = threading.RLock()
        """One drawing at a time: the refresher (swarm thread) and a cell (main thread) both end it."""
        self.budget = w.FloatProgress(min=0.0, max=1.0, value=0.0, description="budget", layout=w.Layout(width="260px"))
        self.budget.layout.visibility = "visible" if handle.swarm.budget is not None else "hidden"
        self.stop_button = w.Button(
            description="Stop",
            button_style="danger",
            icon="stop",
            tooltip="stop this session",
            layout=w.Layout(width="90px"),
        )
        self.stop_button.on_click(self._on_stop)
        _let_clicks_through(self.stop_button)
        self.body = w.HTML()
        """The header, the task board, the agents table, the messages, the activity feed and, at the
        end, the answer: one widget, so one redraw sends one message for all of them."""
        from ._cards import ApprovalCards

        self.cards = ApprovalCards(handle)
        """A card with buttons for each request waiting for a human."""
        self.widget = w.VBox([w.HBox([self.stop_button, self.budget]), self.cards.widget, self.body])
        self._display: Any = None
        self.redraw()

    def _on_stop(self, _: Any = None) -> None:
        """Runs on a subshell thread while the cell is busy: stop, and show at once that it was heard."""
        self.stop_button.description = "Stopping…"
        self.stop_button.disabled = True
        self.handle.stop("stop button")

    # drawing -------------------------------------------------------------------------------

    def poll(self, period: float = 1.0 / MAX_RATE_HZ, tick: float = TICK_S) -> bool:
        """The coalescer: redraw when the session changed and the last redraw is `period` old, or
        when `tick` passed (the elapsed time must move, or a quiet run looks hung). Returns whether it
        drew. However many events came meanwhile, that is at most 1/period redraws a second."""
        since = self.clock() - self._drawn
        if since >= tick or (since >= period and self.handle.tracker.version != self._seen):
            self.redraw()
            return True
        return False

    def redraw(self) -> None:
        with self._lock:
            self._redraw()

    def _redraw(self) -> None:
        self._seen = self.handle.tracker.version  # read first: an event during the drawing draws again
        self._drawn = self.clock()
        if self.handle.swarm.budget is not None:  # USD or tokens, whichever cap is closer
            share = round(min(self.handle.swarm.budget.share, 1.0), 2)  # a 1 % step is 2.6 px of the bar
            with self.budget.hold_sync():  # value and colour in one message
                self.budget.value = share
                self.budget.bar_style = "danger" if share >= 1.0 else ("warning" if share >= 0.8 else "success")
        answer = ""
        if self.handle.done and self.handle.text:
            answer = pre(self.handle.text, self.handle.links())
        self.cards.sync()
        board = self.handle.tracker.board()
        body = self._header_html() + self._board_html(board) + self._table_html() + feed_html(board)
        body += self._feed_html() + answer
        self.body.value = f'<div class="{CONTAINER_CLASS}">{body}</div>'  # ipywidgets typesets math
        done = self.handle.done or self.handle.tracker.ended is not None
        if done:
            self.stop_button.disabled = True
        self.redraws += 1

    def _header_html(self) -> str:
        h = self.handle
        t = h.tracker.totals()
        unpriced = f" + {t['unpriced_calls']} unpriced" if t["unpriced_calls"] else ""
        budget = f" of {_money(h.swarm.budget_usd)}" if h.swarm.budget_usd else ""
        warning = h.swarm.budget_warning
        warned = (
            f' · <span class="loom-budget-warning" style="color:#b26a00">⚠ {escape(warning.message)}</span>'
            if warning is not None
            else ""
        )
        pending = len(h.swarm.gate.queue.pending())
        if pending:
            waiting = f"{pending} waiting for your approval"
            warned += f" · <b style='color:#b26a00'>{waiting}</b> (the cards above, or %loom approvals)"
        from ..tools import sandbox_status

        if h.swarm.may_run_commands and not sandbox_status().available:  # say so where commands are watched
            warned += (
                " · <span title='"
                + escape(sandbox_status().detail)
                + "'>no OS sandbox: the policy is the only guard</span>"
            )
        reason = h.stop_reason
        why = f": {escape(reason)}" if reason and self._status() != "done" else ""
        return (
            f"<b>loom session {escape(h.session_id)}</b> · {escape(self._status())}{why} · "
            f"{t['elapsed_s']:.1f} s · {t['input_tokens']:,} in / {t['output_tokens']:,} out tokens · "
            f"{_money(t['cost_usd'])}{unpriced}{budget}{warned}"
        )

    def _status(self) -> str:
        if self.handle.done:
            return self.handle.status
        if self.handle.tracker.ended:
            return self.handle.tracker.ended
        return "stopping" if self.handle.stop_reason else "running"

    def _table_html(self) -> str:
        rows = []
        for r in self.handle.tracker.rows():
            color = STATUS_COLORS.get(r.status, "#9e9e9e")
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{c}</td>"
                    for c in (
                        escape(r.name),
                        escape(r.role),
                        escape(r.model),
                        f'<span style="color:{color}">●</span> {escape(r.status)}',
                        escape(r.tool),
                    )
                )
                + "".join(
                    f'<td style="{NUMBER}">{c}</td>'
                    for c in (
                        r.iterations,
                        f"{r.input_tokens:,}",
                        f"{r.output_tokens:,}",
                        _money(r.cost_usd) + (" +?" if r.unpriced_calls else ""),
                    )
                )
                + "</tr>"
            )
        head = "".join(f'<th style="{HEAD}">{c}</th>' for c in ("agent", "role", "model", "status", "tool")) + "".join(
            f'<th style="{NUMBER}">{c}</th>' for c in ("iter", "in", "out", "cost")
        )
        return (
            f'<table class="loom-agents" style="{TABLE};margin-top:6px">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def _board_html(self, board: Board) -> str:
        t = self.handle.tracker.totals()
        return board_html(board, **self._money(t))

    def _money(self, totals: dict[str, Any]) -> dict[str, Any]:
        """What the board's estimate line compares: spent so far, unknown prices, the session's budget."""
        return {
            "spent_usd": totals["cost_usd"],
            "unpriced": bool(totals["unpriced_calls"]),
            "budget_usd": self.handle.swarm.budget_usd,
        }

    def _feed_html(self) -> str:
        lines = self.handle.tracker.feed()
        if not lines:
            return ""
        return (
            '<div style="font:11px monospace;color:#555;margin-top:6px">'
            + "<br>".join(escape(x) for x in lines)
            + "</div>"
        )

    # display -------------------------------------------------------------------------------

    def summary_html(self) -> str:
        """The same information without widgets (for nbconvert, nbval, terminals)."""
        answer = self.handle.text if self.handle.done else ""
        board = self.handle.tracker.board()
        return (
            f'<div class="loom-summary {CONTAINER_CLASS}">{self._header_html()}<br>{self._board_html(board)}'
            + self._table_html()
            + feed_html(board)
            + (pre(answer, self.handle.links(), style="") if answer else "")
            + "</div>"
        )

    def summary_text(self) -> str:
        t = self.handle.tracker.totals()
        lines = [
            f"loom session {self.handle.session_id}: {self._status()}, {t['agents']} agents, "
            f"{t['input_tokens']:,} in / {t['output_tokens']:,} out tokens, {_money(t['cost_usd'])}"
        ]
        lines += [
            f"  {r.name:<14} {r.role:<11} {r.status:<10} iter {r.iterations:<3} {_money(r.cost_usd)}"
            for r in self.handle.tracker.rows()
        ]
        lines += board_lines(self.handle.tracker.board(), **self._money(t))
        if self.handle.done and self.handle.text:
            lines += ["", self.handle.text]
        return terminal("\n".join(lines))  # text/plain reaches terminals (jupyter console): no escapes obeyed

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = self.summary_text()
        bundle["text/html"] = self.summary_html()
        return bundle

    def show(self) -> None:
        from IPython.display import display

        self._display = display(self, display_id=True)

    def finish(self) -> None:
        """Last redraw; then the display becomes the static summary (a finished session needs no Stop
        button, and every front end, with widgets or without, can show static HTML)."""
        with self._lock:  # the refresher's end and the cell's: the later one draws the later state
            self.redraw()
            if self._display is not None:
                self._display.update(_Static(self.summary_html(), self.summary_text()))

    async def refresh(self, period: float = 1.0 / MAX_RATE_HZ, tick: float = TICK_S) -> None:
        """Run on the swarm thread until the session ends: redraw when something changed, and at
        least every `tick` seconds (the elapsed time must move, or a quiet run looks hung)."""
        try:
            while not self.handle.done:
                self.poll(period, tick)
                await asyncio.sleep(period)  # look again a period later: what came meanwhile is one redraw
        finally:
            self.finish()


class _Static:
    def __init__(self, html_text: str, text: str) -> None:
        self.html_text = html_text
        self.text = text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/html": self.html_text, "text/plain": self.text}


def _let_clicks_through(widget: Any) -> None:
    """Let a click reach the kernel while the cell that drew the button is still busy.

    JupyterLab >= 4.4 sends comm messages on a subshell, but ipykernel 7.4 sends a comm's incoming
    messages back to the shell that last published on it (`BaseComm._reply_subshell_for`): for a
    button made by a foreground cell that is the busy main shell, so the click waited for the run to
    end. Forgetting that route lets the click run on the subshell it came on (measured: 0.05 s while
    the main thread sleeps; tests/notebook/test_jupyterlab.py checks it in JupyterLab). Other kernels
    have no such route and need nothing.
    """
    comm = getattr(widget, "comm", None)
    lock = getattr(comm, "_reply_subshell_lock", None)
    if comm is None or lock is None:
        return
    with lock:
        vars(comm).pop("_reply_subshell_id", None)


def start_live_view(handle: SwarmHandle) -> LiveView:
    """Show the view in the current cell and keep it fresh from the swarm thread."""
    view = LiveView(handle)
    view.show()
    handle.view = view
    handle.runner.watch(view.refresh())
    return view
