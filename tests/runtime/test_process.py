import asyncio

import pytest

from loom_nb.runtime import (
    Call,
    CallError,
    CallTimeout,
    Down,
    MailboxFull,
    Process,
    ProcessExit,
    spawn,
)


async def echo(proc: Process) -> None:
    while True:
        msg = await proc.receive()
        if isinstance(msg, Call):
            if msg.request == "crash":
                raise ValueError("asked to crash")
            msg.reply(("echo", msg.request))


async def test_call_replies_and_cast_is_delivered():
    seen: list[object] = []

    async def body(proc: Process) -> None:
        while True:
            msg = await proc.receive()
            if isinstance(msg, Call):
                msg.reply(list(seen))
            else:
                seen.append(msg)

    p = spawn(body)
    p.cast("a")
    p.cast("b")
    assert await p.call("what") == ["a", "b"]
    assert await p.stop() == "shutdown"
    assert not p.alive


async def test_call_times_out_and_callee_keeps_running():
    never = asyncio.Event()

    async def body(proc: Process) -> None:
        msg = await proc.receive()
        assert isinstance(msg, Call)
        await never.wait()

    p = spawn(body, trap_exit=True)
    with pytest.raises(CallTimeout, match="did not reply"):
        await p.call("x", timeout=0.05)
    assert p.alive
    assert await p.stop(timeout=0.05) == "killed"  # trapping but busy: grace runs out, cancelled


async def test_stop_of_a_non_trapping_busy_process_is_immediate_with_reason_shutdown():
    never = asyncio.Event()

    async def body(proc: Process) -> None:
        await never.wait()

    p = spawn(body)
    assert await p.stop(timeout=60) == "shutdown"


async def test_call_to_process_that_crashes_fails_instead_of_hanging():
    p = spawn(echo)
    with pytest.raises(CallError, match="ValueError"):
        await p.call("crash")
    assert isinstance(await p.join(), ValueError)


async def test_call_to_dead_process_is_refused():
    p = spawn(echo)
    await p.stop()
    with pytest.raises(CallError, match="not alive"):
        await p.call("x")


async def test_monitor_gets_down_with_each_exit_reason():
    async def returns(proc: Process) -> str:
        return "done"

    async def raises(proc: Process) -> None:
        raise RuntimeError("boom")

    async def exits(proc: Process) -> None:
        raise ProcessExit("custom")

    downs: list[Down] = []

    async def watcher(proc: Process) -> None:
        for _ in range(4):
            downs.append(await proc.receive())

    w = spawn(watcher)
    normal, crash, custom, stopped = spawn(returns), spawn(raises), spawn(exits), spawn(echo)
    for target in (normal, crash, custom, stopped):
        w.monitor(target)
    await stopped.stop()
    assert await w.join() == "normal"
    reasons = {d.process.pid: d.reason for d in downs}
    assert reasons[normal.pid] == "normal"
    assert isinstance(reasons[crash.pid], RuntimeError)
    assert reasons[custom.pid] == "custom"
    assert reasons[stopped.pid] == "shutdown"
    assert normal.result == "done"
    assert [d.abnormal for d in downs if d.process is crash] == [True]


async def test_monitor_of_dead_process_fires_at_once():
    p = spawn(echo)
    await p.stop()
    got: list[Down] = []
    p.add_monitor(got.append)
    assert [d.reason for d in got] == ["shutdown"]


async def test_stop_lets_a_trapping_body_clean_up_within_grace():
    cleaned = asyncio.Event()

    async def body(proc: Process) -> None:
        try:
            await proc.receive()
        finally:
            cleaned.set()

    p = spawn(body, trap_exit=True)
    assert await p.stop(timeout=1.0) == "shutdown"
    assert cleaned.is_set()


async def test_bounded_mailbox_gives_backpressure():
    release = asyncio.Event()

    async def slow(proc: Process) -> None:
        await release.wait()
        while True:
            await proc.receive()

    p = spawn(slow, mailbox_size=2)
    p.cast(1)
    p.cast(2)
    with pytest.raises(MailboxFull, match=r"await process\.send"):
        p.cast(3)
    sender = asyncio.ensure_future(p.send(3))
    await asyncio.sleep(0)
    assert not sender.done()  # waiting for room
    release.set()
    await sender
    await p.stop()


