"""The live view: coalesced redraws, the stop button, and the static summary beside the widget."""

import asyncio
import re
import threading
import time

import pytest

from loom_nb.events import LLMCall
from loom_nb.models import ScriptedModel
from loom_nb.notebook import SwarmRunner
from loom_nb.notebook._view import LiveView
from loom_nb.swarm import Swarm
from tests.browser import CHROMIUM_ARGS, chromium_path
from tests.notebook.test_runner import hanging_swarm
from tests.swarm.test_swarm import lead_model


@pytest.fixture
def runner():
    r = SwarmRunner()
    yield r
    r.shutdown()


def test_a_flood_of_events_gives_at_most_ten_redraws_a_second(runner, tmp_path):
    started = threading.Event()

    async def flooding(messages, tools):
        started.set()
        for i in range(20_000):  # 20k events as fast as the loop can emit them
            swarm.bus.emit(LLMCall(session_id=swarm.session_id, agent="researcher-1", model="m", input_tokens=1))
            if i % 500 == 0:
                await asyncio.sleep(0)
        return "flooded"

    swarm = Swarm(
        "research x",
        project=tmp_path,
        model=lead_model(["a question about x"]),
        weak=ScriptedModel(flooding),
        record=False,
    )
    handle = runner.submit(swarm)
    view = LiveView(handle)
    began = time.monotonic()
    runner.watch(view.refresh()).result(timeout=60)  # the refresher ends after the session's last redraw
    elapsed = time.monotonic() - began
    assert view.redraws <= elapsed * 10 + 3
    tokens = handle.tracker.totals()["input_tokens"]
    assert tokens >= 20_000 and f"{tokens:,} in" in view.body.value and "done" in view.body.value


def test_stop_button_and_static_summary(runner, tmp_path):
    started = threading.Event()
    handle = runner.submit(hanging_swarm(tmp_path, started, budget_usd=1.0))
    view = LiveView(handle)
    assert started.wait(10)
    view.redraw()
    bundle = view._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "researcher-1" in bundle["text/plain"] and "researcher-1" in bundle["text/html"]
    assert view.budget.layout.visibility == "visible"
    clicker = threading.Thread(target=view.stop_button.click)  # as a subshell's callback
    clicker.start()
    clicker.join(10)
    assert view.stop_button.description == "Stopping…" and view.stop_button.disabled  # heard at once
    result = handle.wait(timeout=10)
    assert result.status == "cancelled" and result.error == "stop button"
    view.finish()
    assert view.stop_button.disabled and "cancelled" in view.summary_text()
    # the header says why it stopped; the agent that was working shows cancelled, not done
    assert "cancelled: stop button" in view.summary_html()
    assert {r.name: r.status for r in handle.tracker.rows()}["researcher-1"] == "cancelled"
    assert "researcher-1 cancelled: stopped" in " ".join(handle.tracker.feed())


def test_hostile_agent_output_is_escaped_in_the_view(runner, tmp_path):
    swarm = Swarm(
        "research <img src=x onerror=alert(1)>",
        project=tmp_path,
        model=lead_model(["a question about <script>x</script>"], "<b>answer</b>"),
        weak=ScriptedModel(["<img src=x onerror=alert(2)>"]),
        record=False,
    )
    handle = runner.run_foreground(swarm)
    view = LiveView(handle)
    page = view.summary_html() + view.body.value
    assert "<img" not in page and "<b>answer</b>" not in page and "&lt;b&gt;answer" in page


def test_the_elapsed_time_moves_while_no_event_arrives(runner, tmp_path):
    started = threading.Event()
    handle = runner.submit(hanging_swarm(tmp_path, started))
    assert started.wait(10)
    view = LiveView(handle)
    refresher = runner.watch(view.refresh())
    version = handle.tracker.version
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while len(seen) < 3:  # three different elapsed times while the researcher waits, silent
        assert time.monotonic() < deadline, f"the elapsed time froze at {seen}"
        seen.add(re.search(r"· ([0-9.]+) s ·", view.body.value).group(1))
        time.sleep(0.05)  # polling a condition with a deadline
    assert handle.tracker.version == version  # no event came meanwhile: the clock alone moved it
    handle.stop("enough")
    refresher.result(timeout=10)
    assert handle.status == "cancelled"


