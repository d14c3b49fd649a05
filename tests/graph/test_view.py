"""The pyvis drawing: right styles, offline, isolated, and hostile titles shown as text."""

import json
import os
import re

import pytest

from tests.browser import CHROMIUM_ARGS, chromium_path

HOSTILE = [
    "<img src=x onerror=alert(1)> Refactor",
    '<a href="javascript:alert(2)">click me</a>',
    "</script><script>alert(3)</script>",
    "<!-- & \u2028 -->",
]


@pytest.fixture
def drawn(graph):
    goal = graph.add_node("goal", HOSTILE[0], confidence=80)
    obs = graph.for_agent("researcher-1").add_node("observation", HOSTILE[1], description=HOSTILE[3], parent_id=goal.id)
    old = graph.add_node("decision", HOSTILE[2], parent_id=goal.id, edge_type="chosen")
    new = graph.add_node("decision", "better & newer")
    graph.supersede(old.id, new.id, rationale="<b>bold</b> reason")
    graph.add_node("option", "the road not taken", parent_id=goal.id, edge_type="rejected")
    graph.update_node(obs.id, status="abandoned")
    return graph


def page_data(page: str) -> dict:
    return json.loads(re.search(r"var data = (\{.*?\});\n", page).group(1))


def test_hostile_text_never_appears_as_markup(drawn):
    page = drawn.show().html
    for text in (*HOSTILE[:3], "<b>bold</b>"):
        assert text not in page
    data = page_data(page)  # ...but it is all there, as data
    labels = {n["id"]: n["label"] for n in data["nodes"]}
    assert labels[1].startswith("<img src=x onerror=alert(1)> Refactor") and "<b>bold</b> reason" in json.dumps(data)


def test_nothing_loads_from_the_network_and_no_file_is_written(drawn, tmp_path, monkeypatch):
    notebook_dir = tmp_path / "notebook"
    notebook_dir.mkdir()
    monkeypatch.chdir(notebook_dir)
    view = drawn.show()
    assert os.listdir(notebook_dir) == []
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", view.html)
    frame = view._repr_html_()
    assert 'sandbox="allow-scripts"' in frame and "allow-same-origin" not in frame
    assert "<script" not in frame  # the page is an escaped attribute, not markup in the notebook
    saved = drawn.save_html(tmp_path / "out" / "graph.html")
    assert saved.read_text() == view.html


def test_styles_by_type_status_edge_and_agent(drawn):
    data = page_data(drawn.show().html)
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes[1]["shape"] == "star" and nodes[3]["shape"] == "diamond" and nodes[5]["shape"] == "dot"
    assert nodes[3]["shapeProperties"]["borderDashes"] == [8, 5]  # superseded: dashed
    assert nodes[2]["shapeProperties"]["borderDashes"] == [2, 4]  # abandoned: dotted
    assert nodes[1]["shapeProperties"]["borderDashes"] is False
    assert nodes[1]["y"] < nodes[3]["y"] < nodes[5]["y"] < nodes[2]["y"]  # layers: goal, decision, option, observation
    assert nodes[1]["color"]["border"] != nodes[2]["color"]["border"]  # lead and researcher-1 differ
    assert "confidence: 80" in nodes[1]["title"] and "researcher-1" in nodes[2]["label"]
    colors = {(e["from"], e["to"]): e["color"] for e in data["edges"]}
    assert colors[(1, 3)] == "#2e7d32" and colors[(1, 5)] == "#d32f2f" and colors[(4, 3)] == "#ef8a17"
    assert colors[(1, 2)] == "#9e9e9e"
    assert [a[0] for a in data["legend"]["agents"]] == ["lead", "researcher-1"]


def test_a_session_view_draws_only_that_session(drawn):
    drawn.for_agent("x", session_id="other").add_node("goal", "elsewhere")
    assert len(page_data(drawn.show(session="s1").html)["nodes"]) == 5
    assert len(page_data(drawn.show().html)["nodes"]) == 6


def test_in_a_real_browser_offline_and_inert(drawn, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = chromium_path()
    path = drawn.save_html(tmp_path / "g.html")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        dialogs, requests = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_selector("body[data-drawn='1']", timeout=20_000)
        assert page.eval_on_selector_all("#graph canvas", "els => els.length") == 1
        # hover the goal whose title is an <img onerror> payload: the tooltip shows it as text
        x, y = page.evaluate(
            "() => { const p = loomNetwork.canvasToDOM(loomNetwork.getPosition(1)); "
            "const r = document.getElementById('graph').getBoundingClientRect(); "
            "return [p.x + r.left, p.y + r.top]; }"
        )
        page.mouse.move(x, y)
        page.wait_for_selector("div.vis-tooltip", state="visible", timeout=5_000)
        tip = page.eval_on_selector(
            "div.vis-tooltip", "el => [el.textContent, el.querySelectorAll('img,a,script').length]"
        )
        assert HOSTILE[0] in tip[0] and tip[1] == 0
        assert page.eval_on_selector_all("img, a[href], script:not([src])", "els => els.length") == 2  # our 2 scripts
        browser.close()
    assert dialogs == [] and [u for u in requests if not u.startswith("file:")] == []
