"""Real git repositories in temporary folders, and an edit helper that commits like the write tools."""

import subprocess
from pathlib import Path

import pytest

from loom_nb.workspace import Commit, Workspace


def run(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    run(root, "init", "-q", "-b", "main")
    run(root, "config", "user.name", "Ada")
    run(root, "config", "user.email", "ada@example.org")
    (root / "app.py").write_text("def greet():\n    return 'hi'\n")
    (root / "README.md").write_text("# project\n")
    run(root, "add", "-A")
    run(root, "commit", "-qm", "start")
    return root


def edit(ws: Workspace, path: str, text: str, agent: str = "implementer-1", task: str = "t1") -> Commit | None:
    ws.wait_ready()  # the checkout runs in the background; a test writes files directly
    target = ws.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return ws.commit([path], f"edit {path}", agent=agent, role="implementer", task=task)
