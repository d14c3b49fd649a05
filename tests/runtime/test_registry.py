import asyncio

import pytest

from loom_nb.runtime import ANY, AlreadyRegistered, Process, Registry, spawn


async def idle(proc: Process) -> None:
    await asyncio.Event().wait()


async def test_register_lookup_unregister_and_select():
    reg = Registry()
    a, b, c = spawn(idle), spawn(idle), spawn(idle)
    reg.register(("researcher", "s1"), a)
    reg.register(("researcher", "s2"), b)
    reg.register(("tester", "s1"), c)
    reg.register("lead", a)  # one process may hold several keys
    assert reg.lookup(("researcher", "s1")) is a
    assert reg.lookup("nobody") is None
    assert sorted(k for k, _ in reg.select((ANY, "s1"))) == [("researcher", "s1"), ("tester", "s1")]
    assert [p for _, p in reg.select(lambda k: k == "lead")] == [a]
    with pytest.raises(AlreadyRegistered, match="already registered"):
        reg.register(("researcher", "s1"), b)
    reg.unregister(("tester", "s1"))
    assert ("tester", "s1") not in reg
    for p in (a, b, c):
        await p.stop()


async def test_entries_vanish_when_their_process_exits():
    reg = Registry()
    a = spawn(idle)
    reg.register("k", a)
    reg.register("k2", a)
    await a.stop()
    assert reg.lookup("k") is None and len(reg) == 0
    b = spawn(idle)
    reg.register("k", b)  # the key is free again
    assert reg.lookup("k") is b
    await b.stop()


async def test_a_dead_process_cannot_be_registered():
    a = spawn(idle)
    await a.stop()
    with pytest.raises(ValueError, match="has exited"):
        Registry().register("k", a)
