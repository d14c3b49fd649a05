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
