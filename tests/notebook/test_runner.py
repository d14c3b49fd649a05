"""The swarm runner thread, driven from a plain (non-async) thread as the kernel's main thread is."""

import _thread
import asyncio
import threading

import pytest

from loom_nb.models import ScriptedModel
from loom_nb.notebook import SwarmRunner
from loom_nb.swarm import Swarm
from tests.swarm.test_swarm import lead_model


@pytest.fixture
def runner():
    r = SwarmRunner()
    yield r
    r.shutdown()


def hanging_swarm(tmp_path, started: threading.Event, **kw) -> Swarm:
    async def never(messages, tools):
        started.set()
        await asyncio.Event().wait()

    return Swarm(
        "research x",
        project=tmp_path,
        model=lead_model(["a question about x"]),
        weak=ScriptedModel(never),
        record=False,
        **kw,
    )


def test_foreground_runs_to_the_end(runner, tmp_path):
    swarm = Swarm(
        "research x",
        project=tmp_path,
        model=lead_model(["q one about x"], "done!"),
        weak=ScriptedModel(["found it"]),
        record=False,
    )
    handle = runner.run_foreground(swarm)
    assert handle.status == "done" and handle.text == "done!" and handle.done
    assert runner.running() == []


def test_background_returns_at_once_and_stops_from_another_thread(runner, tmp_path):
    started = threading.Event()
    handle = runner.submit(hanging_swarm(tmp_path, started))
    assert handle.status == "running"
    assert started.wait(10)
    threading.Thread(target=handle.stop, args=("stop button",)).start()  # a subshell's widget callback
    result = handle.wait(timeout=10)
    assert result.status == "cancelled" and result.error == "stop button"


def test_an_interrupt_cancels_a_foreground_run_and_the_runner_stays_usable(runner, tmp_path):
    started = threading.Event()
    swarm = hanging_swarm(tmp_path, started)

    def interrupt_when_started():
        started.wait(10)
        _thread.interrupt_main()  # what the kernel's SIGINT does to the main thread

    threading.Thread(target=interrupt_when_started).start()
    with pytest.raises(KeyboardInterrupt):
        runner.run_foreground(swarm)
    handle = runner.handles[swarm.session_id]
    assert handle.done and handle.status == "cancelled"
    again = runner.run_foreground(
        Swarm(
            "research y",
            project=tmp_path,
            model=lead_model(["q about y"], "ok"),
            weak=ScriptedModel(["fine"]),
            record=False,
        )
    )
    assert again.text == "ok"


async def test_await_handle_from_the_kernel_loop(runner, tmp_path):
    swarm = Swarm(
        "research x",
        project=tmp_path,
        model=lead_model(["q about x"], "awaited"),
        weak=ScriptedModel(["ok"]),
        record=False,
    )
    handle = runner.submit(swarm)
    result = await handle
    assert result.text == "awaited"
