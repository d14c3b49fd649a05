"""Approval cards: one per pending request in the live view, with the buttons that answer it.

A card shows who asks (agent, role), what (tool, arguments, working directory, a diff preview for
writes), why (the model's stated reason) and which rule asked. Its buttons answer from whatever
thread the click arrives on (JupyterLab's subshells): allow once, allow always (the rule it adds is
named on the button's tooltip), deny, deny always, deny with the message typed beside it, or allow
with the arguments edited as JSON. Every text in a card came from a model or a file: it is escaped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .._safe import CONTAINER_CLASS, escape

if TYPE_CHECKING:
    from ..permissions import ApprovalRequest
    from ._runner import SwarmHandle

__all__ = ["ApprovalCards"]

MAX_PREVIEW_CHARS = 6000


class ApprovalCards:
    """The pending requests of one handle as cards; `sync()` adds and removes them (any thread)."""

    def __init__(self, handle: SwarmHandle) -> None:
        import ipywidgets as w

        self.handle = handle
        self.widget = w.VBox([])
        self._cards: dict[str, Any] = {}
        self.answered: list[str] = []
        """Request ids answered from a card (tests and the benchmark read it)."""

    def sync(self) -> None:
        pending = {r.id: r for r in self.handle.swarm.gate.queue.pending()}
        if set(pending) == set(self._cards):
            return
        for rid in list(self._cards):
            if rid not in pending:
                del self._cards[rid]
        for rid, request in pending.items():
            if rid not in self._cards:
                self._cards[rid] = self._card(request)
        self.widget.children = tuple(self._cards.values())

    def _card(self, request: ApprovalRequest) -> Any:
        import ipywidgets as w

        from ._view import _let_clicks_through

        info = w.HTML(value=_card_html(request))
        error = w.HTML()
        message = w.Text(placeholder="message to the agent (with Deny)", layout=w.Layout(width="320px"))
        edited = w.Textarea(
            value=json.dumps(dict(request.arguments), indent=1, default=str)[:20_000],
            layout=w.Layout(width="100%", height="90px"),
        )
        buttons = [
            ("Allow once", "success", lambda: self._answer(request, "allow")),
            ("Allow always", "success", lambda: self._answer(request, "allow", always=True)),
            ("Deny", "danger", lambda: self._answer(request, "deny", message=message.value)),
            ("Deny always", "danger", lambda: self._answer(request, "deny", always=True, message=message.value)),
        ]
        row = []
        for label, style, act in buttons:
            button = w.Button(description=label, button_style=style, layout=w.Layout(width="auto"))
            button.on_click(lambda b, act=act: self._click(b, act, error))
            _let_clicks_through(button)
            row.append(button)
        edit_button = w.Button(description="Edit and allow", layout=w.Layout(width="auto"))
        edit_button.on_click(lambda b: self._click(b, lambda: self._edit(request, edited.value), error))
        _let_clicks_through(edit_button)
        editor = w.Accordion(children=[w.VBox([edited, edit_button])], titles=("Edit the arguments",))
        editor.selected_index = None
        return w.VBox(
            [info, w.HBox([*row, message]), editor, error],
            layout=w.Layout(border="1px solid #e0a800", padding="4px", margin="4px 0"),
        )

    def _click(self, button: Any, act: Any, error: Any) -> None:
        button.disabled = True  # heard: a second click must not answer twice
        try:
            act()
        except Exception as exc:  # answered elsewhere meanwhile, bad JSON: say so on the card
            error.value = f'<span style="color:#c62828">{escape(str(exc))}</span>'
            button.disabled = False
            return
        self.sync()

    def _answer(self, request: ApprovalRequest, action: str, *, always: bool = False, message: str = "") -> None:
        if action == "allow":
            self.handle.approve(request.id, always=always, by="widget")
        else:
            self.handle.deny(request.id, message=message, always=always, by="widget")
        self.answered.append(request.id)

    def _edit(self, request: ApprovalRequest, text: str) -> None:
        try:
            arguments = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"the arguments are not JSON ({exc}); fix them or answer without editing") from None
        if not isinstance(arguments, dict):
            raise ValueError("the arguments must be a JSON object")
        self.handle.approve(request.id, arguments=arguments, by="widget")
        self.answered.append(request.id)


def _card_html(r: ApprovalRequest) -> str:
    rows = [
        f"<b>approval {escape(r.id)}</b> · {escape(r.agent)} ({escape(r.role)}) wants <code>{escape(r.tool)}</code>"
    ]
    rows += [f"<div><b>{escape(label)}</b> <code>{escape(text)}</code></div>" for label, text in r.details()]
    if r.preview:
        rows.append(
            '<pre style="max-height:220px;overflow:auto;font-size:11px;background:#f6f8fa;padding:4px">'
            f"{escape(r.preview[:MAX_PREVIEW_CHARS])}</pre>"
        )
    return f'<div class="{CONTAINER_CLASS}" style="font-size:12px">' + "".join(rows) + "</div>"
