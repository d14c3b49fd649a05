"""`loom-nb worktrees | diff | merge | undo | discard` on a real repository."""

import subprocess
import sys
from pathlib import Path

import pytest

from loom_nb._cli import main
from loom_nb.workspace import Workspace
from tests.workspace.conftest import edit, run


def test_diff_undo_merge_discard(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = Workspace.create(repo, "c1")
    edit(ws, "app.py", "def greet():\n    return 'hello'\n")
    edit(ws, "extra.py", "x = 1\n")
    ws.release()
    assert main(["diff", "--project", str(repo)]) == 0  # the newest workspace by default
    assert "+    return 'hello'" in capsys.readouterr().out
    assert main(["undo", "c1", "--last", "1", "--project", str(repo)]) == 0
    assert "reverted 1 commit(s)" in capsys.readouterr().out
    assert main(["merge", "c1", "--project", str(repo)]) == 1  # no terminal to confirm: nothing done
    assert "pass --yes" in capsys.readouterr().err
    assert main(["merge", "c1", "--yes", "--project", str(repo)]) == 0
    assert (repo / "app.py").read_text().endswith("'hello'\n") and not (repo / "extra.py").exists()
    assert main(["discard", "c1", "--yes", "--project", str(repo)]) == 0
    assert "loom/c1" not in run(repo, "branch", "--list")


def test_stale_worktrees_are_listed_and_cleaned(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = f"import os; from loom_nb.workspace import Workspace; Workspace.create({str(repo)!r}, 'dead'); os._exit(0)"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
    assert main(["worktrees", "--project", str(repo), "--clean"]) == 0
    out = capsys.readouterr().out
    assert "dead  loom/dead  0 commit(s)  stale (its process died)" in out and "discarded dead" in out
    assert Workspace.list(repo) == []


def test_errors_are_one_line_with_exit_2(tmp_path: Path, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "nope", "--project", str(repo)]) == 2
    assert capsys.readouterr().err.startswith("loom-nb: error: no workspace for session 'nope'")
    assert main(["diff", "--project", str(tmp_path)]) == 2
    assert f"no loom workspace in {tmp_path}: only runs whose agents write have one" in capsys.readouterr().err
