import os
from pathlib import Path

import pytest

from loom_nb.tools import Scope, ToolContext


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small project with a .gitignore, hidden files, a binary, and symlinks in and out."""
    root = tmp_path / "project"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "build").mkdir()
    (root / "docs").mkdir()
    (root / ".hidden").mkdir()
    (root / ".gitignore").write_text("build/\n*.log\n!keep.log\n")
    core = "def parse_config(path):\n    return load(path)\n\nclass Loader:\n    pass\n"
    (root / "src" / "pkg" / "core.py").write_text(core)
    (root / "src" / "pkg" / "util.py").write_text("import os\n# TODO parse later\nvalue = 42\n")
    (root / "src" / ".gitignore").write_text("generated.py\n")
    (root / "src" / "generated.py").write_text("def parse_config(): pass\n")
    (root / "build" / "out.py").write_text("def parse_config(): pass\n")
    (root / "debug.log").write_text("parse_config failed\n")
    (root / "keep.log").write_text("parse_config kept\n")
    (root / ".hidden" / "secret.py").write_text("parse_config = 1\n")
    (root / "docs" / "guide.md").write_text("# Guide\nCall parse_config() first.\n")
    (root / "blob.bin").write_bytes(b"parse_config\x00\x01\x02")
    (root / "long.txt").write_text("".join(f"line {i}\n" for i in range(1, 3001)))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwords.txt").write_text("parse_config hunter2\n")
    os.symlink(outside / "passwords.txt", root / "link_out.txt")
    os.symlink(outside, root / "dir_out")
    os.symlink(root / "src" / "pkg" / "core.py", root / "link_in.py")
    return root


@pytest.fixture
def ctx(tree: Path) -> ToolContext:
    return ToolContext(scope=Scope(tree), project=tree)
