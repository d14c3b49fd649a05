"""Workspaces on real git repositories in temporary folders."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loom_nb.workspace import Workspace, WorkspaceError
from tests.workspace.conftest import edit, run


def user_state(root: Path) -> tuple[str, str, str, str]:
    """What the user sees: branch, HEAD, status and the index."""
    return (
        run(root, "symbolic-ref", "--short", "HEAD"),
        run(root, "rev-parse", "HEAD"),
        run(root, "status", "--porcelain"),
        run(root, "ls-files", "-s"),
    )


def test_a_run_works_in_its_own_worktree_and_branch(repo: Path) -> None:
    (repo / "notes.txt").write_text("user's uncommitted work\n")  # the user keeps working meanwhile
    before = user_state(repo)
    ws = Workspace.create(repo, "s1")
    assert ws.path.is_dir() and ws.path.is_relative_to(repo / ".loom")
    assert run(ws.path, "symbolic-ref", "--short", "HEAD").strip() == "loom/s1"  # never detached
    commit = edit(ws, "app.py", "def greet():\n    return 'hello'\n")
    assert commit is not None
    assert user_state(repo) == before  # the user's tree, index and branch are untouched
    assert (repo / "app.py").read_text() == "def greet():\n    return 'hi'\n"


def test_every_edit_is_one_attributed_commit(repo: Path) -> None:
    ws = Workspace.create(repo, "s2")
    first = edit(ws, "app.py", "x = 1\n", task="rename")
    second = edit(ws, "pkg/new.py", "y = 2\n", agent="implementer-2", task="add")
    assert edit(ws, "pkg/new.py", "y = 2\n") is None  # no change, no commit
    commits = ws.commits()
    assert [c.sha for c in commits] == [first.sha, second.sha]
    assert (second.agent, second.role, second.task, second.files) == (
        "implementer-2",
        "implementer",
        "add",
        ("pkg/new.py",),
    )
    assert first.insertions == 1 and first.deletions == 2
    author = run(repo, "log", "-1", "--format=%an <%ae>", "loom/s2").strip()
    assert author == "implementer-2 (implementer) <implementer-2.implementer@loom-nb.invalid>"
    body = run(repo, "log", "-1", "--format=%B", "loom/s2")
    assert "Loom-Session: s2" in body and "Loom-Agent: implementer-2" in body and "Loom-Task: add" in body


def test_diff_merge_and_refusals(repo: Path) -> None:
    ws = Workspace.create(repo, "s3")
    edit(ws, "app.py", "def greet():\n    return 'hello'\n")
    diff = ws.diff()
    assert "-    return 'hi'" in diff and "+    return 'hello'" in diff
    (repo / "app.py").write_text("dirty\n")  # the user edits a file the session touched
    with pytest.raises(WorkspaceError, match=r"uncommitted changes to files this session touched \(app.py\)"):
        ws.merge()
    run(repo, "checkout", "--", "app.py")
    (repo / "README.md").write_text("# dirty elsewhere is fine\n")
    sha = ws.merge()
    assert run(repo, "rev-parse", "HEAD").strip() == sha
    assert (repo / "app.py").read_text().endswith("'hello'\n")
    assert (repo / "README.md").read_text() == "# dirty elsewhere is fine\n"
    assert "loom: merge session s3 (1 commit)" in run(repo, "log", "-1", "--format=%s")


def test_a_conflicting_merge_is_refused_and_changes_nothing(repo: Path) -> None:
    ws = Workspace.create(repo, "s4")
    edit(ws, "app.py", "def greet():\n    return 'loom'\n")
    (repo / "app.py").write_text("def greet():\n    return 'user'\n")
    run(repo, "commit", "-qam", "user edit")
    before = user_state(repo)
    with pytest.raises(WorkspaceError, match=r"would conflict in app\.py"):
        ws.merge()
    assert user_state(repo) == before


def test_undo_reverts_only_loom_commits(repo: Path) -> None:
    ws = Workspace.create(repo, "s5")
    edit(ws, "a.txt", "1\n")
    edit(ws, "b.txt", "2\n")
    edit(ws, "c.txt", "3\n")
    undone = ws.undo(last=2)
    assert [c.files for c in undone] == [("c.txt",), ("b.txt",)]
    assert (ws.path / "a.txt").exists() and not (ws.path / "b.txt").exists() and not (ws.path / "c.txt").exists()
    assert [c.files for c in ws.undo()] == [("a.txt",)]  # what is left of loom's, not the reverts
    assert ws.changed_files() == []
    with pytest.raises(WorkspaceError, match="--last"):
        ws.undo(last=0)


def test_discard_removes_worktree_and_branch(repo: Path) -> None:
    ws = Workspace.create(repo, "s6")
    edit(ws, "a.txt", "1\n")
    ws.discard()
    assert not ws.path.exists()
    assert "loom/s6" not in run(repo, "branch", "--list")
    assert "s6" not in run(repo, "worktree", "list")
    assert run(repo, "status", "--porcelain") == ""


def test_not_a_repository_says_how_to_enable_writes(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match=r"is not a git repository.*git init"):
        Workspace.create(tmp_path, "s7")
    run(tmp_path, "init", "-q")
    with pytest.raises(WorkspaceError, match="has no commit yet"):
        Workspace.create(tmp_path, "s7")


@pytest.mark.parametrize("session", ["../x", "a b", "", "-x", "a" * 65, "s;rm"])
def test_session_ids_that_cannot_name_a_branch(repo: Path, session: str) -> None:
    with pytest.raises(WorkspaceError, match="cannot name a branch"):
        Workspace.create(repo, session)


def test_a_killed_kernels_workspace_is_found_stale(repo: Path) -> None:
    code = (
        "import os, sys; from loom_nb.workspace import Workspace;"
        f"Workspace.create({str(repo)!r}, 'killed'); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    mine = Workspace.create(repo, "mine")
    done = Workspace.create(repo, "done")
    done.release()
    infos = {i.session_id: i for i in Workspace.list(repo)}
    assert infos["killed"].stale and not infos["killed"].live
    assert infos["mine"].live and not infos["mine"].stale
    assert not infos["done"].live and not infos["done"].stale
    Workspace.open(repo, "killed").discard()
    assert "killed" not in {i.session_id for i in Workspace.list(repo)}
    mine.discard()


async def test_tools_wait_for_a_workspace_still_being_written(repo: Path) -> None:
    from loom_nb.tools import Scope, ToolContext, file_read

    for i in range(300):  # enough files that the checkout takes a moment
        (repo / f"f{i}.txt").write_text(f"{i}\n")
    run(repo, "add", "-A")
    run(repo, "commit", "-qm", "more")
    ws = Workspace.create(repo, "bg")
    ctx = ToolContext(scope=Scope(ws.path), project=repo, workspace=ws)
    assert "299" in await file_read({"path": "f299.txt"}, ctx)  # waited for the file, did not fail on it
    assert ws.ready and run(ws.path, "status", "--porcelain") == ""
    assert Workspace.create(repo, "fg", background=False).ready


def test_a_tampered_git_file_in_the_worktree_does_not_redirect_loom(repo: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    ws = Workspace.create(repo, "tamper")
    ws.wait_ready()
    (ws.path / ".git").write_text(f"gitdir: {evil}\n")  # what a shell command without a sandbox could do
    commit = edit(ws, "app.py", "x = 2\n")
    assert commit is not None and [c.sha for c in ws.commits()] == [commit.sha]
    assert run(repo, "log", "-1", "--format=%H", "loom/tamper").strip() == commit.sha
    assert list(evil.iterdir()) == []


async def test_a_sandboxed_command_cannot_rewrite_the_git_file(repo: Path) -> None:
    from loom_nb.tools import Scope, ToolContext, sandbox_status, shell

    if not sandbox_status().available:
        pytest.fail(f"this test needs the bubblewrap sandbox, which `make test` installs: {sandbox_status().detail}")
    ws = Workspace.create(repo, "ro")
    ctx = ToolContext(scope=Scope(ws.path), project=repo, workspace=ws)
    before = (ws.path / ".git").read_text()
    out = await shell({"command": "echo gitdir: /tmp/evil > .git"}, ctx)
    assert "Read-only file system" in out and (ws.path / ".git").read_text() == before


def test_a_workspace_a_run_holds_is_not_merged_until_the_run_releases_it(repo: Path) -> None:
    ws = Workspace.create(repo, "s-held")
    ws.hold()  # what a swarm run does while its agents work (outcome approvals may still be pending)
    edit(ws, "app.py", "def greet():\n    return 'held'\n")
    before = user_state(repo)
    with pytest.raises(WorkspaceError, match=r"session s-held is still running .* merge once it has ended"):
        Workspace.open(repo, "s-held").merge()
    assert user_state(repo) == before
    ws.release()
    Workspace.open(repo, "s-held").merge()
    assert (repo / "app.py").read_text().endswith("'held'\n")
