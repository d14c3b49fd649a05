"""The shell tool: real subprocesses in a real worktree, process groups, timeouts, scrubbed environment."""

import asyncio
import os
import time
from pathlib import Path

import pytest

from loom_nb.events import EventBus, EventLog
from loom_nb.tools import Scope, ToolContext, ToolError, clean_environment, sandbox_status, shell
from loom_nb.tools._shell import head_and_tail
from loom_nb.workspace import Workspace
from tests.gitrepo import git_project


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    root = git_project(tmp_path / "project", {"a.txt": "a\n"})
    ws = Workspace.create(root, "sh1")
    return ToolContext(
        scope=Scope(ws.path),
        project=root,
        session_id="sh1",
        agent="tester-1",
        role="tester",
        bus=EventBus(),
        workspace=ws,
    )


async def test_runs_in_the_worktree_records_everything_and_commits_changes(ctx: ToolContext) -> None:
    log = EventLog(ctx.bus)
    out = await shell({"command": "pwd; echo made > b.txt; seq 1 5000; exit 3"}, ctx)
    assert out.startswith("exit code 3") and "committed as" in out
    assert str(ctx.workspace.path) in out  # ran in the worktree
    assert "[... cut:" in out and len(out.encode()) < 12_000  # head and tail only
    (run,) = log.of_kind("shell_run")
    assert run.exit_code == 3 and "\n5000\n" in run.output and "\n2500\n" in run.output  # the full output
    assert run.sandboxed == sandbox_status().available
    assert ctx.workspace.commits()[-1].files == ("b.txt",)


async def test_a_timeout_kills_the_whole_process_group(ctx: ToolContext, tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    started = time.monotonic()
    out = await shell({"command": f"(sleep 60 & echo $! > {marker}; wait) ; echo never", "timeout": 1}, ctx)
    assert time.monotonic() - started < 10
    assert out.startswith("killed after 1 s (timeout)")
    if marker.exists():  # outside a sandbox the pid is ours to check (inside, /tmp is private)
        pid = int(marker.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def processes_running(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def test_a_stop_cancels_and_kills_the_group(ctx: ToolContext) -> None:
    log = EventLog(ctx.bus)
    marker = "61.4321"  # a sleep nothing else on the machine runs
    task = asyncio.ensure_future(shell({"command": f"echo started; sleep {marker} & sleep {marker}; wait"}, ctx))
    async with asyncio.timeout(10):  # until both sleeps run: /proc offers no event to wait on
        while len(processes_running(f"sleep\x00{marker}")) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_running(f"sleep\x00{marker}") == []
    (run,) = log.of_kind("shell_run")  # what it printed before the stop is still recorded
    assert run.killed == "stopped" and run.exit_code is None
    assert run.output in ("", "started\n")  # empty when the stop came before the shell's first write was read


async def test_background_children_do_not_hold_the_call(ctx: ToolContext) -> None:
    started = time.monotonic()
    out = await shell({"command": "sleep 30 & echo done"}, ctx)
    assert out.startswith("exit code 0") and "done" in out
    assert time.monotonic() - started < 10


def test_the_environment_is_scrubbed_of_secrets() -> None:
    env = {
        "PATH": "/bin",
        "HOME": "/root",
        "ANTHROPIC_API_KEY": "sk-ant-secret",
        "OPENAI_API_KEY": "sk-secret",
        "GITHUB_TOKEN": "ghp_secret",
        "AWS_SECRET_ACCESS_KEY": "x",
        "MY_PASSWORD": "x",
        "LOOM_NB_ONLY_LOCAL_MODELS": "1",
        "CI": "true",
    }
    assert clean_environment(env) == {"PATH": "/bin", "HOME": "/root", "CI": "true"}


async def test_the_command_sees_no_secret(ctx: ToolContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-should-not-leak")
    log = EventLog(ctx.bus)
    out = await shell({"command": "env"}, ctx)
    assert "sk-ant-should-not-leak" not in out
    assert "sk-ant-should-not-leak" not in log.of_kind("shell_run")[0].output


async def test_sandbox_when_bubblewrap_works(ctx: ToolContext) -> None:
    status = sandbox_status()
    out = await shell({"command": "touch /etc/loom-test 2>&1; echo net; (exec 3<>/dev/tcp/127.0.0.1/9) 2>&1"}, ctx)
    if status.available:
        assert "Read-only file system" in out
    else:
        assert "the policy is the only guard" in status.detail


def test_head_and_tail_says_what_was_cut() -> None:
    text = "\n".join(f"line {i}" for i in range(10_000))
    shown = head_and_tail(text)
    assert shown.startswith("line 0\n") and shown.endswith("line 9999")
    assert "cut: 9,744 lines" in shown and len(shown.encode()) < 11 * 1024
    assert head_and_tail("short") == "short"


async def test_refused_without_a_workspace(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="no workspace"):
        await shell({"command": "touch x"}, ToolContext(scope=Scope(tmp_path), project=tmp_path))
    assert not (tmp_path / "x").exists()


async def test_the_sandbox_shows_a_python_installed_under_tmp(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI clone under /tmp has its venv there; the sandbox's private /tmp must not hide it (read-only)."""
    from loom_nb.tools import _shell

    assert str(tmp_path).startswith("/tmp/"), "pytest's tmp_path is under /tmp on this machine"
    venv = tmp_path / "venv-under-tmp"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "marker").write_text("here\n")
    monkeypatch.setattr("sys.prefix", str(venv))
    _shell._python_under_tmp.cache_clear()
    try:
        assert str(venv) in _shell._python_under_tmp()
        out = await shell({"command": f"cat {venv}/bin/marker; touch {venv}/bin/written || echo refused"}, ctx)
    finally:
        _shell._python_under_tmp.cache_clear()
    assert "here" in out  # seen in the sandbox (and outside one)
    if sandbox_status().available:  # read-only in it
        assert "refused" in out and not (venv / "bin" / "written").exists()


async def test_a_python_path_entry_of_tmp_itself_keeps_the_sandbox_tmp_private(
    ctx: ToolContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel started with `python -m` in /tmp has '/tmp' on sys.path: binding that would show the host's
    whole /tmp to commands (other runs' files) and make the sandbox's /tmp read-only (pytest's tmp_path)."""
    from loom_nb.tools import _shell

    secret = tmp_path / "other-run-secret.txt"
    secret.write_text("not for the sandbox\n")
    monkeypatch.setattr("sys.path", ["/tmp", *__import__("sys").path])
    _shell._python_under_tmp.cache_clear()
    try:
        assert "/tmp" not in _shell._python_under_tmp()
        out = await shell(
            {"command": f"cat {secret} 2>/dev/null || echo hidden; echo x > /tmp/probe && echo writable"}, ctx
        )
    finally:
        _shell._python_under_tmp.cache_clear()
    assert sandbox_status().available, "bubblewrap is installed on this machine"
    assert "hidden" in out and "not for the sandbox" not in out
    assert "writable" in out
