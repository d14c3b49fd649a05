"""The live view's task board and message feed (issue 10 item 7): the plan with each task's status,
role, agent, cost, dependencies and result, the estimate above it, the messages and test runs between
agents, a static summary that carries them, and redraws coalesced to <= 10 a second."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from loom_nb.events import AgentSpawned, AgentStatus, LLMCall, MessageSent, PlanMade, PlannedTask, TaskStatus, TestRun
from loom_nb.notebook import SwarmRunner
from loom_nb.notebook._view import LiveView
from loom_nb.swarm import Swarm
from tests.browser import CHROMIUM_ARGS, chromium_path
from tests.notebook.test_runner import hanging_swarm

TASK_CELLS = """() => [...document.querySelectorAll('table.loom-tasks tbody tr')].map(
    (tr) => [...tr.cells].map((td) => td.innerText.trim()))"""


@pytest.fixture
def runner():
    r = SwarmRunner()
    yield r
    r.shutdown()


@pytest.fixture
def ended(runner, tmp_path):
    """A finished session whose bus the test goes on emitting plan, task, message and test events on."""
    swarm = Swarm("research x", project=tmp_path, model="offline", record=False)
    handle = runner.submit(swarm)
    handle.wait(timeout=30)
    return handle


def emitter(handle):
    sid = handle.session_id

    def emit(cls, **kw):
        kw.setdefault("agent", "lead")
        handle.swarm.bus.emit(cls(session_id=sid, **kw))

    return emit


PLAN = (
    PlannedTask(id="t1", role="architect", prompt="decide the new name", title="Decide the name"),
    PlannedTask(
        id="t2", role="implementer", prompt="rename", title="Rename load to read", deps=(("t1", "requires_output"),)
    ),
    PlannedTask(id="t3", role="tester", prompt="run the tests", deps=(("t2", "blocks"), ("t1", "informs"))),
    PlannedTask(id="t4", role="reviewer", prompt="review the diff", title="Review", deps=(("t2", "blocks"),)),
)


def run_the_plan(emit) -> None:
    emit(PlanMade, tasks=PLAN, estimate_usd=0.04, estimate_tokens=12_000, estimate_basis="12 tasks of 3 earlier runs")
    emit(AgentSpawned, agent="architect-1", role="architect", model="m", task="t1")
    emit(TaskStatus, agent="architect-1", task="t1", role="architect", status="running")
    emit(LLMCall, agent="architect-1", model="m", cost_usd=0.0125)
    emit(LLMCall, agent="architect-1", model="m", cost_usd=0.0025)
    emit(
        TaskStatus,
        agent="architect-1",
        task="t1",
        role="architect",
        status="done",
        summary="Chose read: load is taken by the cache module",
        cost_usd=0.015,
    )
    emit(AgentSpawned, agent="implementer-1", role="implementer", model="m", task="t2")
    emit(TaskStatus, agent="implementer-1", task="t2", role="implementer", status="running")
    emit(LLMCall, agent="implementer-1", model="unpriced-model", cost_usd=None)
    emit(
        TaskStatus,
        agent="implementer-1",
        task="t2",
        role="implementer",
        status="done",
        summary="Renamed load to read in 4 files",
        files_changed=("pkg/a.py", "pkg/b.py", "pkg/c.py", "tests/test_a.py"),
    )
    emit(AgentSpawned, agent="tester-1", role="tester", model="m", task="t3")
    emit(TaskStatus, agent="tester-1", task="t3", role="tester", status="running")
    emit(
        TestRun,
        agent="tester-1",
        command="pytest -q",
        passed=11,
        failed=1,
        failing=("tests/test_a.py::test_read",),
        exit_code=1,
        task="t3",
    )
    emit(
        MessageSent,
        agent="tester-1",
        message_id="m1",
        to="implementer-1",
        text="tests/test_a.py::test_read fails: read() got 2 arguments",
        task="t3",
    )
    emit(TestRun, agent="tester-1", command="pytest -q", passed=12, exit_code=0, task="t3", round=2)


def test_the_board_shows_each_task_with_its_status_agent_cost_dependencies_and_result(ended):
    from playwright.sync_api import sync_playwright

    run_the_plan(emitter(ended))
    view = LiveView(ended)
    html = view.summary_html()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_content(html)
        rows = {cells[0]: cells for cells in page.evaluate(TASK_CELLS)}
        estimate = page.locator(".loom-estimate").inner_text()
        messages = page.locator(".loom-messages").inner_text()
        browser.close()
    # task, title, role, status, agent, depends on, cost, result
    assert rows["t1"][:7] == ["t1", "Decide the name", "architect", "● done", "architect-1", "", "$0.0150"]
    assert rows["t1"][7] == "Chose read: load is taken by the cache module"
    assert rows["t2"][3:7] == ["● done", "implementer-1", "after t1 (output)", "$0.0000 +?"]  # an unpriced call
    assert rows["t2"][7] == "Renamed load to read in 4 files\n4 files: pkg/a.py, pkg/b.py, pkg/c.py, +1"
    assert rows["t3"][1] == "run the tests"  # no title: the prompt
    assert rows["t3"][3:6] == ["● running", "tester-1", "after t2 · informed by t1"]
    assert rows["t3"][7] == "✓ tests round 2: 12 passed"  # the newest test run of the tester's task
    assert rows["t4"][3:7] == ["● pending", "", "after t2", ""]
    assert estimate == (
        "estimated $0.0400, 12,000 tokens (priors from 12 tasks of 3 earlier runs) · spent $0.0150 + unpriced calls"
    )
    lines = messages.splitlines()
    assert lines[0] == "messages"
    assert lines[1].endswith("tester-1 (t3) ✗ tests 11 passed, 1 failed — tests/test_a.py::test_read")
    assert lines[2].endswith("tester-1 → implementer-1: tests/test_a.py::test_read fails: read() got 2 arguments")
    assert lines[3].endswith("tester-1 (t3) ✓ tests round 2: 12 passed")  # newest last
    text = view.summary_text()  # the same for terminals and nbconvert's text
    assert "plan: 4 tasks · estimated $0.0400" in text
    lines = {line.split()[0]: " ".join(line.split()) for line in text.splitlines() if line.startswith("  t")}
    t2 = "t2 done implementer implementer-1 $0.0000 +? Rename load to read (after t1 (output))"
    assert lines["t2"] == t2 + " — Renamed load to read in 4 files"
    assert lines["t4"] == "t4 pending reviewer Review (after t2)"
    assert "tester-1 tests 11 passed, 1 failed (tests/test_a.py::test_read)" in text


def test_a_revised_plan_replaces_the_pending_tasks_and_says_why(ended):
    emit = emitter(ended)
    run_the_plan(emit)
    revised = (
        PlannedTask(id="t3", role="tester", prompt="run the tests", deps=(("t2", "blocks"),)),
        PlannedTask(id="t5", role="implementer", prompt="fix the docs", title="Fix the docs"),
    )
    emit(PlanMade, tasks=revised, revision=1, reason="the docs still say load", estimate_usd=None, estimate_tokens=900)
    board = ended.tracker.board()
    # done tasks stay, the running tester keeps its state, the pending reviewer is dropped, the new task waits
    assert [(t.id, t.status) for t in board.tasks] == [
        ("t1", "done"),
        ("t2", "done"),
        ("t3", "running"),
        ("t5", "pending"),
    ]
    assert board.tasks[2].test is not None and board.tasks[2].test.round == 2 and board.tasks[2].after() == "after t2"
    view = LiveView(ended)
    assert "plan revised: the docs still say load</span> (revision 1, 1 pending task dropped)" in view.body.value
    assert "estimated 900 tokens, cost unknown (a model&#x27;s price is unknown)" in view.body.value
    assert "plan revised (revision 1): the docs still say load" in " ".join(ended.tracker.feed())


def test_the_feed_keeps_the_newest_messages_and_counts_the_earlier_ones(ended):
    emit = emitter(ended)
    long_text = "please rerun " + "the failing tests " * 40
    for i in range(30):
        emit(MessageSent, agent=f"implementer-{i % 3}", message_id=f"m{i}", to="tester-1", text=f"message {i}")
    emit(
        MessageSent, agent="lead", message_id="m30", to="*", text="stop: budget", urgent=True, message_kind="broadcast"
    )
    emit(MessageSent, agent="tester-1", message_id="m31", to="implementer-1", text=long_text, message_kind="ask")
    body = LiveView(ended).body.value
    feed = ended.tracker.board().feed
    assert len(feed) == 12 and feed[-1].text == long_text and ended.tracker.board().earlier == 20
    assert "20 earlier not shown" in body
    assert "message 19" not in body and "message 20" in body and "message 29" in body
    assert body.index("message 20") < body.index("message 29") < body.index("stop: budget")  # newest last
    assert "lead → everyone [broadcast] <b" in body and "⚑ urgent</b>: stop: budget" in body
    # the long text is cut on the line and kept whole in its title
    assert f'<span title="{long_text}">please rerun the failing tests' in body
    assert "tester-1 → implementer-1 [ask]: " in body and long_text not in body.replace(f'title="{long_text}"', "")


def test_task_costs_follow_the_agents_calls_and_other_sessions_are_ignored(ended):
    emit = emitter(ended)
    emit(PlanMade, tasks=PLAN[:2])
    emit(AgentSpawned, agent="worker", role="implementer", model="m", task="t1")
    emit(LLMCall, agent="worker", model="m", cost_usd=0.01)
    emit(TaskStatus, agent="worker", task="t1", role="architect", status="done", cost_usd=0.005)  # reported less
    emit(TaskStatus, agent="worker", task="t2", role="implementer", status="running")  # the same agent, next task
    emit(LLMCall, agent="worker", model="m", cost_usd=0.02)
    emit(LLMCall, agent="lead", model="m", cost_usd=0.5)  # no task: the lead's own
    ended.swarm.bus.emit(TaskStatus(session_id="another", agent="x", task="t1", role="architect", status="failed"))
    ended.swarm.bus.emit(MessageSent(session_id="another", agent="x", message_id="m", to="y", text="elsewhere"))
    board = ended.tracker.board()
    assert [(t.id, t.status, round(t.cost_usd, 4)) for t in board.tasks] == [
        ("t1", "done", 0.01),
        ("t2", "running", 0.02),
    ]
    assert board.feed == () and "elsewhere" not in LiveView(ended).body.value


def test_an_estimate_above_the_budget_says_so(runner, tmp_path):
    started = threading.Event()
    handle = runner.submit(hanging_swarm(tmp_path, started, budget_usd=0.01))
    assert started.wait(10)
    basis = "default priors (no earlier runs of these roles recorded)"  # a phrase of its own: kept as it is
    emitter(handle)(PlanMade, tasks=PLAN, estimate_usd=0.04, estimate_basis=basis)
    view = LiveView(handle)
    assert f"estimated $0.0400 ({basis}), more than the budget of $0.0100 · spent $0.0000" in view.body.value
    assert "plan made: 4 tasks, estimated $0.0400" in " ".join(handle.tracker.feed())
    assert "more than the budget of $0.0100" in view.summary_text()
    handle.stop("enough")
    handle.wait(timeout=10)


def test_a_big_plan_draws_running_and_failed_tasks_and_counts_the_rest(ended):
    emit = emitter(ended)
    tasks = tuple(PlannedTask(id=f"t{i}", role="implementer", prompt=f"task {i}") for i in range(1000))
    emit(PlanMade, tasks=tasks)
    emit(TaskStatus, agent="implementer-1", task="t999", role="implementer", status="running")
    emit(TaskStatus, agent="implementer-2", task="t500", role="implementer", status="failed", error="crashed twice")
    body = LiveView(ended).body.value
    assert body.count('<tr class="loom-task">') == 60 and "940 more tasks not shown" in body
    assert ">t999<" in body and ">t500<" in body and ">t0<" in body and ">t58<" not in body
    assert "crashed twice" in body and "task t500 failed: crashed twice" in " ".join(ended.tracker.feed())
    text = LiveView(ended).summary_text()  # the text summary is bounded the same way
    assert sum(line.startswith("  t") for line in text.splitlines()) == 60 and "940 more tasks not shown" in text


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def count_messages(widgets: dict[str, object]) -> Counter:
    """Wrap each real widget's comm: every state message it sends to the front end is counted."""
    sent: Counter = Counter()
    for name, widget in widgets.items():
        comm = widget.comm
        send = comm.send

        def counting(*args, _name=name, _send=send, **kw):
            sent[_name] += 1
            return _send(*args, **kw)

        comm.send = counting
    return sent


