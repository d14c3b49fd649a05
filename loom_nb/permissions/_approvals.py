"""Approvals: a human's answer to an `ask`, as a future on a queue that any surface may resolve.

Many agents may wait at once while the others keep working (a queue, never a single slot). The
agent awaits the future on the swarm's loop; a widget button (on a subshell thread), another cell,
`handle.approve(...)` or the CLI answers from whatever thread it runs on. Nothing here waits on a
widget or on input(). A request unanswered within its timeout is denied with that reason; a stop
cancels everything pending.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ._policy import Decision
from ._rules import Rule

__all__ = ["Answer", "ApprovalQueue", "ApprovalRequest", "NoSuchApproval"]

log = logging.getLogger("loom_nb.approvals")

DEFAULT_TIMEOUT_S = 600.0


class NoSuchApproval(LookupError):
    """The id names no pending request (already answered, timed out, or never asked)."""


@dataclass(frozen=True, kw_only=True)
class ApprovalRequest:
    """What the human is asked, with everything needed to answer it well."""

    id: str
    session_id: str = ""
    agent: str = ""
    role: str = ""
    tool: str
    arguments: Mapping[str, Any]
    cwd: str = ""
    reason: str = ""
    """The model's stated reason for the call."""
    preview: str = ""
    """A diff preview for writes, the command for shell."""
    decision: Decision | None = None
    """The policy's ask: which rule asked, and why."""
    call_id: str = ""
    """The tool call that waits (its row in `tool_calls` has the same id)."""
    requested_at: float = field(default_factory=time.time)

    def details(self, limit: int = 1000) -> list[tuple[str, str]]:
        """What a surface shows, as (label, text) rows: arguments, where, the model's reason, the rule."""
        import json

        rows = [("arguments", json.dumps(dict(self.arguments), default=str)[: limit * 2])]
        if self.cwd:
            rows.append(("in", self.cwd))
        if self.reason:
            rows.append(("its reason", self.reason[:limit]))
        if self.decision is not None:
            rows.append(("asked by", self.decision.explain))
        return rows


@dataclass(frozen=True, kw_only=True)
class Answer:
    """How a request was answered."""

    action: Literal["allow", "deny"]
    always: bool = False
    """Remember it: a rule is added (its scope is `rule.describe()`)."""
    arguments: Mapping[str, Any] | None = None
    """Edited arguments to run instead (allow only)."""
    message: str = ""
    """Sent back to the agent with a deny."""
    by: str = "python"
    """Who answered: widget, cell, cli, python, timeout, stop."""
    rule: Rule | None = None
    """The rule an `always` answer added."""
    decided_at: float = field(default_factory=time.time)
    request_id: str = ""


class ApprovalQueue:
    """Pending and decided approvals of one session (or one process); thread-safe."""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        if timeout <= 0:
            raise ValueError(f"the approval timeout must be > 0 seconds; got {timeout}")
        self.timeout = timeout
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[ApprovalRequest, asyncio.Future[Answer], asyncio.AbstractEventLoop]] = {}
        self.decided: list[tuple[ApprovalRequest, Answer]] = []
        self._listeners: list[Callable[[ApprovalRequest, Answer | None], None]] = []

    def subscribe(self, listener: Callable[[ApprovalRequest, Answer | None], None]) -> Callable[[], None]:
        """`listener(request, None)` when asked, `listener(request, answer)` when decided (any thread)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, request: ApprovalRequest, answer: Answer | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(request, answer)
            except Exception:  # a broken surface must not lose the answer
                log.exception("approval listener failed")

    # the agent's side --------------------------------------------------------------------------

    async def ask(self, request: ApprovalRequest | None = None, /, **fields: Any) -> Answer:
        """Queue a request and wait for its answer (denied after the timeout, cancelled by a stop)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            rid = f"a{next(self._ids)}"
            request = replace(request, id=rid) if request is not None else ApprovalRequest(id=rid, **fields)
            future: asyncio.Future[Answer] = loop.create_future()
            self._pending[rid] = (request, future, loop)
        self._notify(request, None)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout)
        except TimeoutError:
            answer = Answer(action="deny", message=f"no answer within {self.timeout:g} s", by="timeout")
            settled = self._settle(rid, answer)
            return settled if settled is not None else await future  # answered at the last moment
        except asyncio.CancelledError:
            self._settle(rid, Answer(action="deny", message="the run was stopped", by="stop"))
            raise

    # any surface's side ------------------------------------------------------------------------

    def pending(self) -> list[ApprovalRequest]:
        with self._lock:
            return [r for r, _, _ in self._pending.values()]

    def answer(
        self,
        request_id: str,
        action: Literal["allow", "deny"],
        *,
        always: bool = False,
        arguments: Mapping[str, Any] | None = None,
        message: str = "",
        by: str = "python",
    ) -> Answer:
        """Answer a pending request from any thread; returns the recorded Answer."""
        if action not in ("allow", "deny"):
            raise ValueError(f"answer allow or deny, not {action!r}")
        if arguments is not None and action != "allow":
            raise ValueError("edited arguments go with allow (deny with a message instead)")
        with self._lock:
            entry = self._pending.get(request_id)
            known = ", ".join(self._pending) or "none"
        if entry is None:
            raise NoSuchApproval(f"no pending approval {request_id!r} (pending: {known})")
        request = entry[0]
        rule = _always_rule(request, action) if always else None
        answer = Answer(action=action, always=always, arguments=arguments, message=message, by=by, rule=rule)
        settled = self._settle(request_id, answer)
        if settled is None:
            raise NoSuchApproval(f"approval {request_id!r} was answered meanwhile")
        return settled

    def answer_all(self, action: Literal["allow", "deny"], **kwargs: Any) -> list[Answer]:
        return [self.answer(r.id, action, **kwargs) for r in self.pending()]

    def cancel_all(self, message: str = "the run was stopped") -> int:
        """Deny everything pending (a stop or an interrupt); returns how many."""
        requests = self.pending()
        for request in requests:
            self._settle(request.id, Answer(action="deny", message=message, by="stop"))
        return len(requests)

    def _settle(self, request_id: str, answer: Answer) -> Answer | None:
        """Resolve the request's future (on its loop); None if it was no longer pending."""
        answer = replace(answer, request_id=request_id)
        with self._lock:
            entry = self._pending.pop(request_id, None)
            if entry is None:
                return None
            request, future, loop = entry
            self.decided.append((request, answer))

        def resolve() -> None:
            if not future.done():
                future.set_result(answer)

        if not loop.is_closed():  # safe from the loop's own thread and from any other
            loop.call_soon_threadsafe(resolve)
        self._notify(request, answer)
        return answer


def _always_rule(request: ApprovalRequest, action: Literal["allow", "deny"]) -> Rule:
    """The narrowest rule that covers this request again: the exact command, the exact path, or the tool."""
    args = request.arguments
    common = {"action": action, "role": request.role or None, "source": f"approval {request.id}"}
    if request.tool == "shell" and isinstance(args.get("command"), str):
        if request.decision is not None and request.decision.unclear:
            raise ValueError("an unclear command cannot be remembered as a rule; answer it once")
        # the sub-command that asked (a compound command's other parts were decided on their own)
        subject = request.decision.subject if request.decision is not None and request.decision.subject else None
        return Rule(command=subject or args["command"], tool="shell", **common)
    path = args.get("path") or args.get("destination")
    if isinstance(path, str):
        escaped = "".join(f"[{c}]" if c in "*?[]!#\\" else c for c in path)
        return Rule(path="/" + escaped.lstrip("/"), tool=request.tool, **common)
    return Rule(tool=request.tool, **common)
