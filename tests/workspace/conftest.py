"""Real git repositories in temporary folders, and an edit helper that commits like the write tools."""

from pathlib import Path

import pytest

from loom_nb.workspace import Commit, Workspace
from tests.gitrepo import git, git_project

run = git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_project(tmp_path / "project", {"app.py": "def greet():\n    return 'hi'\n", "README.md": "# project\n"})


def edit(ws: Workspace, path: str, text: str, agent: str = "implementer-1", task: str = "t1") -> Commit | None:
    ws.wait_ready()  # the checkout runs in the background; a test writes files directly
    target = ws.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return ws.commit([path], f"edit {path}", agent=agent, role="implementer", task=task)
