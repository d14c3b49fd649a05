"""The live view of a session: ipywidgets, updated at most 10 times a second, with a stop button.

Updates come from a refresher task on the swarm thread that redraws only when the session changed
(the notebook server pauses output above 1000 messages a second; a flood of events here still means
at most 10 redraws a second). Nothing is printed from that thread. While the run lasts, the display
carries a static HTML/text summary beside the widget; when it ends, the display is replaced by that
summary, so nbconvert, nbval and terminals (no widget front end) show the outcome as well.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .._safe import CONTAINER_CLASS, escape, pre, terminal

if TYPE_CHECKING:
    from ._runner import SwarmHandle

__all__ = ["LiveView"]

STATUS_COLORS = {
    "thinking": "#5b8def",
    "executing": "#ef8a17",
    "idle": "#9e9e9e",
    "done": "#2e7d32",
    "crashed": "#d32f2f",
    "restarting": "#9b6ef3",
}
MAX_RATE_HZ = 10.0


def _money(x: float) -> str:
    return f"${x:.4f}"


class LiveView:
    """Shows one SwarmHandle; `display(view)` in a cell (the magic does it)."""

    def __init__(self, handle: SwarmHandle) -> None:
        import ipywidgets as w

        self.handle = handle
        self.redraws = 0
        """How many times the widgets were redrawn (the benchmark reads it)."""
        self.budget = w.FloatProgress(min=0.0, max=1.0, value=0.0, description="budget", layout=w.Layout(width="260px"))
        self.budget.layout.visibility = "visible" if handle.swarm.budget is not None else "hidden"
        self.stop_button = w.Button(
            description="Stop",
            button_style="danger",
            icon="stop",
            tooltip="stop this session",
            layout=w.Layout(width="90px"),
        )
        self.stop_button.on_click(lambda _: handle.stop("stop button"))
        self.body = w.HTML()
        """The header, the agents table, the activity feed and, at the end, the answer: one widget, so
        one redraw sends one message."""
        self.widget = w.VBox([w.HBox([self.stop_button, self.budget]), self.body])
        self._display: Any = None
        self.redraw()

    # drawing -------------------------------------------------------------------------------

    def redraw(self) -> None:
        if self.handle.swarm.budget is not None:  # USD or tokens, whichever cap is closer
            share = min(self.handle.swarm.budget.share, 1.0)
            self.budget.value = share
            self.budget.bar_style = "danger" if share >= 1.0 else ("warning" if share >= 0.8 else "success")
        answer = ""
        if self.handle.done and self.handle.text:
            answer = pre(self.handle.text, self.handle.links())
        body = self._header_html() + self._table_html() + self._feed_html() + answer
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
        return (
            f"<b>loom session {escape(h.session_id)}</b> · {escape(self._status())} · "
            f"{t['elapsed_s']:.1f} s · {t['input_tokens']:,} in / {t['output_tokens']:,} out tokens · "
            f"{_money(t['cost_usd'])}{unpriced}{budget}{warned}"
        )

    def _status(self) -> str:
        if self.handle.done:
            return self.handle.status
        return self.handle.tracker.ended or "running"

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
                        r.iterations,
                        f"{r.input_tokens:,}",
                        f"{r.output_tokens:,}",
                        _money(r.cost_usd) + (" +?" if r.unpriced_calls else ""),
                    )
                )
                + "</tr>"
            )
        head = "".join(
            f"<th>{c}</th>" for c in ("agent", "role", "model", "status", "tool", "iter", "in", "out", "cost")
        )
        return (
            f'<table class="loom-agents" style="border-collapse:collapse;font-size:12px">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )

    def _feed_html(self) -> str:
        lines = self.handle.tracker.feed()
        if not lines:
            return ""
        return '<div style="font:11px monospace;color:#555">' + "<br>".join(escape(x) for x in lines) + "</div>"

    # display -------------------------------------------------------------------------------

    def summary_html(self) -> str:
        """The same information without widgets (for nbconvert, nbval, terminals)."""
        answer = self.handle.text if self.handle.done else ""
        return (
            f'<div class="loom-summary {CONTAINER_CLASS}">{self._header_html()}<br>{self._table_html()}'
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
        self.redraw()
        if self._display is not None:
            self._display.update(_Static(self.summary_html(), self.summary_text()))

    async def refresh(self, period: float = 1.0 / MAX_RATE_HZ) -> None:
        """Run on the swarm thread until the session ends: redraw when something changed."""
        seen = -1
        try:
            while not self.handle.done:
                version = self.handle.tracker.version
                if version != seen:
                    seen = version
                    self.redraw()
                await asyncio.sleep(period)  # the coalescing period: at most 10 redraws a second
        finally:
            self.finish()


class _Static:
    def __init__(self, html_text: str, text: str) -> None:
        self.html_text = html_text
        self.text = text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/html": self.html_text, "text/plain": self.text}


def start_live_view(handle: SwarmHandle) -> LiveView:
    """Show the view in the current cell and keep it fresh from the swarm thread."""
    view = LiveView(handle)
    view.show()
    handle.view = view
    handle.runner.watch(view.refresh())
    return view
