"""The drawing groups by task: a band per task with the task's title (hostile text shown as text), each
task's nodes inside its band, nothing overlapping; read back from a real Chromium."""

import pytest

from loom_nb.events import (
    AgentSpawned,
    CommitMade,
    EventBus,
    MessageSent,
    PlanMade,
    PlannedTask,
    SessionStarted,
    TaskStatus,
    TestRun,
)
from loom_nb.graph import GraphStore, Recorder, open_graph
from tests.browser import CHROMIUM_ARGS, chromium_path
from tests.graph.test_view import check_layout, overlaps

TITLES = [
    "<img src=x onerror=alert(1)> find usages",
    "</script><script>alert(2)</script> decide",
    'it\'s "quoted" & <b>bold</b>',
    "plain title",
]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def recorded(tmp_path, tasks: int = 4, per_task: int = 3):
    db = tmp_path / "g.duckdb"
    roles = ["researcher", "architect", "implementer", "tester"]
    plan = tuple(
        PlannedTask(
            id=f"t{i}",
            role=roles[i % 4],
            prompt=f"do part {i}",
            title=TITLES[i % len(TITLES)],
            deps=((f"t{i - 1}", "blocks"),) if i else (),
        )
        for i in range(tasks)
    )
    bus = EventBus()
    with Recorder(GraphStore(db), project_decisions=True).attach(bus):
        bus.emit(SessionStarted(session_id="s", agent="", intent="Refactor <the> session module"))
        bus.emit(PlanMade(session_id="s", agent="lead", tasks=plan))
        for i in range(tasks):
            agent = f"{roles[i % 4]}-{i}"
            bus.emit(AgentSpawned(session_id="s", agent=agent, role=roles[i % 4], model="m", task=f"t{i}"))
            bus.emit(TaskStatus(session_id="s", agent=agent, task=f"t{i}", role=roles[i % 4], status="running"))
            for j in range(per_task):
                bus.emit(
                    CommitMade(
                        session_id="s", agent=agent, sha=f"{i:04d}{j:04d}abcdef", message=f"edit {j}", task=f"t{i}"
                    )
                )
            bus.emit(TestRun(session_id="s", agent=agent, command="pytest", passed=3, failed=i % 2))
            bus.emit(MessageSent(session_id="s", agent=agent, message_id=f"m{i}", to="lead", text=TITLES[i % 4]))
            bus.emit(
                TaskStatus(session_id="s", agent=agent, task=f"t{i}", role=roles[i % 4], status="done", summary="ok")
            )
    return open_graph(db)


BANDS_AND_TEXT = """() => ({
  bands: loomView.bands(),
  fits: Array.prototype.map.call(document.querySelectorAll('#content .G > svg'), g =>
      g.querySelector('text').getComputedTextLength() + 10 <= g.width.baseVal.value),
  under: Array.prototype.map.call(document.querySelectorAll('#content .G > svg'), g =>
      g.querySelector('text').getBoundingClientRect().bottom),
  injected: document.querySelectorAll('#content img, #content b, #content script').length,
})"""


@pytest.mark.parametrize("tasks", [4, 30])
def test_a_band_per_task_holds_its_nodes(tmp_path, browser, tasks):
    g = recorded(tmp_path, tasks)
    nodes = g.nodes("s")
    task_of = {f"n{r['id']}": r["metadata"].get("task") for r in nodes.to_dict("records")}
    assert sum(1 for t in task_of.values() if t) == tasks * (1 + 3 + 1 + 1 + 1)  # action, commits, test, msg, done
    path = g.save_html(tmp_path / "g.html", session="s")
    page = browser.new_page(viewport={"width": 1200, "height": 700})
    errors, dialogs = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-drawn='1']", timeout=30_000)
    check_layout(page, len(nodes))  # no two node boxes overlap, every label fits, all in view
    got = page.evaluate(BANDS_AND_TEXT)
    bands = got["bands"]
    assert [b[5] for b in bands] == [f"t{i}" for i in range(tasks)]  # plan order
    for i, band in enumerate(bands):  # the task's title, as text, with its role and status
        assert (
            band[6]
            == f"{TITLES[i % len(TITLES)]} · {['researcher', 'architect', 'implementer', 'tester'][i % 4]} · done"
        )
    assert all(got["fits"]) and got["injected"] == 0 and dialogs == [] and errors == []
    assert overlaps([b[:5] for b in bands]) == []  # bands never overlap each other
    boxes = {b[0]: b for b in page.evaluate("() => loomView.boxes()")}
    band_of = {b[5]: b for b in bands}
    label_bottom = {b[5]: bottom for b, bottom in zip(bands, got["under"], strict=True)}
    for key, (_, left, top, width, height) in boxes.items():
        task = task_of[key]
        if task:  # inside its own band, below the title line
            _, bl, bt, bw, bh, _, _ = band_of[task]
            assert bl - 0.5 <= left and left + width <= bl + bw + 0.5, key
            assert label_bottom[task] <= top and top + height <= bt + bh + 0.5, key
        else:  # the goal: outside every band
            assert overlaps([[key, left, top, width, height], *[b[:5] for b in bands]]) == []
    page.close()


