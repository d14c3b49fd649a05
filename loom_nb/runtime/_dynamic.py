"""DynamicSupervisor: children started on demand (agents of a swarm, sub-agents), one_for_one."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from ._process import Process
from ._registry import Registry
from ._supervisor import ChildSpec, _Child, _SupervisorBase

__all__ = ["DynamicSupervisor", "MaxChildrenReached"]


class MaxChildrenReached(RuntimeError):
    """start_child() past max_children."""


class DynamicSupervisor(_SupervisorBase):
    """Starts children on request; a crash restarts only that child (by its restart type).

    Children that end for good (temporary, or transient after a normal exit) are removed, so
    count_children() tells how many are live or awaiting restart.
    """

    _drops_finished_children = True

    def __init__(
        self,
        *,
        max_children: int | None = None,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        registry: Registry | None = None,
        name: Hashable | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(max_restarts=max_restarts, max_seconds=max_seconds, registry=registry, name=name, clock=clock)
        if max_children is not None and max_children < 1:
            raise ValueError(f"max_children must be >= 1 or None; got {max_children}")
        self.max_children = max_children

    def __repr__(self) -> str:
        return f"<DynamicSupervisor {self.name!r}>"

    async def _handle_call(self, request: tuple[Any, ...]) -> Any:
        op, *args = request
        if op == "start_child":
            (spec,) = args
            if not isinstance(spec, ChildSpec):
                raise TypeError(f"start_child needs a ChildSpec; got {type(spec).__name__}")
            if self.max_children is not None and len(self._children) >= self.max_children:
                raise MaxChildrenReached(
                    f"{self!r} already has {len(self._children)} children (max_children={self.max_children})"
                )
            child = _Child(spec)
            process = self._spawn(child)  # raises (and starts nothing) if its registry name is taken
            self._children.append(child)
            return process
        if op == "terminate_child":
            (target,) = args
            for child in self._children:
                if child.process is target or (not isinstance(target, Process) and child.spec.id == target):
                    self._children.remove(child)
                    await self._terminate(child)
                    return True
            return False
        return await super()._handle_call(request)

    async def start_child(self, spec: ChildSpec) -> Process:
        """Start a child now; returns its process."""
        return await self.process.call(("start_child", spec))

    async def terminate_child(self, child: Process | Hashable) -> bool:
        """Stop a child (by process or spec id) and forget it; False if it was not a child."""
        return await self.process.call(("terminate_child", child), timeout=None)