def test_a_flood_from_100_agents_makes_at_most_ten_widget_updates_a_second(runner, tmp_path):
    started = threading.Event()
    handle = runner.submit(hanging_swarm(tmp_path, started, budget_usd=1.0))
    assert started.wait(10)
    clock = FakeClock()
    view = LiveView(handle, clock=clock)
    emit = emitter(handle)
    tasks = tuple(PlannedTask(id=f"t{i}", role="implementer", prompt=f"task {i}") for i in range(100))
    emit(PlanMade, tasks=tasks, estimate_usd=1.0)
    widgets = {"body": view.body, "budget": view.budget, "stop": view.stop_button, "cards": view.cards.widget}
    sent = count_messages(widgets)
    drawn = view.redraws
    seconds = 5
    events = 0
    tick = 2**-10  # ~1 ms, exact in binary: the simulated times add up without rounding
    for step in range(seconds * 1024):  # 5 simulated seconds, 20 events a tick: 20,480 events a second
        clock.now += tick
        for k in range(20):
            agent = f"implementer-{(step * 20 + k) % 100}"
            if k == 0:
                emit(AgentStatus, agent=agent, status="thinking", iteration=step)
            elif k == 1:
                emit(MessageSent, agent=agent, message_id=f"m{step}", to="tester-1", text=f"step {step}")
            else:
                emit(LLMCall, agent=agent, model="m", input_tokens=1, cost_usd=0.0)
            events += 1
        view.poll()
    redraws = view.redraws - drawn
    assert events == 102_400 and handle.tracker.totals()["input_tokens"] >= 90_000
    assert redraws <= seconds * 10 and sent["body"] <= seconds * 10  # one message per redraw at most
    assert sent["budget"] <= 1 and sent["stop"] == 0 and sent["cards"] == 0  # unchanged widgets send nothing
    assert redraws >= seconds * 10 - 1  # and the flood is shown: a redraw every period
    clock.now += 0.125  # what came after the last redraw is drawn a period later, nothing lost
    tokens = handle.tracker.totals()["input_tokens"]
    assert view.poll() and f"step {seconds * 1024 - 1}" in view.body.value and f"{tokens:,} in" in view.body.value
    # quiet: no redraw until the tick (the elapsed time), then one
    assert not view.poll()
    clock.now += 0.5
    assert not view.poll()
    clock.now += 0.5
    assert view.poll() and not view.poll()
    handle.stop("enough")
    handle.wait(timeout=10)


