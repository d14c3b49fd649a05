"""Supervisors: OTP's restart strategies, restart types and restart intensity, on asyncio processes."""

from __future__ import annotations

import asyncio
import builtins
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ._process import Body, Call, Down, ExitReason, Process, is_abnormal
from ._registry import Registry

__all__ = [
    "ChildInfo",
    "ChildSpec",
    "ChildSpecError",
    "RestartIntensityExceeded",
    "Supervisor",
]

log = logging.getLogger("loom_nb.runtime")

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
RestartType = Literal["permanent", "transient", "temporary"]
ChildType = Literal["worker", "supervisor"]


class ChildSpecError(ValueError):
    """A child spec field is invalid; the message names the field and what it accepts."""


class RestartIntensityExceeded(RuntimeError):
    """More restarts than max_restarts within max_seconds: the supervisor gave up and exited."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildSpec:
    """How to start, restart and stop one child. Data only: the supervisor does the work."""

    id: Hashable
    """Unique among the supervisor's children."""
    start: Body
    """`async def body(process)`: the child's work; a fresh process runs it on every (re)start."""
    restart: RestartType = "permanent"
    """permanent: always restarted; transient: restarted only after a crash; temporary: never."""
    shutdown: float = 5.0
    """Grace seconds between the stop request and cancellation (math.inf: wait forever, as for
    supervisors; 0: cancel at once)."""
    type: ChildType = "worker"
    name: Hashable | None = None
    """Key to register each incarnation under in the supervisor's registry (None: unregistered)."""
    mailbox_size: int = 0
    """0: unbounded; else cast() raises MailboxFull and send() waits (backpressure)."""
    trap_exit: bool = False
    """True: a stop is a request the child sees (receive() raises ProcessExit) and it gets the
    `shutdown` grace before cancellation; False: it is cancelled at once (OTP's default)."""

    def __post_init__(self) -> None:
        try:
            hash(self.id)
        except TypeError:
            raise ChildSpecError(f"id must be hashable; got {type(self.id).__name__}") from None
        if not callable(self.start):
            raise ChildSpecError(f"start must be an async function of the process; got {self.start!r}")
        if self.restart not in get_args(RestartType):
            raise ChildSpecError(f"restart must be one of {', '.join(get_args(RestartType))}; got {self.restart!r}")
        if self.type not in get_args(ChildType):
            raise ChildSpecError(f"type must be worker or supervisor; got {self.type!r}")
        if not isinstance(self.shutdown, int | float) or self.shutdown < 0 or math.isnan(self.shutdown):
            raise ChildSpecError(f"shutdown must be seconds >= 0 or math.inf; got {self.shutdown!r}")
        if not isinstance(self.mailbox_size, int) or self.mailbox_size < 0:
            raise ChildSpecError(f"mailbox_size must be an int >= 0; got {self.mailbox_size!r}")


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One row of which_children()."""

    id: Hashable
    process: Process | None
    """The running incarnation, or None (a transient child that ended normally, or restarting)."""
    type: ChildType
    restart: RestartType


@dataclass(slots=True)
class _Child:
    spec: ChildSpec
    process: Process | None = None
    monitor_ref: int | None = None
    starts: int = 0


@dataclass(slots=True)
class _Intensity:
    max_restarts: int
    max_seconds: float
    clock: Callable[[], float]
    stamps: deque[float] = field(default_factory=deque)

    def add_restart(self) -> bool:
        """Record a restart; False when the limit is now exceeded (a sliding window, as in OTP)."""
        now = self.clock()
        self.stamps.append(now)
        while self.stamps and self.stamps[0] < now - self.max_seconds:
            self.stamps.popleft()
        return len(self.stamps) <= self.max_restarts


class _SupervisorBase:
    """What static and dynamic supervisors share: a process that owns child processes."""

    def __init__(
        self,
        *,
        max_restarts: int,
        max_seconds: float,
        registry: Registry | None,
        name: Hashable | None,
        clock: Callable[[], float],
    ) -> None:
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0; got {max_restarts}")
        if max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0; got {max_seconds}")
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.registry = registry
        self.name = name
        self._clock = clock
        self._children: list[_Child] = []
        self._process: Process | None = None
        self._ready: asyncio.Future[None] | None = None
        self._intensity = _Intensity(max_restarts, max_seconds, clock)

    # the supervisor as a process -------------------------------------------------------------

    @property
    def process(self) -> Process:
        if self._process is None:
            raise RuntimeError(f"{self!r} is not running; call `await supervisor.start()` first")
        return self._process

    async def start(self) -> _SupervisorBase:
        """Start as a top-level process; returns once the initial children are started."""
        if self._process is not None and self._process.alive:
            raise RuntimeError(f"{self!r} is already running")
        ready = self._ready = asyncio.get_running_loop().create_future()
        proc = Process(self._body, name=self.name, trap_exit=True).start()
        assert proc._done is not None

        def ended(_: object) -> None:  # the body ended before it was ready
            if not ready.done():
                ready.set_exception(RuntimeError(f"{self!r} failed to start: {proc.exit_reason!r}"))

        # A callback, not asyncio.wait() on both futures: that costs a waiter, a set and two callbacks per
        # start (a swarm starts a supervisor per task, a hundred at once).
        proc._done.add_done_callback(ended)
        try:
            await ready
        finally:
            proc._done.remove_done_callback(ended)
        return self

    def child_spec(self, id: Hashable | None = None, *, restart: RestartType = "permanent") -> ChildSpec:
        """A spec to nest this supervisor under another (shutdown=inf: it stops its own children)."""
        return ChildSpec(
            id=id if id is not None else (self.name if self.name is not None else builtins.id(self)),
            start=self._body,
            restart=restart,
            shutdown=math.inf,
            type="supervisor",
            name=self.name,
            trap_exit=True,
        )

    async def stop(self, timeout: float = math.inf) -> ExitReason:
        """Stop the children in reverse start order, then the supervisor itself."""
        return await self.process.stop("shutdown", timeout=timeout)

    async def join(self) -> ExitReason:
        return await self.process.join()

    async def which_children(self) -> list[ChildInfo]:
        return await self.process.call(("which_children",))

    async def count_children(self) -> dict[str, int]:
        """specs, active, supervisors, workers (OTP's count_children)."""
        return await self.process.call(("count_children",))

    async def _body(self, proc: Process) -> None:
        self._process = proc
        self._children = []
        self._intensity = _Intensity(self.max_restarts, self.max_seconds, self._clock)
        try:
            await self._init()
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
            while True:
                msg = await proc.receive()
                if isinstance(msg, Down):
                    await self._on_down(msg)
                elif isinstance(msg, Call):
                    try:
                        msg.reply(await self._handle_call(msg.request))
                    except Exception as exc:  # a bad request fails the caller, not the supervisor
                        msg.fail(exc)
                else:
                    log.warning("%r ignored unexpected message %r", self, msg)
        finally:
            await self._terminate_all()

    async def _init(self) -> None:
        """Start the initial children (static supervisors)."""

    async def _handle_call(self, request: tuple[Any, ...]) -> Any:
        op = request[0]
        if op == "which_children":
            return [ChildInfo(c.spec.id, c.process, c.spec.type, c.spec.restart) for c in self._children]
        if op == "count_children":
            return {
                "specs": len(self._children),
                "active": sum(1 for c in self._children if c.process is not None and c.process.alive),
                "supervisors": sum(1 for c in self._children if c.spec.type == "supervisor"),
                "workers": sum(1 for c in self._children if c.spec.type == "worker"),
            }
        raise ValueError(f"unknown supervisor request {op!r}")

    # children --------------------------------------------------------------------------------

    def _spawn(self, child: _Child) -> Process:
        spec = child.spec
        proc = Process(
            spec.start,
            name=spec.name if spec.name is not None else spec.id,
            mailbox_size=spec.mailbox_size,
            trap_exit=spec.trap_exit,
        )
        if spec.name is not None and self.registry is not None:
            self.registry.register(spec.name, proc)
        proc.restarts, child.starts = child.starts, child.starts + 1
        child.process = proc
        child.monitor_ref = self.process.monitor(proc)
        proc.start()
        return proc

    async def _terminate(self, child: _Child) -> None:
        proc, child.process = child.process, None
        if proc is None:
            return
        if child.monitor_ref is not None:
            proc.remove_monitor(child.monitor_ref)
            child.monitor_ref = None
        await proc.stop("shutdown", timeout=child.spec.shutdown)

    async def _terminate_all(self) -> None:
        for child in reversed(self._children):
            try:
                await self._terminate(child)
            except Exception:  # keep going: one failed stop must not leave the older siblings running
                log.exception("%r: stopping child %r failed", self, child.spec.id)

    def _find(self, proc: Process) -> _Child | None:
        for child in self._children:
            if child.process is proc:
                return child
        return None

    async def _on_down(self, down: Down) -> None:
        child = self._find(down.process)
        if child is None:
            return  # a child we stopped ourselves
        child.process = None
        child.monitor_ref = None
        restart = child.spec.restart
        if restart == "temporary" or (restart == "transient" and not is_abnormal(down.reason)):
            if restart == "temporary" or self._drops_finished_children:
                self._children.remove(child)
            return
        log.info("%r: child %r exited (%r); restarting", self, child.spec.id, down.reason)
        if not self._intensity.add_restart():
            raise RestartIntensityExceeded(
                f"{self.max_restarts + 1} restarts within {self.max_seconds} s "
                f"(max_restarts={self.max_restarts}); last: child {child.spec.id!r} exited with "
                f"{down.reason!r}"
            )
        await self._restart(child)

    _drops_finished_children = False

    async def _restart(self, child: _Child) -> None:
        self._spawn(child)


class Supervisor(_SupervisorBase):
    """A static supervisor: children from specs, started in order, restarted by `strategy`.

    Defaults: 3 restarts within 5 s (Elixir's, not OTP's 1 in 5 s): model calls fail in bursts
    (a rate-limit storm), and one retry-exhausted agent should not take its siblings down.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec] = (),
        *,
        strategy: Strategy = "one_for_one",
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        registry: Registry | None = None,
        name: Hashable | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(max_restarts=max_restarts, max_seconds=max_seconds, registry=registry, name=name, clock=clock)
        if strategy not in get_args(Strategy):
            raise ValueError(f"strategy must be one of {', '.join(get_args(Strategy))}; got {strategy!r}")
        ids = [spec.id for spec in children]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ChildSpecError(f"child ids must be unique; repeated: {sorted(map(repr, dupes))}")
        self.strategy: Strategy = strategy
        self._specs = list(children)

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r} {self.strategy}>"

    async def _init(self) -> None:
        for spec in self._specs:
            child = _Child(spec)
            self._children.append(child)
            self._spawn(child)

    async def _restart(self, child: _Child) -> None:
        if self.strategy == "one_for_one":
            self._spawn(child)
            return
        index = self._children.index(child)
        affected = self._children if self.strategy == "one_for_all" else self._children[index:]
        for other in reversed(affected):
            if other is not child:
                await self._terminate(other)
        # Temporary siblings stopped for the failure of another are not restarted (OTP does the same).
        for other in list(affected):
            if other is not child and other.spec.restart == "temporary":
                self._children.remove(other)
        for other in [c for c in affected if c in self._children]:
            self._spawn(other)
