"""Budgets as reservations: before a call is sent it reserves its worst case; afterwards it settles
on what it really cost. Nothing is sent that could cross a cap, however many agents ask at once.

    budget = Budget(usd=2.0)                                   # or tokens=200_000, or both
    reservation = await budget.areserve(usd=0.12, tokens=9_000)  # BudgetReached: do not send
    ... the call ...
    crossed = reservation.settle(usd=0.03, tokens=2_500)       # budgets that just passed warn_at

A call that would fit once the calls in flight have settled waits for them (their holds are worst
cases, their real costs usually far less); a call that cannot fit even then is refused.

A budget may have a parent (a role's or a task's cap inside the session's): a reservation holds
room in every budget up the chain, all or nothing. One lock per chain, never held across an await,
so threads and coroutines may share a budget.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ._messages import Message, ModelSettings, TextPart, ToolCallPart, ToolDefinition, ToolResultPart
from ._pricing import Price

__all__ = ["Budget", "BudgetReached", "Reservation", "current_budget", "worst_case"]

_EPS = 1e-12

# Tokens per request that the wire adds around the content (roles, tool-use preamble, ...).
REQUEST_OVERHEAD_TOKENS = 512
MESSAGE_OVERHEAD_TOKENS = 8
BYTES_PER_TOKEN = 2
"""Conservative: tokenizers average 3-4 bytes per token on code and prose, so estimating 2 keeps the
input side of a reservation above the real count for all but pathological input."""


class BudgetReached(RuntimeError):
    """A call could not reserve its worst case, so it was not sent."""

    def __init__(self, message: str, budget: Budget) -> None:
        super().__init__(message)
        self.budget = budget


@dataclass(frozen=True, slots=True)
class _Amount:
    usd: float
    tokens: int


class Budget:
    """A cap in USD and/or tokens; see the module doc."""

    def __init__(
        self,
        *,
        usd: float | None = None,
        tokens: int | None = None,
        name: str = "session",
        parent: Budget | None = None,
        warn_at: float = 0.8,
    ) -> None:
        if usd is not None and not usd > 0:
            raise ValueError(f"a USD budget must be > 0; got {usd}")
        if tokens is not None and not tokens > 0:
            raise ValueError(f"a token budget must be > 0; got {tokens}")
        if not 0 < warn_at <= 1:
            raise ValueError(f"warn_at is a share of the budget, in (0, 1]; got {warn_at}")
        self.usd = usd
        self.tokens = tokens
        self.name = name
        self.parent = parent
        self.warn_at = warn_at
        self._lock: threading.Lock = parent._lock if parent is not None else threading.Lock()
        self.spent_usd = 0.0
        self.spent_tokens = 0
        self.reserved_usd = 0.0
        self.reserved_tokens = 0
        self.in_flight = 0
        """Reservations not yet settled or released."""
        self.warned = False
        """True once settled spending passed warn_at of a cap (reported once)."""
        self.reached: str | None = None
        """Why the first call was refused, once one was."""
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        """Calls waiting for holds in flight to settle (shared along the chain, like the lock)."""
        if parent is not None:
            self._waiters = parent._waiters

    def __repr__(self) -> str:
        caps = ", ".join(
            c for c in (f"${self.usd:g}" if self.usd else "", f"{self.tokens:,} tokens" if self.tokens else "") if c
        )
        return f"<Budget {self.name} {caps or 'uncapped'}: ${self.spent_usd:.4f}, {self.spent_tokens:,} tokens spent>"

    def child(self, *, usd: float | None = None, tokens: int | None = None, name: str) -> Budget:
        """A cap inside this one (a role's, an agent's, a task's)."""
        return Budget(usd=usd, tokens=tokens, name=name, parent=self, warn_at=self.warn_at)

    @property
    def share(self) -> float:
        """The larger of the spent shares of the caps (0 when uncapped)."""
        shares = [0.0]
        if self.usd:
            shares.append(self.spent_usd / self.usd)
        if self.tokens:
            shares.append(self.spent_tokens / self.tokens)
        return max(shares)

    def _chain(self) -> list[Budget]:
        chain, b = [], self
        while b is not None:
            chain.append(b)
            b = b.parent
        return chain

    def _refusal(self, want: _Amount, *, holds: bool = True) -> str | None:
        """Why `want` does not fit now (holds=True) or even once every call in flight settled at $0."""
        held_usd = self.reserved_usd if holds else 0.0
        held_tokens = self.reserved_tokens if holds else 0
        if self.usd is not None:
            if want.usd > self.usd - self.spent_usd - held_usd + _EPS:
                left = max(self.usd - self.spent_usd - self.reserved_usd, 0.0)
                return (
                    f"budget reached: the {self.name} budget of ${self.usd:g} has ${left:.4f} left "
                    f"(${self.spent_usd:.4f} spent, ${self.reserved_usd:.4f} held by calls in flight) and the next "
                    f"call could cost up to ${want.usd:.4f}"
                )
        if self.tokens is not None:
            if want.tokens > self.tokens - self.spent_tokens - held_tokens:
                left_t = max(self.tokens - self.spent_tokens - self.reserved_tokens, 0)
                return (
                    f"budget reached: the {self.name} budget of {self.tokens:,} tokens has {left_t:,} left "
                    f"({self.spent_tokens:,} spent, {self.reserved_tokens:,} held by calls in flight) and the next "
                    f"call could use up to {want.tokens:,}"
                )
        return None

    def reserve(self, *, usd: float | None, tokens: int) -> Reservation:
        """Hold room for one call's worst case in this budget and every parent, or raise BudgetReached
        (also when only the holds of calls in flight are in the way: `areserve` waits for those).

        `usd` None means the model's price is unknown: refused wherever a USD cap applies."""
        with self._lock:
            reservation = self._try(usd, tokens, holds=True)
        if isinstance(reservation, str):
            raise BudgetReached(reservation, self)
        return reservation

    async def areserve(self, *, usd: float | None, tokens: int) -> Reservation:
        """Like reserve, but a call that fits once the calls in flight settle waits for them."""
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                outcome = self._try(usd, tokens, holds=True)
                if not isinstance(outcome, str):
                    return outcome
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, waiter))
            try:
                await waiter
            finally:
                with self._lock:
                    self._waiters[:] = [(lp, w) for lp, w in self._waiters if w is not waiter]

    def _try(self, usd: float | None, tokens: int, *, holds: bool) -> Reservation | str:
        """Under the lock: a Reservation, or why not now (str) when holds in flight are in the way;
        raises BudgetReached when the call cannot fit even after they settle."""
        chain = self._chain()
        want = _Amount(usd or 0.0, tokens)
        for b in chain:
            if usd is None and b.usd is not None:
                reason: str | None = (
                    f"budget reached: the {b.name} budget is in USD and this model's price is unknown; "
                    "give it a price in .loom.toml or use a token budget"
                )
            else:
                reason = b._refusal(want, holds=False)
            if reason is not None:
                b.reached = b.reached or reason
                raise BudgetReached(reason, b)
        for b in chain:
            reason = b._refusal(want, holds=True)
            if reason is not None:
                return reason
        for b in chain:
            b.reserved_usd += want.usd
            b.reserved_tokens += want.tokens
            b.in_flight += 1
        return Reservation(self, want)

    def _wake_all(self) -> None:
        """Under the lock: room may have been freed; every waiter tries again."""
        for loop, waiter in self._waiters:
            loop.call_soon_threadsafe(_resolve, waiter)


