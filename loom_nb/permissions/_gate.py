"""The gate every tool call passes before it runs: the policy decides; an `ask` becomes a request on
the approval queue (or, where no human can answer, a deny); every ask and answer is an event.

An `always` answer adds its rule to the gate's policy, and the requests still pending that the new
rule now decides are answered by it at once (ten agents waiting on the same test command need one
click, not ten).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from ._approvals import Answer, ApprovalQueue, ApprovalRequest
from ._policy import Category, Decision, Policy

if TYPE_CHECKING:
    from ..events import EventBus

__all__ = ["GateResult", "OnAsk", "PermissionGate"]

OnAsk = Literal["queue", "deny", "allow"]
"""What an `ask` becomes: a request a human answers (notebook, CLI prompt), a deny (no human: CI,
`--approve deny`), or an allow (`--approve auto`: the user accepted every ask in advance; deny rules
still apply, and unclear commands are still denied)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class GateResult:
    """Whether the call may run, with what arguments, and what the model is told if not."""

    allowed: bool
    arguments: Mapping[str, Any]
    decision: Decision
    message: str = ""
    """For a refused call: the tool result the model reads (the rule or the human's words)."""
    request_id: str | None = None
    """The approval request, when a human was asked."""
    answer: Answer | None = None


class PermissionGate:
    """`await gate.check(tool, arguments, agent=..., role=...)` before every tool call."""

    def __init__(
        self,
        policy: Policy,
        *,
        queue: ApprovalQueue | None = None,
        bus: EventBus | None = None,
        session_id: str = "",
        on_ask: OnAsk = "queue",
        edits_unasked: frozenset[str] = frozenset(),
    ) -> None:
        if on_ask not in ("queue", "deny", "allow"):
            raise ValueError(f"on_ask must be queue, deny or allow; got {on_ask!r}")
        self.policy = policy
        self.queue = queue if queue is not None else ApprovalQueue()
        self.bus = bus
        self.session_id = session_id
        self.on_ask = on_ask
        self.edits_unasked = edits_unasked
        """Roles whose writes the preset would ask about are allowed instead (approve-outcomes mode: a human
        approves each task's outcome). A rule that asks or denies, an unclear input, a command: unchanged."""
        self._unsubscribe = self.queue.subscribe(self._on_queue)

    def close(self) -> None:
        self._unsubscribe()
        self.queue.cancel_all("the run ended")

    def decide(
        self, tool: str, arguments: Mapping[str, Any], *, role: str | None = None, category: Category | None = None
    ) -> Decision:
        """The policy's decision, with approve-outcomes applied (what `check` acts on)."""
        decision = self.policy.decide(tool, arguments, role=role, category=category)
        if (
            decision.action == "ask"
            and role in self.edits_unasked
            and decision.category == "write"
            and decision.rule is None
            and not decision.unclear
        ):
            return replace(
                decision,
                action="allow",
                explain=f"allow: approve-outcomes mode (the task's outcome is approved instead); {decision.explain}",
            )
        return decision

    async def check(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        agent: str = "",
        role: str | None = None,
        category: Category | None = None,
        call_id: str = "",
        cwd: str = "",
        reason: str = "",
        preview: str = "",
        decision: Decision | None = None,
    ) -> GateResult:
        """The verdict on one call; `decision`, when the caller already asked the policy, is not asked again."""
        if decision is None:
            decision = self.decide(tool, arguments, role=role, category=category)
        if decision.action == "allow":
            return GateResult(allowed=True, arguments=arguments, decision=decision)
        if decision.action == "deny":
            return GateResult(
                allowed=False, arguments=arguments, decision=decision, message=f"refused by the policy: {decision}"
            )
        if self.on_ask == "allow" and not decision.unclear:
            return GateResult(allowed=True, arguments=arguments, decision=decision)
        if self.on_ask != "queue":
            return GateResult(
                allowed=False,
                arguments=arguments,
                decision=decision,
                message=f"refused: this call needs a human's approval and none can answer here ({decision})",
            )
        request = ApprovalRequest(
            id="",
            session_id=self.session_id,
            agent=agent,
            role=role or "",
            tool=tool,
            arguments=dict(arguments),
            cwd=cwd,
            reason=reason,
            preview=preview,
            decision=decision,
            call_id=call_id,
        )
        answer = await self.queue.ask(request)
        request_id = answer.request_id
        if answer.action == "allow":
            return GateResult(
                allowed=True,
                arguments=answer.arguments if answer.arguments is not None else arguments,
                decision=decision,
                request_id=request_id,
                answer=answer,
            )
        said = f": {answer.message}" if answer.message else ""
        return GateResult(
            allowed=False,
            arguments=arguments,
            decision=decision,
            message=f"denied by {'the user' if answer.by not in ('timeout', 'stop') else answer.by}{said}",
            request_id=request_id,
            answer=answer,
        )

    # the queue's news -----------------------------------------------------------------------------

    def _on_queue(self, request: ApprovalRequest, answer: Answer | None) -> None:
        if self.bus is not None:
            self._emit(request, answer)
        if answer is not None and answer.rule is not None:
            self.policy = self.policy.with_rule(answer.rule)
            self._settle_by_rule(answer)

    def _settle_by_rule(self, answer: Answer) -> None:
        for pending in self.queue.pending():
            decision = self.policy.decide(pending.tool, pending.arguments, role=pending.role or None)
            if decision.rule is answer.rule:
                try:
                    self.queue.answer(pending.id, decision.action, by=f"rule from {answer.by}")  # type: ignore[arg-type]
                except LookupError:
                    continue  # answered meanwhile

    def _emit(self, request: ApprovalRequest, answer: Answer | None) -> None:
        from ..events import ApprovalDecided, ApprovalRequested

        assert self.bus is not None
        if answer is None:
            self.bus.emit(
                ApprovalRequested(
                    session_id=request.session_id or self.session_id,
                    agent=request.agent,
                    request_id=request.id,
                    tool=request.tool,
                    arguments=json.dumps(dict(request.arguments), default=str)[:20_000],
                    role=request.role,
                    rule=request.decision.explain if request.decision is not None else "",
                    reason=request.reason[:2000],
                    call_id=request.call_id,
                )
            )
            return
        self.bus.emit(
            ApprovalDecided(
                session_id=request.session_id or self.session_id,
                agent=request.agent,
                request_id=request.id,
                decision=answer.action,
                by=answer.by,
                always=answer.always,
                rule_added=answer.rule.describe() if answer.rule is not None else "",
                message=answer.message[:2000],
                edited=answer.arguments is not None,
                latency_s=max(0.0, answer.decided_at - request.requested_at),
            )
        )
