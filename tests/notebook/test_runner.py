"""The swarm runner thread, driven from a plain (non-async) thread as the kernel's main thread is."""

import _thread
import asyncio
import threading
import time

import pytest

from loom_nb.graph import open_graph
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


def test_an_interrupt_while_the_live_view_is_built_stops_the_run(runner, tmp_path):
    started = threading.Event()
    swarm = hanging_swarm(tmp_path, started, db=tmp_path / "g.duckdb")
    swarm.record = True

    def build_view(handle):
        _thread.interrupt_main()  # Kernel > Interrupt, landing while the view is drawn
        while True:  # building widgets: the interrupt arrives in here
            time.sleep(0.01)

    with pytest.raises(KeyboardInterrupt, match="cancelled by interrupt"):
        runner.run_foreground(swarm, on_submit=build_view)
    handle = runner.handles[swarm.session_id]
    assert handle.done and handle.status == "cancelled" and runner.running() == []
    print(
        "RESULT",
        swarm._ran,
        swarm._task,
        swarm.stop_reason,
        handle.future.cancelled(),
        handle.future.exception() if handle.future.done() and not handle.future.cancelled() else None,
    )
    assert open_graph(tmp_path / "g.duckdb").sessions()["status"].tolist() == ["cancelled"]


def raising_model(exc: BaseException) -> ScriptedModel:
    def fn(messages, tools):
        raise exc

    return ScriptedModel(fn)


def test_a_system_exit_in_a_researcher_is_its_crash_and_the_session_ends(runner, tmp_path):
    db = tmp_path / "g.duckdb"
    swarm = Swarm(
        "research x",
        project=tmp_path,
        model=lead_model(["a question about x"], "answered anyway"),
        weak=raising_model(SystemExit(3)),
        db=db,
    )
    result = runner.submit(swarm).wait(timeout=30)  # on a dead loop thread this never ends
    assert result.status == "done" and result.text == "answered anyway"
    assert "SystemExit" in result.findings[0].error
    agents = open_graph(db).agents(swarm.session_id).set_index("name")
    assert agents.loc["researcher-1", "status"] == "crashed"
    assert agents["ended_at"].notna().all()
    assert (
        runner.run_foreground(  # the runner's loop thread still runs swarms
            Swarm(
                "research y", project=tmp_path, model=lead_model(["q y"], "ok"), weak=ScriptedModel(["y"]), record=False
            )
        ).text
        == "ok"
    )


def test_a_system_exit_in_the_lead_fails_the_session_with_the_reason(runner, tmp_path):
    db = tmp_path / "g.duckdb"
    swarm = Swarm("research x", project=tmp_path, model=raising_model(SystemExit("bye")), db=db)
    result = runner.submit(swarm).wait(timeout=30)
    assert result.status == "failed" and result.error == "SystemExit: bye"
    graph = open_graph(db)
    assert graph.sessions()["status"].tolist() == ["failed"]
    ended = graph.sql("select payload from events where kind = 'session_ended'")["payload"].tolist()
    assert len(ended) == 1 and "SystemExit: bye" in str(ended[0])
    agents = graph.agents(swarm.session_id)
    assert agents["status"].tolist() == ["crashed"] and agents["ended_at"].notna().all()


def test_a_second_stop_during_the_clean_up_loses_nothing(runner, tmp_path):
    """Stop button, then %loom stop (or an interrupt) while the agents wind down: the run still
    records every agent's end and returns its result."""
    started = threading.Event()

    async def slow_to_stop(messages, tools):
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.5)  # a model client closing its connection, say

    db = tmp_path / "g.duckdb"
    swarm = Swarm(
        "research x", project=tmp_path, model=lead_model(["q about x"]), weak=ScriptedModel(slow_to_stop), db=db
    )
    handle = runner.submit(swarm)
    assert started.wait(10)
    handle.stop("stop button")
    handle.stop("stopped with %loom stop")
    result = handle.wait(timeout=10)
    assert result is not None and (result.status, result.error) == ("cancelled", "stop button")
    agents = open_graph(db).agents(swarm.session_id).set_index("name")
    assert agents.loc["researcher-1", "status"] == "cancelled" and agents["ended_at"].notna().all()


def test_the_handle_speaks_for_its_workspace(runner, tmp_path):
    from loom_nb.workspace import Workspace, WorkspaceError
    from tests.gitrepo import git_project
    from tests.workspace.conftest import edit

    repo = git_project(tmp_path / "repo", {"app.py": "x = 1\n"})
    swarm = Swarm("research x", project=repo, session="h1", model=lead_model(["q x"], "ok"), weak=ScriptedModel(["y"]))
    handle = runner.run_foreground(swarm)
    with pytest.raises(WorkspaceError, match="no workspace for session 'h1'"):
        handle.diff()  # its agents wrote nothing
    ws = Workspace.create(repo, "h1")
    edit(ws, "app.py", "x = 2\n")
    assert "+x = 2" in str(handle.diff())
    assert [c.files for c in handle.undo()] == [("app.py",)]
    assert str(handle.diff()) == ""
    handle.discard()
    assert Workspace.list(repo) == []


def test_a_killed_runs_workspace_is_offered_for_cleanup_at_the_next_run(runner, tmp_path):
    import os
    import subprocess
    import sys

    from tests.gitrepo import git_project

    repo = git_project(tmp_path / "repo", {"app.py": "x = 1\n"})
    code = f"import os; from loom_nb.workspace import Workspace; Workspace.create({str(repo)!r}, 'dead'); os._exit(0)"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})
    swarm = Swarm("research x", project=repo, model=lead_model(["q x"], "ok"), weak=ScriptedModel(["y"]), record=False)
    handle = runner.run_foreground(swarm)
    assert handle.status == "done"
    (note,) = [line for line in handle.tracker.feed() if "workspace(s) of killed runs" in line]
    assert "(dead)" in note and "%loom worktrees --clean" in note
