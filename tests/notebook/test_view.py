"""The live view: coalesced redraws, the stop button, and the static summary beside the widget."""

import asyncio
import threading
import time

import pytest

from loom_nb.events import LLMCall
from loom_nb.models import ScriptedModel
from loom_nb.notebook import SwarmRunner
from loom_nb.notebook._view import LiveView
from loom_nb.swarm import Swarm
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
    threading.Thread(target=view.stop_button.click).start()  # as a subshell's callback
    result = handle.wait(timeout=10)
    assert result.status == "cancelled" and result.error == "stop button"
    view.finish()
    assert view.stop_button.disabled and "cancelled" in view.summary_text()


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