async def test_start_twice_is_refused():
    p = spawn(echo)
    with pytest.raises(RuntimeError, match="started once"):
        p.start()
    await p.stop()


async def test_a_process_stopping_itself_exits_with_the_reason():
    async def body(proc: Process) -> None:
        await proc.stop("finished early")

    p = spawn(body)
    assert await p.join() == "finished early"


async def test_kill_cancels_at_once_with_reason_killed():
    never = asyncio.Event()

    async def body(proc: Process) -> None:
        await never.wait()

    p = spawn(body, trap_exit=True)
    p.kill()
    assert await p.join() == "killed"


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()])
def test_a_base_exception_in_a_body_is_its_crash_and_the_loop_thread_lives_on(exc):
    """As in a kernel: processes on a loop of their own thread. Let out of the task, a SystemExit
    would stop run_forever() and end the thread with every other process on it."""
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def raising(proc: Process) -> None:
        raise exc

    async def scenario() -> tuple[object, object]:
        survivor = spawn(echo)
        crashed = spawn(raising)
        reason = await crashed.join()
        return reason, await survivor.call("still here?")

    try:
        reason, answer = asyncio.run_coroutine_threadsafe(scenario(), loop).result(timeout=10)
        assert reason is exc and answer == ("echo", "still here?")
        assert thread.is_alive()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def test_selective_receive_takes_what_matches_and_leaves_the_rest_in_order():
    got: list[object] = []

    async def body(proc: Process) -> None:
        got.append(await proc.receive(match=lambda m: isinstance(m, int)))
        got.append(await proc.receive())

    p = spawn(body)
    p.cast("a")
    p.cast("b")
    p.cast(1)
    assert await p.join() == "normal"
    assert got == [1, "a"]
    assert p.unread == ("b",)  # what it left unread is kept for a successor


async def test_take_never_waits_and_keeps_order():
    p = spawn(lambda proc: asyncio.Event().wait())
    for m in ("x", 1, "y", 2, 3):
        p.cast(m)
    assert p.take(lambda m: isinstance(m, int), limit=2) == [1, 2]
    assert p.take(lambda m: m == "nothing") == []
    assert p.take() == ["x", "y", 3]
    assert p.take() == []
    await p.stop()


async def test_a_selective_reader_is_woken_only_by_what_it_wants():
    woken: list[object] = []

    async def body(proc: Process) -> None:
        woken.append(await proc.receive(match=lambda m: m == "wanted"))

    p = spawn(body)
    await asyncio.sleep(0)  # the body waits in receive()
    for _ in range(3):
        p.cast("other")
    assert woken == [] and p.alive
    p.cast("wanted")
    assert await p.join() == "normal"
    assert woken == ["wanted"] and p.unread == ("other", "other", "other")


async def test_a_stop_ends_a_selective_receive():
    p = spawn(lambda proc: proc.receive(match=lambda m: False), trap_exit=True)
    await asyncio.sleep(0)
    assert await p.stop(timeout=1.0) == "shutdown"


async def test_a_reader_outside_the_process_is_told_when_it_ends():
    never = asyncio.Event()
    p = spawn(lambda proc: never.wait())
    reading = asyncio.ensure_future(p.receive())
    await asyncio.sleep(0)
    await p.stop()
    with pytest.raises(CallError, match=r"exited .* while waiting for a message"):
        await reading


async def test_a_writer_waiting_for_room_is_let_go_when_the_process_ends():
    never = asyncio.Event()
    p = spawn(lambda proc: never.wait(), mailbox_size=1)
    p.cast("fills it")
    sending = asyncio.ensure_future(p.send("waits for room"))
    await asyncio.sleep(0)
    assert not sending.done()
    await p.stop()
    await asyncio.wait_for(sending, 1)  # dropped, as a cast to a dead process is
    assert p.unread == ("fills it",)
