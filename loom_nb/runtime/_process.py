"""Processes: an asyncio task with an identity, a mailbox, call/cast, and monitors (OTP's DOWN notices)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "Call",
    "CallError",
    "CallTimeout",
    "Down",
    "ExitReason",
    "MailboxFull",
    "Process",
    "ProcessExit",
    "is_abnormal",
    "spawn",
]

log = logging.getLogger("loom_nb.runtime")

ExitReason = str | BaseException
"""Why a process ended: "normal" (its body returned), "shutdown" (it was asked to stop and did),
"killed" (cancelled, for example after its grace timeout ran out), or the exception it raised."""

NORMAL: Final = "normal"
SHUTDOWN: Final = "shutdown"
KILLED: Final = "killed"


def is_abnormal(reason: ExitReason) -> bool:
    """OTP's rule: anything but normal or shutdown is a crash (transient children restart on it)."""
    return not (isinstance(reason, str) and reason in (NORMAL, SHUTDOWN))


class ProcessExit(BaseException):
    """Raised inside a process to end it with `reason`; `receive()` raises it when a stop was asked."""

    def __init__(self, reason: ExitReason = SHUTDOWN) -> None:
        super().__init__(reason)
        self.reason = reason


class CallError(RuntimeError):
    """A call could not be answered because the callee is not alive or exited before replying."""


class CallTimeout(TimeoutError):
    """A call got no reply within its timeout (the callee keeps running)."""


class MailboxFull(RuntimeError):
    """cast() into a bounded mailbox that is full; use `await process.send(msg)` to wait for room."""


@dataclass(frozen=True, slots=True)
class Down:
    """The notice a monitor receives when the watched process ends."""

    ref: int
    """The monitor reference returned by `monitor()` / `add_monitor()`."""
    process: Process
    reason: ExitReason

    @property
    def abnormal(self) -> bool:
        return is_abnormal(self.reason)


class Call:
    """A request in a mailbox that expects a reply: answer it with `reply()` (or `fail()`)."""

    __slots__ = ("_future", "request")

    def __init__(self, request: Any, future: asyncio.Future[Any]) -> None:
        self.request = request
        self._future = future

    def reply(self, value: Any = None) -> None:
        if not self._future.done():
            self._future.set_result(value)

    def fail(self, exc: BaseException) -> None:
        if not self._future.done():
            self._future.set_exception(exc)

    def __repr__(self) -> str:
        return f"Call({self.request!r})"


_STOP: Final = object()  # wakes a receive() when a stop is requested
_pids = itertools.count(1)

Match = Callable[[Any], bool]
"""A selective receive's pattern: True for the messages it takes (Erlang's `receive` with a pattern)."""


