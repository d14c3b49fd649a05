"""An approval card's click in JupyterLab (Chromium) to the tool running (target <= 100 ms, median).

Each round runs a notebook whose researcher (the anthropic SDK against the fake LLM server) asks to
read a file the project's policy guards; the benchmark clicks "Allow once" on the card and measures
from the click to the tool call's start, as recorded in DuckDB (same machine, same clock).

Usage: python benchmarks/bench_approval_click.py [--rounds 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser import CHROMIUM_ARGS, chromium_path, jupyterlab, loom_notebook, open_and_run_all


def one_round(browser: Any, base: str, root: Path, fake: Any, r: int) -> float:
    """Click to the tool's start, in ms, for one run of a fresh notebook."""
    import duckdb

    from loom_nb.testing import Reply

    loom_notebook(root / f"r{r}.ipynb", fake.url, "Where is the key kept?", f"r{r}.duckdb")
    fake.script(
        Reply(text="Where is the key kept?"),
        Reply(tool_calls=[("file_read", {"path": "secrets/key.txt"})]),
        Reply(text="secrets/key.txt:1"),
        Reply(text="In secrets/key.txt."),
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    open_and_run_all(page, base, f"r{r}.ipynb?reset")  # one notebook open at a time
    allow = page.locator(".jp-OutputArea button:has-text('Allow once')")
    allow.wait_for(state="visible", timeout=60_000)
    clicked = time.time()
    allow.click()
    page.wait_for_selector(".jp-OutputArea-output:has-text('after done')", timeout=60_000)
    page.close()
    con = duckdb.connect(str(root / f"r{r}.duckdb"), read_only=True)
    (ended, duration) = con.execute(
        "SELECT epoch_us(ts) / 1e6, duration_s FROM tool_calls WHERE tool = 'file_read'"
    ).fetchone()
    con.close()
    return (ended - duration - clicked) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from loom_nb.testing import FakeLLMServer

    latencies = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lab"
        root.mkdir()
        (root / ".loom.toml").write_text('[[permissions.rules]]\naction = "ask"\npath = "secrets/**"\n')
        (root / "secrets").mkdir()
        (root / "secrets" / "key.txt").write_text("the key\n")
        with jupyterlab(root, Path(tmp)) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            for r in range(args.rounds):
                # a fake server per round: a run-all sent twice must not eat the next round's script
                with FakeLLMServer() as fake:
                    latencies.append(one_round(browser, base, root, fake, r))
                print(f"round {r + 1}: click to the tool running {latencies[-1]:.0f} ms")
            browser.close()
    median = statistics.median(latencies)
    print(f"approval click to the tool running: median {median:.0f} ms, max {max(latencies):.0f} ms (target 100 ms)")
    if args.json:
        Path(args.json).write_text(json.dumps({"click_to_tool_ms": latencies, "median_ms": median}, indent=2))


if __name__ == "__main__":
    main()
