"""shell: a command (already decided by the policy) run in the workspace.

It runs in its own process group with a timeout (default 30 s, at most 600 s); on timeout or stop
the whole group is killed. API keys and tokens are scrubbed from its environment. Where bubblewrap
works on the machine, the command runs inside it: no network, only the worktree writable. Where it
does not, `sandbox_status()` says so and the faces tell the user the policy is the only guard.
The model reads the head and the tail of the output; the full output and the exit code go to the
event bus (and so to DuckDB) as a ShellRun event.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ._base import Tool, ToolContext, ToolError
from ._write import commit_changes

__all__ = ["SandboxStatus", "clean_environment", "emit_shell_run", "run_command", "sandbox_status", "shell"]

DEFAULT_TIMEOUT_S = 30
MAX_TIMEOUT_S = 600
HEAD_LINES, TAIL_LINES = 128, 128
MAX_SHOWN_BYTES = 10 * 1024
MAX_KEPT_BYTES = 5 * 1024 * 1024
"""The full output recorded; past this, the middle is dropped (and the record says so)."""

_SECRET = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE)", re.I)
_KEEP = frozenset({"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "USER", "LOGNAME", "SHELL", "TZ", "TMPDIR",
                   "PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED"})  # fmt: skip


def clean_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without API keys, tokens and other secrets (by name), and without loom's own."""
    source = os.environ if env is None else env
    return {
        k: v
        for k, v in source.items()
        if k in _KEEP or not (_SECRET.search(k) or k.startswith(("LOOM_NB_", "ANTHROPIC_", "OPENAI_", "AWS_")))
    }


class SandboxStatus:
    """Whether shell commands run inside an OS sandbox here, and if not, why."""

    def __init__(self, available: bool, detail: str) -> None:
        self.available = available
        self.detail = detail

    def __repr__(self) -> str:
        return f"<SandboxStatus {'bubblewrap' if self.available else 'none'}: {self.detail}>"


@functools.cache
def sandbox_status() -> SandboxStatus:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxStatus(
            False, "bubblewrap is not installed (apt-get install bubblewrap); the policy is the only guard"
        )
    probe = subprocess.run(
        [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-net", "--die-with-parent", "true"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if probe.returncode != 0:
        said = probe.stderr.strip().splitlines()[-1:] or [f"exit {probe.returncode}"]
        return SandboxStatus(False, f"bubblewrap does not work here ({said[0]}); the policy is the only guard")
    return SandboxStatus(True, "bubblewrap: network off, only the worktree writable")


def _argv(command: str, cwd: str, sandbox: bool, writable: Sequence[str] = ()) -> list[str]:
    inner = ["bash", "--noprofile", "--norc", "-c", command]
    if not sandbox:
        return inner
    return [
        "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        # what the private /tmp would hide that commands need: the Python running loom (a venv made under
        # /tmp, as a CI clone may be), read-only
        *(arg for path in _python_under_tmp() for arg in ("--ro-bind", path, path)),
        "--bind", cwd, cwd,
        *(arg for path in writable for arg in ("--bind", path, path)),  # after /tmp's tmpfs: seen through it
        # the worktree's .git file says which repository is ours: commands may not rewrite it
        *(["--ro-bind", f"{cwd}/.git", f"{cwd}/.git"] if os.path.exists(f"{cwd}/.git") else []),
        "--unshare-net", "--unshare-ipc", "--unshare-pid", "--die-with-parent",
        "--chdir", cwd, *inner,
    ]  # fmt: skip


@functools.cache
def _python_under_tmp() -> tuple[str, ...]:
    """The interpreter's prefixes and import paths that lie under /tmp (outermost only): the sandbox's
    private /tmp would hide them, and `python -m pytest` in a worktree needs them."""
    found: list[str] = []
    for entry in sorted({sys.prefix, sys.exec_prefix, sys.base_prefix, *sys.path}):
        if not entry or not os.path.isdir(entry):
            continue
        real = os.path.realpath(entry)
        # below /tmp only: '/tmp' itself (on sys.path when python -m ran there) would show the host's /tmp
        if real.startswith("/tmp/") and not any((real + os.sep).startswith(f + os.sep) for f in found):
            found = [f for f in found if not (f + os.sep).startswith(real + os.sep)] + [real]
    return tuple(sorted(found))


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def run_command(
    command: str,
    cwd: str,
    *,
    timeout: float,
    sandbox: bool,
    env: dict[str, str] | None = None,
    writable: Sequence[str] = (),
    on_stop: Callable[[bytes, float], None] | None = None,
) -> tuple[int | None, bytes, str | None, float]:
    """(exit code or None, combined output, why it was killed or None, seconds). A cancel (a stop)
    kills the group, hands `on_stop` what was printed so far, and propagates. Inside the sandbox
    only `cwd` and the `writable` directories (which must exist) can be written."""
    started = time.perf_counter()
    spawn = asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            *_argv(command, cwd, sandbox, writable),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=clean_environment(env),
            start_new_session=True,  # its own process group: the whole of it is killed on timeout or stop
        )
    )
    try:
        proc = await asyncio.shield(spawn)
    except asyncio.CancelledError:  # stopped while starting: the child may run already, so it goes too
        proc = await spawn
        _kill_group(proc)
        await proc.wait()
        if on_stop is not None:
            on_stop(b"", time.perf_counter() - started)
        raise
    assert proc.stdout is not None
    chunks: list[bytes] = []
    kept = 0
    dropped = 0

    async def read() -> None:
        nonlocal kept, dropped
        while chunk := await proc.stdout.read(65536):  # type: ignore[union-attr]
            if kept < MAX_KEPT_BYTES:
                chunks.append(chunk)
                kept += len(chunk)
            else:
                dropped += len(chunk)
                chunks[-1:] = [chunks[-1][-MAX_SHOWN_BYTES:] + chunk][-1:]  # keep the tail fresh

    killed: str | None = None
    reader = asyncio.ensure_future(read())  # owned here: awaited or cancelled below
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        killed = "timeout"
    except asyncio.CancelledError:
        _kill_group(proc)
        reader.cancel()
        await asyncio.shield(proc.wait())
        if on_stop is not None:
            on_stop(b"".join(chunks), time.perf_counter() - started)
        raise
    finally:
        # The group goes: on a timeout, and also what the command left running in the background
        # (which would hold the output pipe open).
        _kill_group(proc)
    await proc.wait()
    await reader
    output = b"".join(chunks)
    if dropped:
        output += f"\n[{dropped:,} bytes of output not kept]\n".encode()
    return (None if killed else proc.returncode), output, killed, time.perf_counter() - started


