"""The terminal's approval surface for `loom-nb run --approve ask`: each request the policy asks
about is printed (as text: a model wrote parts of it) and answered from a line typed at the prompt.
It reads the terminal on a thread of its own; the agents wait on the queue, never on input()."""

from __future__ import annotations

import queue
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from ._safe import terminal

if TYPE_CHECKING:
    from .permissions import Answer, ApprovalQueue, ApprovalRequest

__all__ = ["TerminalApprovals"]

CHOICES = "[a] allow once  [A] allow always  [d] deny  [D] deny always  [m] deny with a message"


class TerminalApprovals:
    def __init__(self, approvals: ApprovalQueue, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.approvals = approvals
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stderr
        self._asked: queue.Queue[ApprovalRequest] = queue.Queue()
        approvals.subscribe(self._on_queue)

    def _on_queue(self, request: ApprovalRequest, answer: Answer | None) -> None:
        if answer is None:
            self._asked.put(request)

    def start(self) -> TerminalApprovals:
        threading.Thread(target=self._serve, name="loom-approvals-prompt", daemon=True).start()
        return self

    def _serve(self) -> None:
        while True:
            request = self._asked.get()
            if request.id not in {r.id for r in self.approvals.pending()}:
                continue  # answered meanwhile (a rule from an earlier "always", a timeout)
            self._show(request)
            while True:
                self.stdout.write("answer: ")
                self.stdout.flush()
                line = self.stdin.readline()
                if not line:  # the terminal closed: deny what is asked, stop asking
                    self.approvals.answer_all("deny", message="the terminal closed", by="cli")
                    return
                choice = line.strip()
                try:
                    if choice in ("a", "A"):
                        self.approvals.answer(request.id, "allow", always=choice == "A", by="cli")
                    elif choice in ("d", "D"):
                        self.approvals.answer(request.id, "deny", always=choice == "D", by="cli")
                    elif choice == "m":
                        self.stdout.write("message to the agent: ")
                        self.stdout.flush()
                        message = self.stdin.readline().strip()
                        self.approvals.answer(request.id, "deny", message=message, by="cli")
                    else:
                        self.stdout.write(f"{CHOICES}\n")
                        continue
                except LookupError:
                    self.stdout.write("(answered meanwhile)\n")
                break

    def _show(self, r: ApprovalRequest) -> None:
        lines = ["", f"── approval {r.id}: {r.agent} ({r.role}) wants {r.tool}"]
        lines += [f"   {label}: {text}" for label, text in r.details(limit=500)]
        if r.preview:
            lines += ["   " + line for line in r.preview.splitlines()[:40]]
        lines.append(CHOICES)
        self.stdout.write(terminal("\n".join(lines)) + "\n")
        self.stdout.flush()