KERNEL_CELL = """
from loom_nb.events import MessageSent, PlanMade, PlannedTask, TaskStatus, TestRun
from loom_nb.notebook import default_runner
from loom_nb.notebook._view import start_live_view
from loom_nb.swarm import Swarm

views = []
h = default_runner().run_foreground(
    Swarm("research x", project=".", model="offline", record=False),
    on_submit=lambda h: views.append(start_live_view(h)),
)
sid = h.session_id  # a revised plan after the run's own (if it made one): the board's last word
tasks = (PlannedTask(id="r1", role="implementer", prompt="rename", title="Rename load to read"),
         PlannedTask(id="r2", role="tester", prompt="test", title="Run the tests", deps=(("r1", "blocks"),)))
for e in (
    PlanMade(session_id=sid, agent="lead", tasks=tasks, revision=1, reason="rename first",
             estimate_usd=0.02, estimate_basis="12 tasks of 3 earlier runs"),
    TaskStatus(session_id=sid, agent="implementer-1", task="r1", role="implementer", status="done",
               summary="renamed in 3 files", files_changed=("a.py", "b.py", "c.py")),
    MessageSent(session_id=sid, agent="implementer-1", message_id="m1", to="tester-1", text="ready for tests"),
    TestRun(session_id=sid, agent="tester-1", command="pytest", passed=5, exit_code=0, task="r2"),
):
    h.swarm.bus.emit(e)
views[0].finish()
"""


