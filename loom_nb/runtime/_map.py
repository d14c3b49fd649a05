"""supervised_map: async_stream where every item runs as a temporary child of a DynamicSupervisor."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, TypeVar

from ._dynamic import DynamicSupervisor
from ._process import Process
from ._stream import StreamResult, async_stream
from ._supervisor import ChildSpec

__all__ = ["supervised_map"]

T = TypeVar("T")
R = TypeVar("R")


async def supervised_map(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    supervisor: DynamicSupervisor,
    max_concurrency: int = 8,
    timeout: float | None = None,
    name: Callable[[int, T], Hashable] | None = None,
) -> list[StreamResult[R]]:
    """fn(item) for every item, each in its own supervised process (registered as name(index, item)),
    at most max_concurrency at once; results in input order. A child that crashes or is stopped
    gives an exit result and the others go on."""
    loop = asyncio.get_running_loop()

    async def run_one(indexed: tuple[int, T]) -> R:
        index, item = indexed
        done: asyncio.Future[Any] = loop.create_future()

        async def body(proc: Process) -> None:
            value = await fn(item)
            if not done.done():
                done.set_result(value)

        proc = await supervisor.start_child(
            ChildSpec(id=index, start=body, restart="temporary", name=name(index, item) if name else None)
        )
        reason = await proc.join()
        if done.done():
            return done.result()
        if isinstance(reason, Exception):
            raise reason
        if isinstance(reason, BaseException):  # SystemExit and the like: this child's crash, not ours
            raise RuntimeError(f"crashed: {type(reason).__name__}: {reason}") from reason
        raise RuntimeError(f"stopped ({reason})")

    results = [
        r async for r in async_stream(run_one, enumerate(items), max_concurrency=max_concurrency, timeout=timeout)
    ]
    return [dataclasses.replace(r, item=r.item[1]) for r in results]
