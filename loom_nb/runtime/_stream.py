"""async_stream: Elixir's Task.async_stream on asyncio (bounded concurrency, per-item timeouts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

__all__ = ["StreamResult", "StreamTimeout", "async_stream"]

T = TypeVar("T")
R = TypeVar("R")


class StreamTimeout(TimeoutError):
    """An item timed out with on_timeout="exit": the whole stream was stopped."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamResult(Generic[R]):
    """The outcome of one item: ("ok", value) or ("exit", reason) as in Elixir."""

    kind: Literal["ok", "exit"]
    index: int
    """Position of the item in the input."""
    item: Any
    value: R | None = None
    """fn(item)'s result when kind == "ok"."""
    reason: BaseException | Literal["timeout"] | None = None
    """When kind == "exit": "timeout", or the exception fn raised."""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


async def _run_one(fn: Callable[[T], Awaitable[R]], item: T, timeout: float | None) -> tuple[str, Any]:
    try:
        async with asyncio.timeout(timeout) as scope:
            return "ok", await fn(item)
    except TimeoutError as exc:
        return ("exit", "timeout") if scope.expired() else ("exit", exc)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # SystemExit too: one item's exit, never the loop's end
        return "exit", exc


async def async_stream(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    max_concurrency: int = 8,
    timeout: float | None = 5.0,
    on_timeout: Literal["kill_task", "exit"] = "kill_task",
    ordered: bool = True,
) -> AsyncIterator[StreamResult[R]]:
    """Run `fn` over `items` with at most `max_concurrency` in flight, yielding StreamResults.

    ordered=True yields in input order (later results wait for earlier ones); False yields as they
    finish. An item running past `timeout` seconds is cancelled and yields an exit "timeout"
    result (on_timeout="kill_task"), or stops the whole stream with StreamTimeout ("exit").
    An exception in fn yields an exit result carrying it; the others go on (Elixir's
    async_stream_nolink). Items are pulled lazily; leaving the loop early cancels what is in flight.
    Defaults: Elixir's 5 s timeout; 8 in flight because our items wait on the network, not a core.
    """
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency must be >= 1; got {max_concurrency}")
    if on_timeout not in ("kill_task", "exit"):
        raise ValueError(f"on_timeout must be 'kill_task' or 'exit'; got {on_timeout!r}")
    loop = asyncio.get_running_loop()
    source = iter(items)
    exhausted = False
    running: dict[asyncio.Task[tuple[str, Any]], tuple[int, T]] = {}
    buffer: dict[int, StreamResult[R]] = {}
    next_index = 0
    next_to_yield = 0
    try:
        while True:
            while not exhausted and len(running) < max_concurrency:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                running[loop.create_task(_run_one(fn, item, timeout))] = (next_index, item)
                next_index += 1
            if not running:
                return
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            finished: list[StreamResult[R]] = []
            for task in sorted(done, key=lambda t: running[t][0]):
                index, item = running.pop(task)
                kind, payload = task.result()
                if kind == "ok":
                    finished.append(StreamResult(kind="ok", index=index, item=item, value=payload))
                else:
                    if payload == "timeout" and on_timeout == "exit":
                        raise StreamTimeout(f"item {index} ({item!r}) ran past {timeout} s")
                    finished.append(StreamResult(kind="exit", index=index, item=item, reason=payload))
            if ordered:
                for result in finished:
                    buffer[result.index] = result
                while next_to_yield in buffer:
                    yield buffer.pop(next_to_yield)
                    next_to_yield += 1
            else:
                for result in finished:
                    yield result
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
