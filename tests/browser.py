"""What the browser tests share: Debian's chromium, started so it never reaches for the network."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    path = shutil.which("chromium")
    assert path, "chromium is not on PATH: run `make test`, which installs it"
    return path


KERNEL_READY = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!k && k.connectionStatus === 'connected' && k.status === 'idle';
}"""
"""JupyterLab's kernel connection is up and idle (its own, not the indicator: it may still reconnect)."""


def open_and_run_all(page, base: str, notebook: str) -> None:
    """Open a notebook, wait for its kernel's own connection, and run every cell."""
    page.goto(f"{base}/lab/tree/{notebook}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('notebook:run-all-cells')",
        timeout=60_000,
    )
    page.wait_for_function(KERNEL_READY, timeout=60_000)
    for attempt in range(3):
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        try:
            page.wait_for_selector(".jp-InputArea-prompt:has-text('[1]')", state="attached", timeout=20_000)
            return
        except Exception:
            if attempt == 2:
                raise
            page.wait_for_function(KERNEL_READY, timeout=60_000)


@contextmanager
def jupyterlab(root: Path, tmp_path: Path) -> Iterator[str]:
    """A JupyterLab server on 127.0.0.1 serving `root` (as root: --allow-root); yields its base URL."""
    # JupyterLab 4 renders only the cells in view ("windowing"): render them all, so every output exists
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "run"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    log = open(tmp_path / "jupyterlab.log", "w")  # a pipe nobody reads would fill up and block the server
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.news_url=None",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # until the server answers (or gives up)
        try:
            with urllib.request.urlopen(f"{base}/api/status", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if server.poll() is not None:
                raise AssertionError(
                    f"jupyter lab exited: {(tmp_path / 'jupyterlab.log').read_text()[-2000:]}"
                ) from None
            if time.monotonic() > deadline:
                raise AssertionError("jupyter lab did not start within 60 s") from None
            time.sleep(0.2)  # waiting for a server to come up, not synchronising test steps
    try:
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loom_notebook(path: Path, llm_url: str, intent: str, db: str, after: str = "print('after', _loom.status)") -> None:
    """A notebook whose %%loom cell runs `intent` on anthropic: models answered by the fake LLM server at
    `llm_url`, then a cell that prints the outcome (`after`)."""
    import nbformat

    model = "anthropic:claude-haiku-4-5"
    nb = nbformat.v4.new_notebook(
        cells=[
            # the kernel's anthropic: models talk to the fake server
            nbformat.v4.new_code_cell(
                f"import os\nos.environ.update(ANTHROPIC_BASE_URL={llm_url!r}, ANTHROPIC_API_KEY='test-key')\n"
                "%load_ext loom_nb"
            ),
            nbformat.v4.new_code_cell(f"%%loom --model {model} --weak {model} --db {db}\n{intent}"),
            nbformat.v4.new_code_cell(after),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, path)
