"""A real git repository in a temporary folder, for the tests of workspaces and the tools that write."""

import subprocess
from pathlib import Path


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def git_project(root: Path, files: dict[str, str | bytes]) -> Path:
    """`root` as a repository on branch main whose one commit holds `files`."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Ada")
    git(root, "config", "user.email", "ada@example.org")
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root