class Reservation:
    """Room held for one call. Settle it with the real usage once it is known, or release it."""

    __slots__ = ("_open", "amount", "budget")

    def __init__(self, budget: Budget, amount: _Amount) -> None:
        self.budget = budget
        self.amount = amount
        self._open = True

    @property
    def usd(self) -> float:
        return self.amount.usd

    def settle(self, *, usd: float | None, tokens: int) -> list[Budget]:
        """Replace the hold with the real cost; returns the budgets that passed warn_at just now.

        `usd` None (the price became unknown) is charged at the reserved worst case."""
        return self._close(_Amount(self.amount.usd if usd is None else usd, tokens))

    def release(self) -> None:
        """The call was not billed (never sent, or refused before any work): free the hold."""
        self._close(_Amount(0.0, 0))

    def _close(self, actual: _Amount) -> list[Budget]:
        crossed = []
        with self.budget._lock:
            if not self._open:
                raise RuntimeError("this reservation was already settled or released")
            self._open = False
            for b in self.budget._chain():
                b.reserved_usd = max(b.reserved_usd - self.amount.usd, 0.0)
                b.reserved_tokens -= self.amount.tokens
                b.in_flight -= 1
                b.spent_usd += actual.usd
                b.spent_tokens += actual.tokens
                if not b.warned and (b.usd or b.tokens) and b.share >= b.warn_at - _EPS:
                    b.warned = True
                    crossed.append(b)
            self.budget._wake_all()
        return crossed


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("loom_budget", default=None)


def current_budget() -> Budget | None:
    """The budget of the run this task belongs to (agents use it unless given their own)."""
    return _current.get()


def use_budget(budget: Budget | None) -> contextvars.Token[Budget | None]:
    """Make `budget` the current one for this task and the tasks it starts (reset with the token)."""
    return _current.set(budget)


def reset_budget(token: contextvars.Token[Budget | None]) -> None:
    _current.reset(token)


def _size(part: object) -> int:
    if isinstance(part, TextPart):
        return len(part.text.encode())
    if isinstance(part, ToolResultPart):
        return len(part.content.encode()) + len(part.tool_call_id) + len(part.name)
    if isinstance(part, ToolCallPart):
        return len(part.id) + len(part.name) + len(json.dumps(part.arguments))
    return 0


def worst_case(
    messages: Sequence[Message],
    *,
    system: str,
    tools: Sequence[ToolDefinition],
    settings: ModelSettings,
    price: Price | None,
) -> tuple[float | None, int]:
    """(USD, tokens) a request can cost at most: its input estimated high plus all of max_tokens,
    the input at the dearest input rate (cache writes cost more than plain input)."""
    sent = len(system.encode()) + sum(
        len(t.name) + len(t.description.encode()) + len(json.dumps(t.parameters)) for t in tools
    )
    sent += sum(_size(p) for m in messages for p in m.parts)
    input_tokens = REQUEST_OVERHEAD_TOKENS + MESSAGE_OVERHEAD_TOKENS * len(messages) + -(-sent // BYTES_PER_TOKEN)
    tokens = input_tokens + settings.max_tokens
    if price is None:
        return None, tokens
    input_rate = max(price.input, price.cache_write or 0.0, price.cache_read or 0.0)
    return input_tokens * input_rate + settings.max_tokens * price.output, tokens
