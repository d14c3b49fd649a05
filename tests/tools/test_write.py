"""The write tools on a real workspace (a git worktree in a temporary repository)."""

import asyncio
import os
from pathlib import Path

import pytest

from loom_nb.events import EventBus, EventLog
from loom_nb.tools import Scope, ToolContext, ToolError, file_delete, file_edit, file_move, file_write
from loom_nb.workspace import Workspace
from tests.gitrepo import git, git_project


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    app = "def greet():\n    return 'hi'\n\n\ndef greet_all():\n    return 'hi'\n"
    root = git_project(tmp_path / "project", {"src/app.py": app, "logo.png": b"\x89PNG\x00\x01"})
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("keep me\n")
    ws = Workspace.create(root, "w1")
    ws.wait_ready()
    os.symlink(outside, ws.path / "out")
    os.symlink(outside / "secret.txt", ws.path / "secret_link.txt")
    return ws


@pytest.fixture
def ctx(workspace: Workspace) -> ToolContext:
    bus = EventBus()
    return ToolContext(
        scope=Scope(workspace.path),
        project=workspace.project,
        session_id="w1",
        agent="implementer-1",
        role="implementer",
        task="t3",
        bus=bus,
        workspace=workspace,
    )


async def test_each_applied_edit_is_one_commit_with_an_event(ctx: ToolContext, workspace: Workspace) -> None:
    log = EventLog(ctx.bus)
    out = await file_edit(
        {"path": "src/app.py", "old": "def greet():\n    return 'hi'", "new": "def greet():\n    return 'hello'"}, ctx
    )
    assert "replaced 1 occurrence" in out and "committed" in out
    await file_write({"path": "src/new.py", "content": "x = 1\n"}, ctx)
    await file_move({"source": "src/new.py", "destination": "src/moved.py"}, ctx)
    await file_delete({"path": "src/moved.py"}, ctx)
    commits = workspace.commits()
    assert [c.message for c in commits] == [
        "edit src/app.py",
        "create src/new.py",
        "move src/new.py to src/moved.py",
        "delete src/moved.py",
    ]
    assert {(c.agent, c.role, c.task) for c in commits} == {("implementer-1", "implementer", "t3")}
    made = log.of_kind("commit_made")
    assert [e.sha for e in made] == [c.sha for c in commits]
    assert made[0].files == ("src/app.py",) and made[0].insertions == 1 and made[0].deletions == 1
    assert (workspace.project / "src" / "app.py").read_text().count("'hi'") == 2  # the user's file is untouched


async def test_edit_refuses_missing_and_non_unique_matches_showing_candidates(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"old occurs 2 times in src/app.py \(lines 2, 6\)"):
        await file_edit({"path": "src/app.py", "old": "return 'hi'", "new": "return 'x'"}, ctx)
    with pytest.raises(ToolError, match=r"(?s)not found in src/app.py.*line 1: 'def greet\(\):'"):
        await file_edit({"path": "src/app.py", "old": "def greet( ):", "new": "x"}, ctx)
    out = await file_edit({"path": "src/app.py", "old": "return 'hi'", "new": "return 'x'", "replace_all": True}, ctx)
    assert "replaced 2" in out


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        (file_write, {"path": "../escape.py", "content": "x"}, "outside the scope"),
        (file_write, {"path": "/etc/passwd", "content": "x"}, "outside the scope"),
        (file_write, {"path": "out/secret.txt", "content": "x"}, "outside the scope"),
        (file_write, {"path": "secret_link.txt", "content": "x"}, "outside the scope"),
        (file_write, {"path": ".git", "content": "x"}, "inside .git"),
        (file_write, {"path": "src/../.git/hooks/pre-commit", "content": "x"}, "inside .git"),
        (file_write, {"path": "a\x00b", "content": "x"}, "NUL"),
        (file_write, {"path": "bin.txt", "content": "a\x00b"}, "NUL byte"),
        (file_write, {"path": "big.txt", "content": "x" * 1_000_001}, "at most 1,000,000"),
        (file_write, {"path": "logo.png", "content": "text"}, "binary file"),
        (file_write, {"path": "src", "content": "x"}, "is a directory"),
        (file_edit, {"path": "logo.png", "old": "PNG", "new": "x"}, "binary file"),
        (file_edit, {"path": "nope.py", "old": "a", "new": "b"}, "does not exist"),
        (file_edit, {"path": "src/app.py", "old": "", "new": "b"}, "old is empty"),
        (file_delete, {"path": "../outside/secret.txt"}, "outside the scope"),
        (file_delete, {"path": "src"}, "is a directory"),
        (file_move, {"source": "src/app.py", "destination": "../x.py"}, "outside the scope"),
        (file_move, {"source": "src/app.py", "destination": "logo.png"}, "exists; pass overwrite=true"),
    ],
)
async def test_bad_writes_are_refused_and_change_nothing(
    ctx: ToolContext, workspace: Workspace, tool, arguments: dict, message: str
) -> None:
    before = git(workspace.path, "status", "--porcelain")
    with pytest.raises(ToolError, match=message):
        await tool(arguments, ctx)
    assert git(workspace.path, "status", "--porcelain") == before
    assert workspace.commits() == []
    assert (workspace.path.parent.parent.parent.parent / "outside" / "secret.txt").read_text() == "keep me\n"


async def test_deleting_a_link_deletes_the_link_not_its_target(ctx: ToolContext, workspace: Workspace) -> None:
    target = workspace.path.parent.parent.parent.parent / "outside" / "secret.txt"
    await file_delete({"path": "secret_link.txt"}, ctx)
    assert not (workspace.path / "secret_link.txt").is_symlink()
    assert target.read_text() == "keep me\n"


async def test_without_a_workspace_writes_are_refused(tmp_path: Path) -> None:
    ctx = ToolContext(scope=Scope(tmp_path), project=tmp_path)
    with pytest.raises(ToolError, match="no workspace"):
        await file_write({"path": "a.txt", "content": "x"}, ctx)
    assert not (tmp_path / "a.txt").exists()


async def test_a_fifo_is_refused_not_waited_on(ctx: ToolContext, workspace: Workspace) -> None:
    os.mkfifo(workspace.path / "pipe")  # what `mkfifo` in a shell call leaves behind
    for tool, arguments in [
        (file_write, {"path": "pipe", "content": "x"}),
        (file_edit, {"path": "pipe", "old": "a", "new": "b"}),
    ]:
        with pytest.raises(ToolError, match="is a FIFO"):
            await asyncio.wait_for(tool(arguments, ctx), 10)


async def test_git_in_another_letter_case_is_refused(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"inside \.git"):
        await file_write({"path": ".GIT/config", "content": "x"}, ctx)


async def test_an_edit_keeps_the_bytes_it_does_not_touch(ctx: ToolContext, workspace: Workspace) -> None:
    (workspace.path / "latin.txt").write_bytes(b"caf\xe9 = 1\nvalue = 2\n")  # not UTF-8
    await file_edit({"path": "latin.txt", "old": "value = 2", "new": "value = 3"}, ctx)
    assert (workspace.path / "latin.txt").read_bytes() == b"caf\xe9 = 1\nvalue = 3\n"
