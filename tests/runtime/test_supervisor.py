import asyncio
import math

import pytest

from loom_nb.runtime import (
    ChildSpec,
    ChildSpecError,
    DynamicSupervisor,
    MaxChildrenReached,
    Process,
    Registry,
    RestartIntensityExceeded,
    Supervisor,
)


class Journal:
    """Children report starts and stops here; tests wait on it instead of sleeping."""

    def __init__(self) -> None:
        self.starts: asyncio.Queue[tuple[str, Process]] = asyncio.Queue()
        self.stops: list[str] = []
        self.crash: dict[str, asyncio.Event] = {}
        self.finish: dict[str, asyncio.Event] = {}

    def spec(self, cid: str, restart: str = "permanent", **kw) -> ChildSpec:
        self.crash[cid] = asyncio.Event()
        self.finish[cid] = asyncio.Event()

        async def body(proc: Process) -> None:
            await self.starts.put((cid, proc))
            try:
                crash = asyncio.ensure_future(self.crash[cid].wait())
                finish = asyncio.ensure_future(self.finish[cid].wait())
                try:
                    await asyncio.wait([crash, finish], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    crash.cancel()
                    finish.cancel()
                    await asyncio.wait([crash, finish])
                if self.crash[cid].is_set():
                    self.crash[cid].clear()
                    raise RuntimeError(f"{cid} crashed")
                self.finish[cid].clear()
            finally:
                self.stops.append(cid)

        return ChildSpec(id=cid, start=body, restart=restart, **kw)

    async def started(self, n: int) -> list[str]:
        return [(await self.starts.get())[0] for _ in range(n)]


async def test_one_for_one_restarts_only_the_crashed_child():
    j = Journal()
    sup = Supervisor([j.spec("a"), j.spec("b"), j.spec("c")], strategy="one_for_one")
    await sup.start()
    assert await j.started(3) == ["a", "b", "c"]
    before = {c.id: c.process for c in await sup.which_children()}
    j.crash["b"].set()
    assert await j.started(1) == ["b"]
    after = {c.id: c.process for c in await sup.which_children()}
    assert after["a"] is before["a"] and after["c"] is before["c"]  # siblings untouched
    assert after["b"] is not before["b"] and after["b"].alive
    await sup.stop()


async def test_one_for_all_restarts_everyone_in_start_order():
    j = Journal()
    sup = Supervisor([j.spec("a"), j.spec("b"), j.spec("c")], strategy="one_for_all")
    await sup.start()
    await j.started(3)
    j.crash["b"].set()
    assert await j.started(3) == ["a", "b", "c"]
    assert j.stops == ["b", "c", "a"]  # b crashed, then the others stopped in reverse start order
    await sup.stop()


async def test_rest_for_one_restarts_the_child_and_those_started_after_it():
    j = Journal()
    sup = Supervisor([j.spec("a"), j.spec("b"), j.spec("c")], strategy="rest_for_one")
    await sup.start()
    await j.started(3)
    first_a = (await sup.which_children())[0].process
    j.crash["b"].set()
    assert await j.started(2) == ["b", "c"]
    assert (await sup.which_children())[0].process is first_a
    await sup.stop()


async def test_restart_types():
    j = Journal()
    sup = Supervisor([j.spec("perm"), j.spec("trans", "transient"), j.spec("temp", "temporary")])
    await sup.start()
    await j.started(3)
    # permanent: restarted even after a normal exit
    j.finish["perm"].set()
    assert await j.started(1) == ["perm"]
    # transient: restarted after a crash, not after a normal exit
    j.crash["trans"].set()
    assert await j.started(1) == ["trans"]
    j.finish["trans"].set()
    # temporary: never restarted, and dropped from the children
    j.crash["temp"].set()
    # which_children is answered after the supervisor handled both DOWN notices (mailbox order)
    await _until(lambda: "temp" in j.stops and j.stops.count("trans") == 2)
    children = {c.id: c for c in await sup.which_children()}
    assert "temp" not in children
    assert children["trans"].process is None
    assert children["perm"].process.alive
    assert j.starts.empty()
    await sup.stop()


async def test_restart_intensity_exceeded_stops_children_and_tells_the_parent():
    clock = [100.0]
    j = Journal()
    inner = Supervisor(
        [j.spec("w"), j.spec("other")], max_restarts=2, max_seconds=5, name="inner", clock=lambda: clock[0]
    )
    parent_j = Journal()
    outer = Supervisor([inner.child_spec(restart="temporary"), parent_j.spec("sibling")], name="outer")
    await outer.start()
    assert sorted(await j.started(2) + await parent_j.started(1)) == ["other", "sibling", "w"]
    inner_proc = (await outer.which_children())[0].process
    downs = []
    inner_proc.add_monitor(downs.append)
    for _ in range(2):  # two restarts within the window are allowed
        j.crash["w"].set()
        assert await j.started(1) == ["w"]
        clock[0] += 1
    j.crash["w"].set()  # the third within 5 s is one too many
    reason = await inner_proc.join()
    assert isinstance(reason, RestartIntensityExceeded)
    assert "3 restarts within 5" in str(reason)
    assert [d.reason for d in downs] == [reason]
    assert "other" in j.stops  # inner stopped its remaining children before exiting
    assert (await outer.count_children())["specs"] == 1  # the temporary inner is gone; outer lives
    await outer.stop()


async def test_restarts_outside_the_window_do_not_count():
    clock = [0.0]
    j = Journal()
    sup = Supervisor([j.spec("w")], max_restarts=1, max_seconds=5, clock=lambda: clock[0])
    await sup.start()
    await j.started(1)
    for _ in range(4):
        clock[0] += 6
        j.crash["w"].set()
        assert await j.started(1) == ["w"]
    assert sup.process.alive
    await sup.stop()


async def test_shutdown_stops_children_in_reverse_order_and_leaves_no_task():
    j = Journal()
    sup = Supervisor([j.spec(c) for c in "abcd"])
    await sup.start()
    await j.started(4)
    procs = [c.process for c in await sup.which_children()]
    assert await sup.stop() == "shutdown"
    assert j.stops == ["d", "c", "b", "a"]
    assert all(p.exit_reason == "shutdown" for p in procs)


async def test_grace_timeout_then_cancellation():
    stubborn_released = asyncio.Event()

    async def stubborn(proc: Process) -> None:
        await stubborn_released.wait()  # ignores its mailbox, so only cancellation ends it

    sup = Supervisor([ChildSpec(id="s", start=stubborn, shutdown=0.05, trap_exit=True)])
    await sup.start()
    proc = (await sup.which_children())[0].process
    await sup.stop()
    assert proc.exit_reason == "killed"


def test_child_spec_validation_names_the_field():
    async def body(p):
        return None

    with pytest.raises(ChildSpecError, match="restart must be one of permanent, transient, temporary"):
        ChildSpec(id="x", start=body, restart="sometimes")
    with pytest.raises(ChildSpecError, match="shutdown must be seconds"):
        ChildSpec(id="x", start=body, shutdown=-1)
    with pytest.raises(ChildSpecError, match="id must be hashable"):
        ChildSpec(id=["x"], start=body)
    with pytest.raises(ChildSpecError, match="start must be"):
        ChildSpec(id="x", start="not a function")
    with pytest.raises(ChildSpecError, match="unique"):
        Supervisor([ChildSpec(id="x", start=body), ChildSpec(id="x", start=body)])
    assert ChildSpec(id="x", start=body, shutdown=math.inf).shutdown == math.inf


async def test_dynamic_supervisor_start_terminate_count_and_registry():
    reg = Registry()
    j = Journal()
    dyn = DynamicSupervisor(max_children=3, registry=reg)
    await dyn.start()
    p1 = await dyn.start_child(j.spec("r1", name=("researcher", "s1")))
    p2 = await dyn.start_child(j.spec("r2", "temporary", name=("researcher", "s2")))
    await dyn.start_child(j.spec("t1", name=("tester", "s1")))
    await j.started(3)
    with pytest.raises(MaxChildrenReached, match="max_children=3"):
        await dyn.start_child(j.spec("r3"))
    assert await dyn.count_children() == {"specs": 3, "active": 3, "supervisors": 0, "workers": 3}
    assert reg.lookup(("researcher", "s1")) is p1
    assert {k for k, _ in reg.select(("researcher", ...))} == set()  # Ellipsis is not a wildcard
    from loom_nb.runtime import ANY

    assert {k for k, _ in reg.select(("researcher", ANY))} == {("researcher", "s1"), ("researcher", "s2")}
    # a crash restarts the child and it re-registers under the same key
    j.crash["r1"].set()
    assert await j.started(1) == ["r1"]
    assert reg.lookup(("researcher", "s1")) is not p1 and reg.lookup(("researcher", "s1")).alive
    assert await dyn.terminate_child(p2) is True
    assert p2.exit_reason == "shutdown"
    assert reg.lookup(("researcher", "s2")) is None  # vanished with its process
    assert (await dyn.count_children())["active"] == 2
    assert await dyn.terminate_child(p2) is False
    await dyn.stop()
    assert len(reg) == 0


async def _until(predicate, limit: int = 1000) -> None:
    """Yield to the loop until predicate holds (bounded; a failure, not a hang)."""
    for _ in range(limit):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_start_child_with_a_taken_name_fails_cleanly():
    from loom_nb.runtime import AlreadyRegistered

    reg = Registry()
    j = Journal()
    dyn = DynamicSupervisor(registry=reg)
    await dyn.start()
    await dyn.start_child(j.spec("a", name="lead"))
    await j.started(1)
    with pytest.raises(AlreadyRegistered, match="already registered"):
        await dyn.start_child(j.spec("b", name="lead"))
    assert (await dyn.count_children())["specs"] == 1
    assert j.starts.empty()
    await dyn.stop()


async def test_a_supervisor_whose_children_cannot_start_says_so_and_leaves_nothing_running():
    registry = Registry()
    holder = Process(lambda proc: asyncio.Event().wait()).start()
    registry.register("taken", holder)
    sup = Supervisor([ChildSpec(id="a", start=lambda proc: asyncio.Event().wait(), name="taken")], registry=registry)
    with pytest.raises(RuntimeError, match="failed to start"):
        await sup.start()
    assert not sup.process.alive  # its body ended: the start's error says why, nothing waits on it
    assert registry.lookup("taken") is holder
    holder.kill()
    await holder.join()
