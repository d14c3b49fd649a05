"""The JupyterLab server and the fake LLM server the browser tests share."""

import shutil
from pathlib import Path

import pytest

from tests.browser import jupyterlab

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.fixture
def fake_llm():
    from loom_nb.testing import FakeLLMServer

    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def lab(tmp_path):
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOKS / "01_quickstart.ipynb", root)
    shutil.copytree(NOTEBOOKS / "sample_project", root / "sample_project", ignore=shutil.ignore_patterns(".loom"))
    with jupyterlab(root, tmp_path) as base:
        yield base, root
