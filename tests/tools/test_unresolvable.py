"""Paths that cannot be resolved or read (symlink loops, over-long names and paths, FIFOs, dangling
links, NUL bytes) are refused with a readable one-line error by every tool and every face, never
a crash or a hang; in a walk such an entry is skipped."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from loom_nb import _cli
from loom_nb.tools import ToolError, content_search, directory_list, file_read, file_search
from loom_nb.tools import _search as search_module
from tests.shell import loom_shell

BAD = {  # name: (path as given, what the error must say)
    "loop": ("loop_a", "symlink loop"),
    "loop inside a path": ("loop_a/x.py", "symlink loop"),
    "300-char name": ("n" * 300, "too long"),
    "5000-char path": ("/".join(["segment"] * 625), "too long"),
    "fifo": ("pipe", "FIFO"),
    "dangling": ("dangling", "does not exist"),
    "nul": ("src/pkg\x00/core.py", "NUL"),
    "unknown home": ("~no-such-user-loom/x", "home directory that does not exist"),
}
DEADLINE_S = 20  # a FIFO that was opened for reading would block for ever: the deadline shows it


@pytest.fixture
def hostile(tree: Path):
    """The shared fixture tree plus entries no path resolution or read survives."""
    os.symlink("loop_b", tree / "loop_a")
    os.symlink("loop_a", tree / "loop_b")
    os.symlink("missing.py", tree / "dangling")
    os.mkfifo(tree / "pipe")
    (tree / "src" / "deep").mkdir()
    os.mkfifo(tree / "src" / "deep" / ".gitignore")  # read by every walk into src/deep
    (tree / "src" / "deep" / "found.py").write_text("parse_config here too\n")
    yield tree
    for fifo in (tree / "pipe", tree / "src" / "deep" / ".gitignore"):  # release a reader stuck on main
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass


TOOLS = [
    (file_read, lambda p: {"path": p}),
    (file_search, lambda p: {"pattern": "*", "path": p}),
    (content_search, lambda p: {"pattern": "parse", "path": p}),
    (directory_list, lambda p: {"path": p}),
]


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("engine", ["rg", "python"])
async def test_every_tool_refuses_with_a_readable_tool_error(hostile, ctx, case, engine, monkeypatch):
    monkeypatch.setenv("LOOM_NB_RIPGREP", "1" if engine == "rg" else "0")
    path, says = BAD[case]
    for tool, args in TOOLS:
        with pytest.raises(ToolError) as info:
            await asyncio.wait_for(tool(args(path), ctx), DEADLINE_S)
        message = str(info.value)
        assert says in message, (tool.name, message)
        assert "\n" not in message and len(message) < 400, (tool.name, message)  # one readable line


@pytest.mark.parametrize("engine", ["rg", "python"])
async def test_walks_skip_what_they_cannot_read(hostile, ctx, engine, monkeypatch):
    monkeypatch.setenv("LOOM_NB_RIPGREP", "1" if engine == "rg" else "0")
    monkeypatch.setattr(search_module, "RG_STALL_S", 2.0)  # rg blocks on the FIFO .gitignore
    found = await asyncio.wait_for(
        content_search({"pattern": "parse_config", "output_mode": "files_with_matches"}, ctx), DEADLINE_S
    )
    assert "src/deep/found.py" in found and "src/pkg/core.py" in found and "pipe" not in found
    listing = await asyncio.wait_for(directory_list({"path": ".", "depth": 3}, ctx), DEADLINE_S)
    assert "found.py" in listing and "core.py" in listing
    assert "pipe" not in listing and "loop_a" not in listing and "dangling" not in listing
    names = await asyncio.wait_for(file_search({"pattern": "*.py"}, ctx), DEADLINE_S)
    assert "src/deep/found.py" in names.splitlines() and "src/pkg/core.py" in names.splitlines()


async def test_a_file_swapped_for_a_fifo_after_the_check_is_not_waited_on(hostile, ctx):
    from loom_nb.tools._scope import open_regular

    with pytest.raises(ToolError, match="FIFO"):
        open_regular(hostile / "pipe")  # O_NONBLOCK open, refused by fstat: no writer needed


# faces: the same values as --scope / --project --------------------------------------------------

FACE_CASES = {k: v for k, v in BAD.items() if k != "loop inside a path"}


@pytest.mark.parametrize("case", list(FACE_CASES))
def test_cli_scope_and_project_are_one_line_errors(hostile, case, capsys):
    path, says = FACE_CASES[case]
    for argv in (
        ["subagent", "x", "--project", str(hostile), "--scope", path, "--model", "offline"],
        [
            "subagent",
            "x",
            "--project",
            path if case in ("5000-char path", "unknown home") else str(hostile / path),
            "--model",
            "offline",
        ],
    ):
        assert _cli.main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("loom-nb: error: ") and err.count("\n") == 1, err
        assert says in err or ("NUL" in err and case == "nul"), err


def test_cli_as_a_command_exits_2_on_a_symlink_loop(hostile):
    out = subprocess.run(
        [sys.executable, "-m", "loom_nb", "subagent", "x", "--project", str(hostile), "--scope", "loop_a"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"},
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == "loom-nb: error: scope 'loop_a' is a symlink loop; refused"


@pytest.fixture
def shell(hostile, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with loom_shell(project=hostile) as (sh, _runner):
        sh.magics_manager.registry["LoomMagics"].offline = True
        yield sh


@pytest.mark.parametrize("case", list(FACE_CASES))
def test_magics_scope_and_project_values_are_usage_errors(shell, hostile, case):
    path, says = FACE_CASES[case]
    with pytest.raises(UsageError, match=says):
        shell.run_cell_magic("loom", f"--scope {path}", "find parse_config")
    with pytest.raises(UsageError, match=says):
        shell.run_line_magic("loom", f"subagent 'find parse_config' --scope {path}")
    project = path if case in ("5000-char path", "unknown home") else str(hostile / path)
    with pytest.raises(UsageError, match=says):
        shell.run_cell_magic("loom", f"--project {project}", "find parse_config")