def test_a_drawing_without_tasks_has_no_bands(graph):
    graph.add_node("goal", "no plan here")
    page = graph.show().html
    assert "<g class=G>" not in page and "<svg id=g0 " not in page


OUR_TAGS = """() => {
  const ours = new Set(["svg", "g", "rect", "text", "path", "use", "title", "defs", "marker"]);
  const bad = [];
  for (const el of document.querySelectorAll("#content *")) {
    if (!ours.has(el.tagName)) bad.push(el.outerHTML.slice(0, 120));
    for (const a of el.attributes) if (a.name.startsWith("on")) bad.push(el.tagName + " @" + a.name);
  }
  return {bad, tasks: loomView.bands().map(b => [b[5], b[6]])};
}"""


def test_the_hostile_corpus_in_task_ids_titles_and_messages_stays_text(tmp_path, browser):
    from tests.notebook.test_hostile_output import HOST, PAYLOADS

    db = tmp_path / "g.duckdb"
    plan = tuple(
        PlannedTask(id=p if i % 2 else f"t{i}", role="implementer", prompt=p, title=p) for i, p in enumerate(PAYLOADS)
    )
    bus = EventBus()
    with Recorder(GraphStore(db), project_decisions=True).attach(bus):
        bus.emit(SessionStarted(session_id="s", agent="", intent=PAYLOADS[0]))
        bus.emit(PlanMade(session_id="s", agent="lead", tasks=plan))
        for i, t in enumerate(plan):
            bus.emit(
                MessageSent(session_id="s", agent=f"a{i}", message_id=f"m{i}", to="lead", text=t.prompt, task=t.id)
            )
            bus.emit(CommitMade(session_id="s", agent=f"a{i}", sha=f"{i:040x}", message=t.prompt, task=t.id))
            bus.emit(TestRun(session_id="s", agent=f"a{i}", command=t.prompt, failing=(t.prompt,), task=t.id))
    path = open_graph(db).save_html(tmp_path / "g.html", session="s")
    page = browser.new_page(viewport={"width": 1200, "height": 700})
    dialogs, requests = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-drawn='1']", timeout=30_000)
    got = page.evaluate(OUR_TAGS)
    assert got["bad"] == [] and dialogs == [] and not any(HOST in url for url in requests)
    assert [task for task, _ in got["tasks"]] == [t.id for t in plan]  # hostile ids too, read back exactly
    for (_, label), t in zip(got["tasks"], plan, strict=True):  # titles as text (whitespace folded, long ones cut)
        folded = " ".join(t.title.split())
        assert label.startswith(folded[:30].rstrip()) or label.rstrip("…") in folded
    page.close()


def test_the_same_task_id_in_two_sessions_is_two_bands(tmp_path):
    db = tmp_path / "g.duckdb"
    bus = EventBus()
    with Recorder(GraphStore(db), project_decisions=True).attach(bus):
        for session, title in (("s1", "first run"), ("s2", "second run")):
            task = PlannedTask(id="t1", role="tester", prompt="p", title=title)
            bus.emit(PlanMade(session_id=session, agent="lead", tasks=(task,)))
    g = open_graph(db)
    page = g.show().html
    assert page.count("data-task='t1'") == 2
    assert "first run · tester · pending · s1" in page and "second run · tester · pending · s2" in page
    assert "second run · tester · pending<" in g.show(session="s2").html  # one session: no session in the label