def test_the_agents_table_has_room_between_its_columns(runner, tmp_path):
    from playwright.sync_api import sync_playwright

    from loom_nb.events import AgentSpawned

    swarm = Swarm("research x", project=tmp_path, model="offline", record=False)
    handle = runner.submit(swarm)
    handle.wait(timeout=30)
    swarm.bus.emit(AgentSpawned(session_id=swarm.session_id, agent="agent-x", role="researcher", model="m"))
    swarm.bus.emit(
        LLMCall(session_id=swarm.session_id, agent="agent-x", model="m", input_tokens=141, output_tokens=200)
    )
    view = LiveView(handle)
    gaps = """() => {
        const text = (el) => {
            const r = document.createRange(); r.selectNodeContents(el); return r.getBoundingClientRect(); };
        const gap = (row) => { const cells = [...row.cells].filter((c) => c.textContent.trim()); const out = [];
            for (let i = 1; i < cells.length; i++) out.push(text(cells[i]).left - text(cells[i - 1]).right);
            return out; };
        const rows = [...document.querySelectorAll('table.loom-agents tr')];
        return {head: gap(rows[0]), row: gap(rows.find((r) => r.textContent.includes('agent-x')))};
    }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_content(view.summary_html())
        measured = page.evaluate(gaps)
        browser.close()
    # every two neighbouring texts ("agent" and "role", 141 in and 200 out) stand apart by >= 12 px
    assert min(measured["head"]) >= 12 and min(measured["row"]) >= 12, measured


def test_approval_cards_answer_from_a_click_on_another_thread(runner, tmp_path):
    from loom_nb.models import tool_call
    from loom_nb.permissions import Policy, Rule

    hostile = "<img src=x onerror=alert(1)>"
    (tmp_path / "secrets").mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / "secrets" / name).write_text(name)
    reads = [tool_call("file_read", path=f"secrets/{n}") for n in ("a.txt", "b.txt", "c.txt")]
    swarm = Swarm(
        "where are the secrets kept",
        project=tmp_path,
        model=lead_model(["where are the secrets kept"], "done"),
        weak=ScriptedModel([reads, f"read them {hostile}"]),
        policy=Policy(rules=[Rule(action="ask", path="secrets/**", reason=hostile)]),
        record=False,
    )
    asked = threading.Event()
    swarm.gate.queue.subscribe(lambda *_: len(swarm.gate.queue.pending()) == 3 and asked.set())
    handle = runner.submit(swarm)
    view = LiveView(handle)
    assert asked.wait(10)
    view.redraw()
    cards = view.cards.widget.children
    assert len(cards) == 3 and "3 waiting for your approval" in view.body.value
    info = cards[0].children[0].value
    assert "&lt;img src=x onerror=alert(1)&gt;" in info and "<img" not in info  # the rule's reason, as text
    assert "file_read" in info and "secrets/a.txt" in info

    def button(card, label):
        return next(b for b in card.children[1].children if getattr(b, "description", "") == label)

    first, second, third = cards
    second.children[1].children[-1].value = "not b"  # the message box
    clicks = [
        threading.Thread(target=button(first, "Allow once").click),
        threading.Thread(target=button(second, "Deny").click),
    ]
    for t in clicks:
        t.start()
    for t in clicks:
        t.join()
    editor = third.children[2].children[0]
    editor.children[0].value = "not json"
    editor.children[1].click()
    assert "not JSON" in third.children[3].value  # said on the card; nothing answered
    editor.children[0].value = '{"path": "secrets/a.txt"}'
    editor.children[1].click()
    result = handle.wait(timeout=20)
    decided = handle.approvals().set_index("id")
    assert decided["status"].to_dict() == {"a1": "allow", "a2": "deny", "a3": "allow"}
    assert set(decided["by"]) == {"widget"} and decided.loc["a2", "message"] == "not b"
    assert result.status == "done" and sorted(view.cards.answered) == ["a1", "a2", "a3"]
    view.redraw()
    assert view.cards.widget.children == ()
