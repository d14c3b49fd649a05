"""What the browser tests share: Debian's chromium, started so it never reaches for the network."""

import shutil

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