class _Mailbox:
    """FIFO of messages, optionally bounded, with selective receive: a reader may take the first
    message its pattern accepts and leave the others, in order, for other readers (asyncio.Queue
    cannot: its get() takes whatever is first). A put wakes only the first reader whose pattern
    accepts the message, so a reader waiting for one kind is not woken by every other kind."""

    __slots__ = ("_closed", "_getters", "_items", "_putters", "maxsize")

    def __init__(self, maxsize: int = 0) -> None:
        self._items: deque[Any] = deque()
        self.maxsize = maxsize
        self._getters: deque[tuple[asyncio.Future[None], Match | None]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def put_nowait(self, message: Any) -> None:
        if self._closed:
            return  # its process ended: dropped, as OTP drops a message to a dead process
        if self.full():
            raise asyncio.QueueFull
        self._items.append(message)
        for entry in self._getters:
            fut, match = entry
            if not fut.done() and (match is None or match(message)):
                self._getters.remove(entry)
                fut.set_result(None)
                break

    async def put(self, message: Any) -> None:
        while self.full():
            fut = asyncio.get_running_loop().create_future()
            self._putters.append(fut)
            try:
                await fut
            except BaseException:
                if fut in self._putters:
                    self._putters.remove(fut)
                elif not fut.cancelled():  # woken but cancelled: hand the room on
                    self._wake_putter()
                raise
        self.put_nowait(message)

    def take(self, match: Match | None = None) -> tuple[bool, Any]:
        """(True, the first message `match` accepts), removed; (False, None) when none waits."""
        items = self._items
        if match is None:
            if not items:
                return False, None
            message = items.popleft()
        else:
            for i, message in enumerate(items):
                if match(message):
                    del items[i]
                    break
            else:
                return False, None
        self._wake_putter()
        return True, message

    def take_all(self, match: Match, limit: int | None = None) -> list[Any]:
        """The waiting messages `match` accepts (at most `limit`), removed, in arrival order; the rest
        stay in order."""
        if not self._items:  # the common case between two turns: nothing waits
            return []
        taken: list[Any] = []
        kept: deque[Any] = deque()
        for message in self._items:
            (taken if (limit is None or len(taken) < limit) and match(message) else kept).append(message)
        if taken:
            self._items = kept
            for _ in taken:
                self._wake_putter()
        return taken

    def close(self, error: BaseException) -> list[Any]:
        """The owner ended: readers still waiting get `error`, writers waiting for room are let go
        (their message is dropped, as a cast to a dead process is); returns what was unread."""
        self._closed = True
        self.maxsize = 0
        unread = list(self._items)
        self._items.clear()
        getters, self._getters = self._getters, deque()
        for fut, _ in getters:
            if not fut.done():
                fut.set_exception(error)
        while self._putters:
            self._wake_putter()
        return unread

    async def get(self, match: Match | None = None) -> Any:
        while True:
            found, message = self.take(match)
            if found:
                return message
            fut = asyncio.get_running_loop().create_future()
            entry = (fut, match)
            self._getters.append(entry)
            try:
                await fut
            except BaseException:
                if entry in self._getters:
                    self._getters.remove(entry)
                elif not fut.cancelled():  # woken for a message but cancelled: let another reader have it
                    self._rewake()
                raise

    def _wake_putter(self) -> None:
        while self._putters:
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _rewake(self) -> None:
        for entry in list(self._getters):
            fut, match = entry
            if not fut.done() and any(match is None or match(m) for m in self._items):
                self._getters.remove(entry)
                fut.set_result(None)
                return


Body = Callable[["Process"], Awaitable[Any]]


class Process:
    """A supervised unit of work: `body(process)` runs as one asyncio task.

    The body reads its mailbox with `await process.receive()`. Other code talks to it with
    `cast(msg)` (fire and forget) or `await call(request, timeout)` (the body answers with
    `msg.reply(value)`). Every exit fires the monitors with its reason.

    Stopping follows OTP: a process that does not trap exits is cancelled at once (its `finally`
    blocks are its clean-up) and exits with the stop reason. One that traps exits
    (`trap_exit=True`, as supervisors do) is asked first: receive() raises ProcessExit and
    `stopping` turns true; only if it has not ended after the grace timeout is it cancelled, and
    its reason is then "killed".
    """

    __slots__ = (
        "__weakref__",
        "_body",
        "_done",
        "_forced",
        "_mailbox",
        "_monitors",
        "_pending_calls",
        "_stop_reason",
        "_task",
        "exit_reason",
        "name",
        "pid",
        "restarts",
        "result",
        "trap_exit",
        "unread",
    )

    def __init__(
        self, body: Body, *, name: Hashable | None = None, mailbox_size: int = 0, trap_exit: bool = False
    ) -> None:
        self.pid: int = next(_pids)
        self.name = name
        self.trap_exit = trap_exit
        self._body = body
        self._mailbox = _Mailbox(mailbox_size)
        self._monitors: dict[int, Callable[[Down], None]] = {}
        self._pending_calls: set[asyncio.Future[Any]] = set()
        self._stop_reason: ExitReason | None = None
        self._forced = False
        self._task: asyncio.Task[None] | None = None
        self._done: asyncio.Future[ExitReason] | None = None
        self.exit_reason: ExitReason | None = None
        """None while alive; then why it ended."""
        self.result: Any = None
        """What the body returned (normal exit only)."""
        self.restarts = 0
        """How often its supervisor had restarted this child before starting this incarnation."""
        self.unread: tuple[Any, ...] = ()
        """The messages (not calls) still in its mailbox when it ended: a successor may take them over
        (the swarm's post office hands an agent's unread letters to its restarted incarnation)."""

    def __repr__(self) -> str:
        state = "alive" if self.alive else f"exited {self.exit_reason!r}"
        label = f" {self.name!r}" if self.name is not None else ""
        return f"<Process {self.pid}{label} {state}>"

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> Process:
        if self._task is not None:
            raise RuntimeError(f"{self!r} was already started; each Process may be started once")
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._task = loop.create_task(self._run(), name=f"loom-process-{self.pid}")
        self._task.add_done_callback(self._on_task_done)
        return self

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        # A task cancelled before its first step never runs _run(): finish it here.
        if self.exit_reason is None:
            self._finish(self._cancel_reason())

    def _cancel_reason(self) -> ExitReason:
        return KILLED if (self._forced or self._stop_reason is None) else self._stop_reason

    async def _run(self) -> None:
        reason: ExitReason
        try:
            self.result = await self._body(self)
            reason = NORMAL
        except ProcessExit as exit_:
            reason = exit_.reason
        except asyncio.CancelledError:
            reason = self._cancel_reason()
        except BaseException as exc:
            # SystemExit, KeyboardInterrupt and the like are a crash of this process too: let out of
            # the task, asyncio would re-raise them from run_forever() and kill the loop's thread
            # with every other process on it (a session in a kernel would then never end).
            reason = exc
        self._finish(reason)

    def _finish(self, reason: ExitReason) -> None:
        self.exit_reason = reason
        if is_abnormal(reason) and not isinstance(reason, str):
            log.debug("process %r crashed: %r", self, reason)
        gone = CallError(f"{self!r} exited ({_describe(reason)}) before replying")
        for fut in self._pending_calls:
            if not fut.done():
                fut.set_exception(gone)
        self._pending_calls.clear()
        unread = []
        for msg in self._mailbox.close(CallError(f"{self!r} exited ({_describe(reason)}) while waiting for a message")):
            if isinstance(msg, Call):
                msg.fail(gone)  # callers waiting on unread calls must not hang
            elif msg is not _STOP:
                unread.append(msg)
        self.unread = tuple(unread)
        monitors, self._monitors = self._monitors, {}
        for ref, fn in monitors.items():
            try:
                fn(Down(ref, self, reason))
            except Exception:
                log.exception("monitor of %r failed", self)
        assert self._done is not None
        if not self._done.done():
            self._done.set_result(reason)

    @property
    def alive(self) -> bool:
        return self._task is not None and self.exit_reason is None

    @property
    def stopping(self) -> bool:
        """True once a stop was requested: long-running bodies should wind down when they see it."""
        return self._stop_reason is not None

    async def join(self) -> ExitReason:
        """Wait for the process to end and return its exit reason."""
        if self._done is None:
            raise RuntimeError(f"{self!r} was never started")
        return await asyncio.shield(self._done)

    async def stop(self, reason: ExitReason = SHUTDOWN, timeout: float = 5.0) -> ExitReason:
        """End the process with `reason` (see the class doc); returns its exit reason.

        `timeout` is the grace period: how long a trapping process may take to wind down, or a
        cancelled one to run its clean-up, before it is cancelled (again) and recorded "killed".
        """
        if self._task is None:
            raise RuntimeError(f"{self!r} was never started")
        if self.exit_reason is not None:
            return self.exit_reason
        if asyncio.current_task() is self._task:  # a process stopping itself: exit now, not wait on itself
            raise ProcessExit(reason)
        assert self._done is not None
        if self._stop_reason is None:
            self._stop_reason = reason
            if not self.trap_exit:
                self._task.cancel()
            else:
                try:
                    self._mailbox.put_nowait(_STOP)
                except asyncio.QueueFull:
                    pass  # a full mailbox means receive() will not block; `stopping` is set
        if timeout > 0:
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._done)
            except TimeoutError:
                pass
        if not self._done.done():
            self._forced = True
            self._task.cancel()
            # A body that swallows cancellation is a bug; keep cancelling so stop() cannot hang.
            while not self._done.done():
                try:
                    async with asyncio.timeout(1.0):
                        await asyncio.shield(self._done)
                except TimeoutError:
                    log.warning("%r ignores cancellation; cancelling again", self)
                    self._task.cancel()
        # Let the task itself finish so nothing of it stays pending.
        await asyncio.wait([self._task])
        return self._done.result()

    def kill(self) -> None:
        """Cancel at once (OTP's brutal_kill); the exit reason is "killed"."""
        if self._task is not None and self.exit_reason is None:
            self._forced = True
            self._task.cancel()

    # messages --------------------------------------------------------------------------------

    def cast(self, message: Any) -> None:
        """Put a message in the mailbox without waiting. Dead processes drop it (as in OTP)."""
        if self.exit_reason is not None:
            return
        try:
            self._mailbox.put_nowait(message)
        except asyncio.QueueFull:
            raise MailboxFull(
                f"the mailbox of {self!r} is full ({self._mailbox.maxsize} messages); "
                "use `await process.send(msg)` to wait for room"
            ) from None

    @property
    def mailbox_size(self) -> int:
        """The mailbox's bound (0: unbounded)."""
        return self._mailbox.maxsize

    async def send(self, message: Any) -> None:
        """Put a message in the mailbox, waiting for room if it is bounded (backpressure)."""
        if self.exit_reason is None:
            await self._mailbox.put(message)

    async def call(self, request: Any, timeout: float | None = 5.0) -> Any:
        """Send `request` and wait for the reply; CallTimeout after `timeout` seconds."""
        if not self.alive:
            raise CallError(f"cannot call {self!r}: it is not alive")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending_calls.add(fut)
        try:
            call = Call(request, fut)
            if self._mailbox.full():
                await self._mailbox.put(call)  # bounded and full: wait for room
            else:
                self._mailbox.put_nowait(call)
            async with asyncio.timeout(timeout) as scope:
                return await fut
        except TimeoutError:
            if not scope.expired():
                raise
            raise CallTimeout(f"{self!r} did not reply to {request!r} within {timeout} s") from None
        finally:
            self._pending_calls.discard(fut)

    async def receive(self, timeout: float | None = None, *, match: Match | None = None) -> Any:
        """Next message (plain or Call), or with `match` the first one it accepts, the others left in
        the mailbox in order (selective receive). Raises ProcessExit when a stop was requested,
        TimeoutError when `timeout` passes first, CallError when the process ended meanwhile (a
        reader outside the process)."""
        if self._stop_reason is not None:
            raise ProcessExit(self._stop_reason)
        wanted = None if match is None else (lambda m: m is _STOP or match(m))
        if timeout is None:
            msg = await self._mailbox.get(wanted)
        else:
            async with asyncio.timeout(timeout):
                msg = await self._mailbox.get(wanted)
        if msg is _STOP:
            raise ProcessExit(self._stop_reason)
        return msg

    def take(self, match: Match | None = None, *, limit: int | None = None) -> list[Any]:
        """The messages waiting now that `match` accepts (all, when None; at most `limit`), removed,
        in arrival order; never waits (an empty list when none waits). What it leaves stays in order."""
        if not self._mailbox._items:  # nothing waits: no matcher to build
            return []
        return self._mailbox.take_all(lambda m: m is not _STOP and (match is None or match(m)), limit)

    # monitors --------------------------------------------------------------------------------

    def add_monitor(self, callback: Callable[[Down], None]) -> int:
        """Call `callback(Down)` when this process ends (at once if it already has)."""
        ref = next(_pids)
        if self._task is not None and self.exit_reason is not None:
            callback(Down(ref, self, self.exit_reason))
        else:
            self._monitors[ref] = callback
        return ref

    def remove_monitor(self, ref: int) -> None:
        self._monitors.pop(ref, None)

    def monitor(self, other: Process) -> int:
        """Deliver a Down message to this process's mailbox when `other` ends."""
        return other.add_monitor(self._deliver_down)

    def _deliver_down(self, down: Down) -> None:
        if self.exit_reason is None:
            try:
                self._mailbox.put_nowait(down)
            except asyncio.QueueFull:
                log.warning("DOWN notice for %r dropped: the mailbox of %r is full", down.process, self)


def _describe(reason: ExitReason) -> str:
    if isinstance(reason, str):
        return reason
    return f"{type(reason).__name__}: {reason}"


def spawn(body: Body, *, name: Hashable | None = None, mailbox_size: int = 0, trap_exit: bool = False) -> Process:
    """Start `body` as a process on the running loop. The caller owns it: stop it when done."""
    return Process(body, name=name, mailbox_size=mailbox_size, trap_exit=trap_exit).start()
