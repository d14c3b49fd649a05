"""The agent loop: model turn -> tool calls (concurrent) -> model turn ..., at most N iterations.

Every step is an event on the bus; the loop knows nothing of recorders or widgets.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..events import AgentSpawned, AgentStatus, BudgetWarning, EventBus, LLMCall, ToolCallEvent, ToolStarted, Warning
from ..models import get_model
from ..models._base import Model
from ..models._budget import Budget, BudgetReached, current_budget, worst_case
from ..models._errors import ModelError
from ..models._messages import (
    Message,
    ModelSettings,
    Response,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from ..permissions import GateResult, PermissionGate
from ..tools._base import Tool, ToolContext, ToolError

__all__ = ["Agent", "AgentResult"]

LAST_TURN_NUDGE = (
    "This is your last allowed turn: no more tools. Answer now with what you have found so far, "
    "citing file:line evidence, and say what is still unknown."
)


@dataclass(kw_only=True, frozen=True)
class AgentResult:
    """What an agent run produced."""

    text: str
    """The final answer (or, when cut short, what was found so far)."""
    partial: bool
    """True when the iteration limit ended the run rather than the model."""
    stop_reason: Literal["final", "max_iterations"]
    iterations: int
    usage: Usage
    cost_usd: float | None
    """Sum over turns; None if any turn's price was unknown."""
    model: str
    tool_calls: int
    messages: tuple[Message, ...]


