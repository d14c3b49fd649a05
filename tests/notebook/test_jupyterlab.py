"""The quickstart in JupyterLab, in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import time

import pytest

from tests.browser import CHROMIUM_ARGS, chromium_path, loom_notebook, open_and_run_all


@pytest.mark.timeout(300)
def test_the_quickstart_runs_in_jupyterlab_with_agent_rows_and_the_graph(lab):
    from playwright.sync_api import sync_playwright

    base, root = lab
    chromium = chromium_path()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            open_and_run_all(page, base, "01_quickstart.ipynb")
            # the agents of the run: the live widget's table, then the summary it turns into
            page.wait_for_selector("table.loom-agents td:has-text('researcher-1')", state="attached", timeout=120_000)
            # a browser draws no frame for an iframe out of view: bring it into view as a reader would
            page.locator("iframe[title^='loom decision graph']").scroll_into_view_if_needed(timeout=120_000)
            graph = page.frame_locator("iframe[title^='loom decision graph']")
            graph.locator("body[data-drawn='1']").wait_for(state="attached", timeout=120_000)
            assert graph.locator("#graph svg#view").count() == 1
            rows = page.locator("table.loom-agents tbody tr")
            assert rows.count() >= 3  # lead and two researchers
            assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']:has-text('Traceback')").count() == 0
            assert page.locator(".jp-OutputArea-output:has-text('UsageError')").count() == 0
            page.screenshot(path=str(root / "jupyterlab.png"), full_page=False)
        except Exception:
            page.screenshot(path=str(root / "failure.png"), full_page=True)  # what the browser showed
            raise
        browser.close()
    assert (root / "sample_project" / ".loom" / "loom.duckdb").exists()


def _wait_until(condition, what: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)  # polling a condition with a deadline


@pytest.mark.timeout(300)
def test_the_stop_button_stops_a_foreground_run_while_its_cell_is_busy(lab, fake_llm):
    from playwright.sync_api import sync_playwright

    from loom_nb.testing import Reply

    base, root = lab
    (root / "config.py").write_text("def parse_config(path):\n    return path\n")
    loom_notebook(root / "stop.ipynb", fake_llm.url, "Where is parse_config defined?", "stop.duckdb")
    # the lead plans one question; the researcher's model then thinks for a minute
    fake_llm.script(Reply(text="Where is parse_config defined?"), Reply(text="config.py:1", latency=60))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            open_and_run_all(page, base, "stop.ipynb")
            button = page.locator(".jp-OutputArea button:has-text('Stop')")
            button.wait_for(state="visible", timeout=60_000)
            _wait_until(lambda: len(fake_llm.requests) >= 2, "the researcher never asked its model", 60)
            assert fake_llm.in_flight == 1  # the cell is busy: the researcher waits on its model
            clicked = time.monotonic()
            button.click()
            page.wait_for_selector(".jp-OutputArea-output:has-text('after cancelled')", timeout=30_000)
            assert time.monotonic() - clicked < 20  # long before the model's minute is up
            summary = page.locator(".loom-summary").first.inner_text()
            assert "cancelled" in summary and "stop button" in summary
        except Exception:
            page.screenshot(path=str(root / "failure.png"), full_page=True)
            raise
        browser.close()


@pytest.mark.timeout(300)
def test_an_approval_card_is_clicked_while_the_run_waits(lab, fake_llm):
    """A foreground run's researcher asks to read a file the project's policy guards; the card's
    Allow button, clicked in JupyterLab while the cell is busy, lets it go on."""
    from playwright.sync_api import sync_playwright

    from loom_nb.testing import Reply

    base, root = lab
    (root / ".loom.toml").write_text('[[permissions.rules]]\naction = "ask"\npath = "secrets/**"\n')
    (root / "secrets").mkdir()
    (root / "secrets" / "key.txt").write_text("the key\n")
    loom_notebook(
        root / "ask.ipynb",
        fake_llm.url,
        "Where is the key kept?",
        "ask.duckdb",
        after="print('after', _loom.status, _loom.approvals()[['status', 'by']].values.tolist())",
    )
    fake_llm.script(
        Reply(text="Where is the key kept?"),  # the lead's plan
        Reply(tool_calls=[("file_read", {"path": "secrets/key.txt"})]),  # the researcher asks to read it
        Reply(text="secrets/key.txt:1 holds it"),
        Reply(text="The key is in secrets/key.txt."),  # the lead's answer
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            open_and_run_all(page, base, "ask.ipynb")
            allow = page.locator(".jp-OutputArea button:has-text('Allow once')")
            allow.wait_for(state="visible", timeout=60_000)
            card = page.locator(".jp-OutputArea-output:has-text('approval a1')").first
            assert "file_read" in card.inner_text() and "secrets/**" in card.inner_text()
            allow.click()
            page.wait_for_selector(
                ".jp-OutputArea-output:has-text(\"after done [['allow', 'widget']]\")", timeout=60_000
            )
            assert page.locator(".jp-OutputArea button:has-text('Allow once')").count() == 0  # the card is gone
        except Exception:
            page.screenshot(path=str(root / "failure.png"), full_page=True)
            raise
        browser.close()