def test_the_static_summary_a_kernel_leaves_after_the_run_shows_the_board(tmp_path):
    """The display the live view ends with (what nbconvert, nbval and a saved notebook keep)."""
    from tests.notebook.test_kernel import Kernel

    kernel = Kernel(tmp_path)
    try:
        result = kernel.execute(KERNEL_CELL, timeout=120)
    finally:
        kernel.close()
    assert result["status"] == "ok", result
    shown = [o for o in result["outputs"] if o["msg_type"] == "display_data"]
    updates = [o for o in result["outputs"] if o["msg_type"] == "update_display_data"]
    assert len(shown) == 1 and updates, result["outputs"]
    assert updates[-1]["content"]["transient"]["display_id"] == shown[0]["content"]["transient"]["display_id"]
    final = updates[-1]["content"]["data"]
    assert "application/vnd.jupyter.widget-view+json" not in final  # static: no widget left behind
    html, text = final["text/html"], final["text/plain"]
    assert 'class="loom-tasks"' in html and "Rename load to read" in html and "renamed in 3 files" in html
    assert "estimated $0.0200 (priors from 12 tasks of 3 earlier runs)" in html and "ready for tests" in html
    assert "plan revised: rename first" in html
    assert "✓ tests 5 passed" in html
    assert "tasks · estimated $0.0200 (priors from 12 tasks of 3 earlier runs)" in text
    assert "implementer-1 -> tester-1: ready for tests" in text
    assert "r2     pending   tester" in text and "tests 5 passed" in text