def summarize_args(arguments: dict[str, object], limit: int = 120) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Agent:
    """A model with tools and a system prompt. `await agent.run(input)` -> AgentResult."""

    def __init__(
        self,
        *,
        name: str,
        model: Model | str,
        tools: Sequence[Tool],
        context: ToolContext,
        system_prompt: str = "",
        role: str = "agent",
        max_iterations: int = 25,
        settings: ModelSettings = ModelSettings(),
        bus: EventBus | None = None,
        parent: str | None = None,
        budget: Budget | None = None,
        in_flight_grace: float = 5.0,
        gate: PermissionGate | None = None,
        restart: bool = False,
        inbox: Callable[[], str] | None = None,
        who_has: Callable[[str], str] | None = None,
        role_version: int = 0,
        task: str = "",
    ) -> None:
        if max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1; got {max_iterations}")
        self.name = name
        self.role = role
        self.model = get_model(model)
        self.tools = {t.name: t for t in tools}
        self.context = replace(context, agent=name, bus=bus if bus is not None else context.bus)
        self.system_prompt = system_prompt
        self.max_iterations = max_iterations
        self.settings = settings
        self.bus = self.context.bus or EventBus()
        self.session_id = self.context.session_id or uuid.uuid4().hex[:12]
        self.parent = parent
        self.budget = budget
        """Reserve each call in this budget (default: the run's, `current_budget()`)."""
        self.in_flight_grace = in_flight_grace
        """Seconds a stop waits for a call in flight to answer, so its real cost is recorded."""
        self.gate = gate
        """Decides every tool call before it runs (None: the tools' own checks only, as for read-only
        sub-agents)."""
        self._said = ""
        self._iteration = 0
        self.restart = restart
        """True when a supervisor builds this agent again after a crash (pass `process.restarts > 0`)."""
        self._spawned = False
        self._definitions = [t.definition() for t in tools]
        self.inbox = inbox
        """Called before each model turn: the messages that arrived since (rendered), or ""."""
        self.who_has = who_has
        """For a tool outside this agent's role: which role has it (said in the refusal)."""
        self.role_version = role_version
        self.task = task
        self.history: list[Message] = []
        """The conversation so far (a later `run(..., resume=True)` goes on from it)."""
        self._tool_tasks: list[asyncio.Future[ToolResultPart]] = []
        self._interrupted: set[asyncio.Future[ToolResultPart]] = set()

    def interrupt(self, reason: str = "an urgent message arrived") -> int:
        """Cut the tool calls running now short (an urgent message: a stop, the budget, a re-plan):
        each returns an "interrupted" error result at once (a shell's process group is killed) and the
        agent's next turn reads the message. Returns how many calls were cut (0: none was running)."""
        cut = [t for t in self._tool_tasks if not t.done()]
        for t in cut:
            self._interrupted.add(t)
            # A step later: a call made but not started yet would be cancelled before `_interruptible`
            # could turn the cancel into its "interrupted" result (the task's first step comes first).
            t.get_loop().call_soon(t.cancel, reason)
        return len(cut)

    def __repr__(self) -> str:
        return f"<Agent {self.name} role={self.role} model={self.model.name}>"

    def _status(self, status: str, iteration: int, **kw: object) -> None:
        self.bus.emit(
            AgentStatus(
                session_id=self.session_id,
                agent=self.name,
                status=status,  # type: ignore[arg-type]
                iteration=iteration,
                **kw,
            )
        )  # type: ignore[arg-type]

    async def run(self, input: str, *, resume: bool = False) -> AgentResult:
        """Work on `input` until a final answer or the iteration limit. With resume, the conversation
        goes on from the last run's (a specialist woken by a message keeps what it knows)."""
        bus, sid, name = self.bus, self.session_id, self.name
        if not self._spawned:  # one agent, one spawn: a later run is a new turn, not a restart
            self._spawned = True
            bus.emit(
                AgentSpawned(
                    session_id=sid,
                    agent=name,
                    role=self.role,
                    model=self.model.name,
                    parent=self.parent,
                    restart=self.restart,
                    role_version=self.role_version,
                    task=self.task,
                )
            )
        messages = _resumed(self.history, input) if resume else [Message.user(input)]
        self.history = messages
        usage = Usage()
        cost: float | None = 0.0
        warned_price = False
        tool_calls = 0
        iteration = 0
        try:
            for iteration in range(1, self.max_iterations + 1):
                self._iteration = iteration
                last = iteration == self.max_iterations
                if self.inbox is not None and (letters := self.inbox()):
                    messages[-1] = _with_text(messages[-1], letters)  # between turns: after the tool results
                self._status("thinking", iteration)
                settings, sent = self.settings, messages
                if last and iteration > 1:
                    settings = replace(settings, tool_choice="none")
                    sent = [*messages[:-1], _with_text(messages[-1], LAST_TURN_NUDGE)]
                try:
                    response = await self._turn(sent, settings)
                except BudgetReached as exc:
                    self._status("done", iteration, reason=str(exc))
                    raise
                r = response.usage
                usage = usage + r
                if response.cost_usd is None:
                    cost = None
                    if not warned_price:
                        warned_price = True
                        bus.emit(
                            Warning(
                                session_id=sid,
                                agent=name,
                                code="unknown_price",
                                message=f"{response.model} has no price in litellm's price map: its cost is "
                                "reported as unknown, not $0 (give it one under [prices] in .loom.toml)",
                            )
                        )
                elif cost is not None:
                    cost += response.cost_usd
                messages.append(response.as_message())
                self._said = response.text
                calls = response.tool_calls
                if not calls or last:
                    partial = last and (bool(calls) or iteration > 1)
                    text = response.text if not calls else _found_so_far(messages)
                    reason = "max_iterations" if partial else "final"
                    self._status("done", iteration, reason=reason)
                    return AgentResult(
                        text=text,
                        partial=partial,
                        stop_reason=reason,  # type: ignore[arg-type]
                        iterations=iteration,
                        usage=usage,
                        cost_usd=cost,
                        model=self.model.name,
                        tool_calls=tool_calls,
                        messages=tuple(messages),
                    )
                self._status("executing", iteration, tool=", ".join(c.name for c in calls))
                self._tool_tasks = [asyncio.ensure_future(self._interruptible(c)) for c in calls]
                try:  # one call (the common case) is awaited as it is: a gather costs a future and callbacks
                    tasks = self._tool_tasks
                    results = [await tasks[0]] if len(tasks) == 1 else await asyncio.gather(*tasks)
                finally:
                    self._tool_tasks = []
                tool_calls += len(calls)
                messages.append(Message(role="user", parts=tuple(results)))
        except asyncio.CancelledError:
            self._status("cancelled", iteration, reason="stopped")
            raise
        except BudgetReached:
            raise
        except Exception as exc:
            self._status("crashed", iteration, reason=f"{type(exc).__name__}: {exc}")
            raise
        raise AssertionError("unreachable: the last iteration always returns")

    async def _turn(self, sent: list[Message], settings: ModelSettings) -> Response:
        """One model call inside its budget reservation; every call sent is recorded (LLMCall).

        The call first reserves its worst case in the run's budget, waiting while only the holds of
        calls in flight are in the way; if it cannot fit even once they settle: BudgetReached, and
        nothing is sent. A stop (cancellation)
        while the call is in flight does not drop it: a provider bills a request whether or not
        anyone listens, so the answer is awaited (up to `in_flight_grace` s) and recorded with its
        real cost before the stop goes on; a call abandoned after that is recorded at its reserved
        worst case. Calls to $0 models are abandoned at once (nothing to bill)."""
        budget = self.budget if self.budget is not None else current_budget()
        reservation = None
        if budget is not None:
            usd, tokens = worst_case(
                sent, system=self.system_prompt, tools=self._definitions, settings=settings, price=self.model.price
            )
            reservation = await budget.areserve(usd=usd, tokens=tokens)
        started = time.perf_counter()
        call = asyncio.ensure_future(
            _contained(self.model.request(sent, system=self.system_prompt, tools=self._definitions, settings=settings))
        )
        stop: asyncio.CancelledError | None = None
        try:
            try:
                response = await asyncio.shield(call)
            except asyncio.CancelledError as exc:
                stop = exc
                if not _bills(self.model) and not call.done():
                    raise
                # The first cancellation is the stop: drain the call. A second one abandons it.
                await asyncio.wait([call], timeout=self.in_flight_grace)
                if not call.done():
                    raise
                response = call.result()
        except asyncio.CancelledError:
            call.cancel()
            await _reap(call)
            charged = reservation.usd if reservation is not None else None
            note = "; charged at its reserved worst case" if reservation is not None else ""
            self._record_failure(started, 0, f"cancelled in flight by a stop{note}", charged)
            if reservation is not None:
                self._warn(reservation.settle(usd=charged, tokens=reservation.amount.tokens))
            raise
        except ModelError as exc:
            if reservation is not None:
                reservation.release()
            self._record_failure(started, exc.retries, str(exc), None)
            if stop is not None:
                raise stop from None
            raise
        except _Escaped as exc:  # back in this agent's own task, where its supervisor handles it
            if reservation is not None:
                reservation.release()
            raise exc.original from None
        except BaseException:
            if reservation is not None:
                reservation.release()
            raise
        r = response.usage
        self.bus.emit(
            LLMCall(
                session_id=self.session_id,
                agent=self.name,
                model=response.model,
                input_tokens=r.input_tokens,
                output_tokens=r.output_tokens,
                cache_read_tokens=r.cache_read_tokens,
                cache_write_tokens=r.cache_write_tokens,
                cost_usd=response.cost_usd,
                latency_s=response.latency_s or time.perf_counter() - started,
                retries=response.retries,
            )
        )
        if reservation is not None:
            self._warn(reservation.settle(usd=response.cost_usd, tokens=r.total_tokens))
        if stop is not None:
            raise stop
        return response

    def _record_failure(self, started: float, retries: int, error: str, cost: float | None) -> None:
        self.bus.emit(
            LLMCall(
                session_id=self.session_id,
                agent=self.name,
                model=self.model.name,
                latency_s=time.perf_counter() - started,
                retries=retries,
                error=error,
                cost_usd=cost,
            )
        )

    def _warn(self, crossed: list[Budget]) -> None:
        for b in crossed:
            caps = []
            if b.usd is not None:
                caps.append(f"${b.spent_usd:.4f} of ${b.usd:g}")
            if b.tokens is not None:
                caps.append(f"{b.spent_tokens:,} of {b.tokens:,} tokens")
            self.bus.emit(
                BudgetWarning(
                    session_id=self.session_id,
                    agent=self.name,
                    budget=b.name,
                    share=b.share,
                    spent_usd=b.spent_usd,
                    limit_usd=b.usd,
                    spent_tokens=b.spent_tokens,
                    limit_tokens=b.tokens,
                    message=f"{b.share:.0%} of the {b.name} budget spent ({', '.join(caps)})",
                )
            )

    async def _interruptible(self, call: ToolCallPart) -> ToolResultPart:
        try:
            return await self._run_tool(call)
        except asyncio.CancelledError as exc:
            me = asyncio.current_task()
            if me not in self._interrupted:
                raise
            self._interrupted.discard(me)  # type: ignore[arg-type]
            why = f"interrupted: {exc.args[0] if exc.args else 'an urgent message arrived'}; read it and go on"
            return self._tool_ended(call, summarize_args(call.arguments), 0.0, "error", why, "")

    async def _run_tool(self, call: ToolCallPart) -> ToolResultPart:
        bus, sid, name = self.bus, self.session_id, self.name
        summary = summarize_args(call.arguments)
        bus.emit(ToolStarted(session_id=sid, agent=name, tool=call.name, call_id=call.id, args_summary=summary))
        started = time.perf_counter()
        tool = self.tools.get(call.name)
        outcome: Literal["ok", "error", "refused"] = "ok"
        error: str | None = None
        content = ""
        if tool is None:
            outcome = "refused"
            error = (
                f"tool {call.name!r} is not available to this agent (role {self.role}); it may use only "
                f"{', '.join(sorted(self.tools))}. Nothing was run."
            )
            if self.who_has is not None and (owner := self.who_has(call.name)):
                error += f" {owner}"
        elif call.arguments_error is not None:
            outcome, error = "error", f"{call.name} was not run: {call.arguments_error}. Send a JSON object."
        else:
            arguments = call.arguments
            if self.gate is not None:
                verdict = await self._ask_gate(tool, call)
                if not verdict.allowed:
                    outcome, error = "refused", verdict.message
                arguments = dict(verdict.arguments)
                started = time.perf_counter()  # the tool's own time: a human's answer is in `approvals`
            try:
                if error is None:
                    content = await tool(arguments, self.context)
            except ToolError as exc:
                outcome, error = "error", str(exc)
            except Exception as exc:  # a tool that raises becomes an error result; the loop goes on
                outcome, error = "error", f"{call.name} failed: {type(exc).__name__}: {exc}"
        return self._tool_ended(call, summary, time.perf_counter() - started, outcome, error, content)

    def _tool_ended(
        self,
        call: ToolCallPart,
        summary: str,
        duration_s: float,
        outcome: Literal["ok", "error", "refused"],
        error: str | None,
        content: str,
    ) -> ToolResultPart:
        """Record the call's end (ToolCallEvent) and make the result the model reads: the error if any."""
        self.bus.emit(
            ToolCallEvent(
                session_id=self.session_id,
                agent=self.name,
                tool=call.name,
                call_id=call.id,
                args_summary=summary,
                duration_s=duration_s,
                outcome=outcome,
                error=error,
            )
        )
        if error is not None:
            return ToolResultPart(tool_call_id=call.id, name=call.name, content=error, is_error=True)
        return ToolResultPart(tool_call_id=call.id, name=call.name, content=content)

    async def _ask_gate(self, tool: Tool, call: ToolCallPart) -> GateResult:
        """The permission gate's verdict; while a human is asked, the agent shows as waiting."""
        from ..tools._preview import preview

        assert self.gate is not None
        category = tool.permission  # read, write or execute: the policy's categories
        decision = self.gate.decide(call.name, call.arguments, role=self.role, category=category)
        shown = ""
        if decision.action == "ask":
            shown = await asyncio.to_thread(preview, call.name, call.arguments, self.context)
            self._status("waiting", self._iteration, tool=call.name, reason=decision.explain)
        verdict = await self.gate.check(
            call.name,
            call.arguments,
            agent=self.name,
            role=self.role,
            category=category,
            call_id=call.id,
            cwd=str(self.context.scope.root),
            reason=self._said,
            preview=shown,
            decision=decision,
        )
        if decision.action == "ask":
            self._status("executing", self._iteration, tool=call.name)
        return verdict


