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