def head_and_tail(text: str) -> str:
    """At most ~10 KiB and 256 lines, as head and tail, saying what was cut."""
    lines = text.splitlines()
    if len(lines) <= HEAD_LINES + TAIL_LINES and len(text.encode()) <= MAX_SHOWN_BYTES:
        return text
    head, tail = lines[:HEAD_LINES], lines[-TAIL_LINES:] if len(lines) > HEAD_LINES else []
    budget = MAX_SHOWN_BYTES // 2
    head_text = "\n".join(head)[:budget]
    tail_text = "\n".join(tail)[-budget:]
    cut_lines = max(0, len(lines) - len(head) - len(tail))
    return (
        f"{head_text}\n[... cut: {cut_lines:,} lines in the middle; {len(text.encode()):,} bytes in all. "
        f"The full output is recorded; narrow the command (grep, tail, -q) to see a part ...]\n{tail_text}"
    )


def emit_shell_run(
    ctx: ToolContext, command: str, exit_code: int | None, output: str, killed: str | None, seconds: float
) -> None:
    """The ShellRun event of a command a tool ran (its full output, for the record)."""
    if ctx.bus is not None:
        from ..events import ShellRun

        ctx.bus.emit(
            ShellRun(
                session_id=ctx.session_id,
                agent=ctx.agent,
                command=command,
                exit_code=exit_code,
                output=output,
                duration_s=seconds,
                sandboxed=sandbox_status().available,
                killed=killed,
            )
        )


NO_WORKSPACE = "this run has no workspace, so it cannot run commands; start it with writes enabled"


async def _shell(args: dict[str, Any], ctx: ToolContext) -> str:
    if ctx.workspace is None:
        raise ToolError(NO_WORKSPACE)
    command = args["command"]
    if not command.strip():
        raise ToolError("the command is empty")
    status = sandbox_status()

    def record(exit_code: int | None, output: str, killed: str | None, seconds: float) -> None:
        emit_shell_run(ctx, command, exit_code, output, killed, seconds)

    exit_code, raw, killed, seconds = await run_command(
        command,
        str(ctx.scope.root),
        timeout=args["timeout"],
        sandbox=status.available,
        on_stop=lambda raw, seconds: record(None, raw.decode("utf-8", errors="replace"), "stopped", seconds),
    )
    output = raw.decode("utf-8", errors="replace")
    record(exit_code, output, killed, seconds)
    changed = await commit_changes(ctx, None, f"shell: {command}")
    head = (
        f"killed after {args['timeout']} s (timeout); the whole process group was stopped"
        if killed
        else f"exit code {exit_code} in {seconds:.1f} s"
    )
    if changed is not None:
        head += f"; the files it changed were committed as {changed.sha[:10]} ({', '.join(changed.files[:5])})"
    return f"{head}\n{head_and_tail(output)}" if output else f"{head} (no output)"


shell = Tool(
    name="shell",
    description=(
        "Run a shell command in the workspace (bash). Every sub-command is checked by the permission policy "
        "first. Output shows head and tail; files it changes are committed."
    ),
    parameters={
        "type": "object",
        "properties": {
            "command": {"type": "string", "description": "The command line."},
            "timeout": {
                "type": "integer",
                "default": DEFAULT_TIMEOUT_S,
                "minimum": 1,
                "maximum": MAX_TIMEOUT_S,
                "description": f"Seconds before the command is killed (at most {MAX_TIMEOUT_S}).",
            },
        },
        "required": ["command"],
    },
    fn=_shell,
    permission="execute",
)