class _Escaped(Exception):
    """A SystemExit or KeyboardInterrupt raised inside a model call's own task: asyncio would hand it
    to the event loop (ending the loop's thread and every session on it), so it travels as this."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


async def _contained(request: Any) -> Response:
    try:
        return await request
    except (SystemExit, KeyboardInterrupt) as exc:
        raise _Escaped(exc) from exc


def _bills(model: Model) -> bool:
    """Whether a call to the model may cost money (unknown prices may)."""
    price = model.price
    return price is None or price.input > 0 or price.output > 0


async def _reap(task: asyncio.Future[Response]) -> None:
    """Let a cancelled call finish unwinding (its connection is closed), even if cancelled again."""
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            continue


def _resumed(history: list[Message], text: str) -> list[Message]:
    """The conversation going on with `text`. Tool calls the last turn asked for and never got (the
    iteration limit ended it) are answered as not run first: a provider refuses a call left open."""
    last = history[-1] if history else None
    if last is not None and last.role == "assistant" and last.tool_calls:
        unanswered = tuple(
            ToolResultPart(
                tool_call_id=c.id, name=c.name, content="not run: the iteration limit ended that turn", is_error=True
            )
            for c in last.tool_calls
        )
        return [*history, Message(role="user", parts=(*unanswered, TextPart(text=text)))]
    return [*history, Message.user(text)]


def _with_text(message: Message, text: str) -> Message:
    return Message(role=message.role, parts=(*message.parts, TextPart(text=text)))


def _found_so_far(messages: list[Message]) -> str:
    """When the limit cuts a model off mid-search: its own words so far, then what its tools returned."""
    said = [m.text for m in messages if m.role == "assistant" and m.text]
    results = [p for m in messages for p in m.tool_results if not p.is_error]
    lines = ["Stopped at the iteration limit before a final answer. Found so far:"]
    lines += said
    for p in results[-6:]:
        head = p.content.strip().splitlines()[:8]
        lines.append(f"[{p.name}]\n" + "\n".join(head))
    return "\n".join(lines)
