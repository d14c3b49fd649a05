"""Issue 8 item 1: what a model, a tool or a scanned file wrote reaches a notebook's outputs as text.

A hostile corpus goes everywhere a run can carry text: a prompt-injected file in the scanned project
(its lines become evidence), the researchers' answers, tool names and arguments, a researcher's error,
the lead's answer and a failed session's error and id. Every mime output of every object a user sees
(the handle, the live view and its static summary, findings, the DataFrames of %loom, the graph view)
and the nbconvert HTML export of a notebook executed with nbclient are loaded in Chromium, text/markdown
rendered first as JupyterLab renders a trusted output (raw HTML kept, any link scheme allowed). No
dialog may open, no element or attribute of a payload may exist, and no request may leave the page
beyond those the page itself makes.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from tests.browser import CHROMIUM_ARGS, chromium_path

HOST = "198.51.100.7"  # TEST-NET-2: a request there would be the leak
PAYLOADS = [
    "<img src=x onerror=\"alert('img')\">",
    '<script>alert("script")</script>',
    '<svg onload=alert("svg")></svg>',
    '[click me](javascript:alert("md-link"))',
    '<javascript:alert("autolink")>',
    "[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    f"![beacon](http://{HOST}/md-image.png)",
    '</pre><img src=x onerror=alert("pre-breakout")>',
    '</textarea><script>alert("textarea-breakout")</script>',
    '" onmouseover="alert(1)" x="',
    "' autofocus onfocus='alert(2)' x='",
    f'<div style="background:url(http://{HOST}/css.png)">css</div>',
    "<iframe srcdoc=\"<script>alert('srcdoc')</script>\"></iframe>",
    "<a href=\"javascript:alert('anchor')\">anchor</a>",
    '<details open ontoggle=alert("details")>',
    '```\n</code></pre><img src=x onerror=alert("fence")>\n```',
    '`` ` ``<img src=x onerror=alert("tick")>',
    "\uff1cscript\uff1ealert('fullwidth')\uff1c/script\uff1e",
    "evil\u202egnp.py <b>bidi</b>",
    '$\\href{javascript:alert("mathjax")}{click}$',
    f"<style>body{{background:url(http://{HOST}/style.png)}}</style>",
    f"<link rel=stylesheet href=http://{HOST}/x.css>",
    f'<base href="http://{HOST}/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(3)">',
    '<object data="javascript:alert(4)"></object>',
    "\x1b]0;retitled\x07\x1b[2J\x1b[31mterminal escapes",
]
CORPUS = "\n".join(PAYLOADS)

# Tags our outputs (and pandas', mistune's) are made of; a payload's element would be anything else.
CHECK_OUTPUT = """(selector) => {
  const roots = [...document.querySelectorAll(selector)];
  const tags = new Set(["DIV","B","BR","SPAN","PRE","CODE","TABLE","THEAD","TBODY","TR","TH","TD","A","P",
                        "STRONG","EM","UL","LI","STYLE","IFRAME"]);
  const attrs = new Set(["class","style","href","title","border","scoped","srcdoc","sandbox","data-mime-type"]);
  const bad = [], hrefs = [], frames = [];
  for (const root of roots) {
    for (const el of [root, ...root.querySelectorAll("*")]) {
      if (!tags.has(el.tagName)) bad.push(el.outerHTML.slice(0, 120));
      const ours = el.tagName !== "STYLE" || el.textContent.trim().startsWith(".dataframe");  // pandas' own
      if (!ours) bad.push(el.outerHTML.slice(0, 120));
      if (el.tagName === "IFRAME") frames.push(el.getAttribute("sandbox"));
      for (const a of el.attributes) {
        if (!attrs.has(a.name)) bad.push(el.tagName + " @" + a.name + "=" + a.value.slice(0, 60));
        if (a.name === "style" && /url\\(|expression|@import/i.test(a.value)) bad.push("style " + a.value);
      }
      if (el.tagName === "A") hrefs.push([el.getAttribute("href"), el.href]);
    }
  }
  return {bad, hrefs, frames, text: roots.map(r => r.innerText).join("\\n")};
}"""


def hostile_project(root: Path) -> Path:
    """A project whose one source file is prompt-injected: the payloads sit on lines a search finds."""
    src = root / "src"
    src.mkdir(parents=True)
    lines = ["def load_settings(path):", "    return open(path).read()"]
    lines += [f"SETTINGS_{i} = {p!r}  # settings loaded" for i, p in enumerate(PAYLOADS)]
    (src / "inject.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


MODELS = textwrap.dedent("""
    from loom_nb.models import ModelError, ScriptedModel, tool_call

    def hostile_lead(corpus, fail=False):
        def fn(messages, tools):
            if not messages[0].text.startswith("Request:"):
                return "where are the settings loaded?\\nwhich question fails here?"
            if fail:
                raise ModelError(corpus)
            return "The answer cites src/inject.py:3 and inject.py:2 (unchecked)\\n" + corpus
        return ScriptedModel(fn, name="scripted:lead")

    def hostile_researcher(corpus):
        def fn(messages, tools):
            if "fails" in messages[0].text:
                raise ModelError(corpus)
            if len(messages) == 1:  # first turn: tools named and called with the corpus
                return [tool_call(corpus.splitlines()[0], x=corpus), tool_call("file_read", path=corpus)]
            return "load_settings is at inject.py:1; see inject.py:3\\n" + corpus
        return ScriptedModel(fn, name="scripted:weak")

    def board_events(session_id, corpus):  # a plan, its revision, results, messages, test runs: all payloads
        from loom_nb.events import AgentSpawned, LLMCall, MessageSent, PlanMade, PlannedTask, TaskStatus, TestRun

        payloads = corpus.splitlines()
        ids = [f"{i}{p[:12]}" for i, p in enumerate(payloads)]
        kinds = ("blocks", "informs", "requires_output")
        tasks = tuple(
            PlannedTask(id=t, role=p[:20], prompt=p, title=p, deps=((ids[i - 1], kinds[i % 3]),) if i else ())
            for i, (t, p) in enumerate(zip(ids, payloads))
        )
        agent, role, sid = corpus[:40], corpus[:20], {"session_id": session_id}
        events = [
            PlanMade(**sid, agent="lead", tasks=tasks, estimate_usd=0.5, estimate_basis=corpus),
            PlanMade(**sid, agent="lead", tasks=tasks, revision=1, reason=corpus, estimate_usd=None),
            AgentSpawned(**sid, agent=agent, role=role, model=corpus[:30], task=ids[0]),
            LLMCall(**sid, agent=agent, model=corpus[:30], cost_usd=0.01),
            TaskStatus(**sid, agent=agent, task=ids[0], role=role, status="done", summary=corpus,
                       files_changed=tuple(payloads), tests=corpus),
            TaskStatus(**sid, agent=agent, task=ids[1], role=role, status="failed", summary=corpus, error=corpus),
            TaskStatus(**sid, agent=agent, task=ids[2], role=role, status="done", tests=corpus),
            TestRun(**sid, agent=agent, command=corpus, failed=len(payloads), failing=tuple(payloads), task=ids[1],
                    summary=corpus, exit_code=1),
            TestRun(**sid, agent=agent, command=corpus, failed=1, failing=tuple(payloads), task=ids[3], round=2),
        ]
        events += [
            MessageSent(**sid, agent=p[:30], message_id=f"m{i}", to=payloads[-1 - i][:30], text=p, task=ids[i],
                        urgent=i % 2 == 0, message_kind=("message", "ask", "reply", "broadcast")[i % 4])
            for i, p in enumerate(payloads)
        ]
        return events + [MessageSent(**sid, agent=agent, message_id="all", to="*", text=corpus)]
""")


def hostile_request():
    """An approval request whose every model-written field carries the corpus."""
    from loom_nb.permissions import ApprovalRequest, Policy, Rule

    arguments = {"path": "src/x.py", "content": CORPUS}
    decision = Policy(rules=[Rule(action="ask", tool="file_write", reason=CORPUS)]).decide("file_write", arguments)
    return ApprovalRequest(
        id="a1", agent=CORPUS[:40], role="implementer", tool="file_write", arguments=arguments, cwd=CORPUS,
        reason=CORPUS, preview=hostile_diff(), decision=decision,
    )  # fmt: skip


def hostile_card() -> str:
    from loom_nb.notebook._cards import _card_html

    return _card_html(hostile_request())


def hostile_diff() -> str:
    lines = "".join(f"+{line}\n" for line in CORPUS.splitlines())
    return f"diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -0,0 +1,{len(CORPUS.splitlines())} @@\n{lines}"


def test_the_terminal_prompt_shows_an_approval_as_text() -> None:
    import io

    from loom_nb._approve_prompt import TerminalApprovals
    from loom_nb.permissions import ApprovalQueue

    shown = io.StringIO()
    TerminalApprovals(ApprovalQueue(), stdin=io.StringIO(), stdout=shown)._show(hostile_request())
    text = shown.getvalue()
    assert "approval a1" in text and "file_write" in text
    assert not any(c in text for c in "\x1b\x07\u202e"), text  # escape sequences shown, never obeyed


def outputs_in_process(project: Path, db: Path) -> list[tuple[str, str, str]]:
    """(label, mime, content) of every object a user displays after two hostile runs."""
    from IPython.core.interactiveshell import InteractiveShell

    from loom_nb.notebook import SwarmRunner
    from loom_nb.notebook._diff import DiffView
    from loom_nb.notebook._magics import LoomMagics
    from loom_nb.notebook._runner import _HandleOutput
    from loom_nb.notebook._view import LiveView, _Static
    from loom_nb.swarm import Swarm

    ns: dict = {}
    exec(MODELS, ns)
    runner = SwarmRunner()
    shell = InteractiveShell.instance()
    magics = LoomMagics(shell=shell, runner=runner)
    magics.project, magics.db = str(project), str(db)
    shell.register_magics(magics)
    try:
        done = runner.run_foreground(
            Swarm(
                CORPUS,
                project=project,
                scope="src",
                model=ns["hostile_lead"](CORPUS),
                weak=ns["hostile_researcher"](CORPUS),
                db=db,
            )
        )
        failed = runner.run_foreground(
            Swarm(
                "where are the settings loaded?",
                project=project,
                scope="src",
                model=ns["hostile_lead"](CORPUS, fail=True),
                weak="offline",
                db=db,
                session=PAYLOADS[0],
            )
        )
        assert done.status == "done" and failed.status == "failed", (done.status, failed.status)
        assert done.links(), "the answer's checked citations should be links"
        for event in ns["board_events"](done.session_id, CORPUS):  # the task board and the message feed
            done.swarm.bus.emit(event)
        view = LiveView(done)
        view.finish()
        assert 'class="loom-tasks"' in view.summary_html() and 'class="loom-messages"' in view.body.value
        objects = {
            "handle": _HandleOutput(done),  # what the handle displays (it shows itself through a display id)
            "failed handle": _HandleOutput(failed),
            "live view": view,
            "static summary": _Static(view.summary_html(), view.summary_text()),
            "findings": done.result.findings[0],
            "failed findings": done.result.findings[1],
            "nodes": done.graph.nodes(),
        }
        for line in (
            "status",
            "agents",
            "sessions",
            "costs",
            'sql "select title, description from decision_nodes"',
            "graph",
        ):
            objects[f"%loom {line}"] = shell.run_line_magic("loom", line)
        objects["diff view"] = DiffView(hostile_diff(), title=CORPUS)
        out = [("live view body", "text/html", view.body.value), ("approval card", "text/html", hostile_card())]
        for label, obj in objects.items():
            data, _ = shell.display_formatter.format(obj)
            out += [(label, mime, data[mime]) for mime in ("text/html", "text/markdown", "text/plain") if mime in data]
        return out
    finally:
        runner.shutdown()
        InteractiveShell.clear_instance()


def render_markdown(text: str) -> str:
    """As JupyterLab renders a trusted text/markdown output: raw HTML kept, every link scheme allowed."""
    import mistune

    return mistune.create_markdown(renderer=mistune.HTMLRenderer(escape=False, allow_harmful_protocols=True))(text)


class Browser:
    """One headless Chromium; every page's dialogs and requests recorded, nothing reaches the network."""

    def __init__(self, playwright) -> None:
        self.browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        self.context = self.browser.new_context()
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.context.route(
            "**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort()
        )

    def open(self, path: Path):
        page = self.context.new_page()
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        page.goto(path.as_uri(), wait_until="load")
        return page


def check_frames(page, sandboxes: list[str]) -> None:
    """The graph view: an isolated iframe whose page draws the payloads as text, nothing else."""
    assert sandboxes == ["allow-scripts"] * len(sandboxes)
    for i in range(len(sandboxes)):
        element = page.locator("iframe").nth(i)
        element.scroll_into_view_if_needed()  # Chromium defers drawing in frames out of view
        frame = element.element_handle().content_frame()
        frame.wait_for_selector("body[data-drawn='1']", state="attached", timeout=30_000)
        # The drawing's own SVG: the view, its node, cluster and task-band boxes (numbered ids), and the
        # legend's icons (outside <main>, holding only <use>/<path>). Any other element a payload could make counts.
        found = frame.evaluate(
            "() => [document.querySelectorAll('img,iframe,object,embed,a,base,link,form,details,meta[http-equiv]')"
            ".length + [...document.querySelectorAll('svg')].filter(s => !(/^(view|n\\d+|c\\d+|g\\d+)$/.test(s.id) ||"
            " (!s.closest('main') && !s.textContent.trim() &&"
            " [...s.children].every(c => ['use', 'path'].includes(c.localName))))).length,"
            " [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on')))"
            ".length, document.scripts.length]"
        )
        assert found == [0, 0, 1], found


def check_page(page, roots_selector: str, project: Path) -> tuple[str, int]:
    report = page.evaluate(CHECK_OUTPUT, roots_selector)
    assert report["bad"] == [], report["bad"]
    for raw, resolved in report["hrefs"]:  # only links we built: relative, to a checked file of the project
        assert urlparse(raw).scheme == "" and not raw.startswith("//"), raw
        target = Path(url2pathname(urlparse(resolved).path)).resolve()
        assert target.is_file() and target.is_relative_to(project.resolve()), raw
    check_frames(page, report["frames"])
    return report["text"], len(report["hrefs"])


@pytest.mark.timeout(300)
def test_every_output_object_is_inert_in_a_browser(tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    project = hostile_project(tmp_path / "proj")
    pages = tmp_path / "pages"
    pages.mkdir()
    monkeypatch.chdir(pages)  # the notebook's directory, where a kernel runs: links are relative to it
    outputs = outputs_in_process(project, tmp_path / "g.duckdb")
    kinds = {(label, mime) for label, mime, _ in outputs}
    assert ("handle", "text/markdown") in kinds and ("%loom graph", "text/html") in kinds and len(outputs) >= 14
    assert ("approval card", "text/html") in kinds and ("diff view", "text/html") in kinds
    with sync_playwright() as p:
        browser = Browser(p)
        linked = 0
        for i, (label, mime, content) in enumerate(outputs):
            if mime == "text/plain":  # what a terminal front end prints: no escape sequence to obey
                if label in ("handle", "failed handle", "live view", "static summary", "findings"):
                    assert not any(c in content for c in "\x1b\x07\u202e"), (label, content)
                continue
            body = render_markdown(content) if mime == "text/markdown" else content
            path = pages / f"{i:02d}.html"
            path.write_text(f'<!DOCTYPE html><meta charset="utf-8"><body>{body}</body>', encoding="utf-8")
            page = browser.open(path)
            try:
                text, links = check_page(page, "body > *", project)
            except AssertionError as exc:
                raise AssertionError(f"{label} ({mime}): {exc}") from None
            if label in ("handle", "live view", "static summary", "findings") and mime == "text/html":
                assert PAYLOADS[0] in text and PAYLOADS[7] in text, f"{label}: the answer must be shown, as text"
                linked += links > 0  # its checked citations are links
            page.close()
        browser.browser.close()
    assert browser.dialogs == []
    assert [u for u in browser.requests if not u.startswith(pages.as_uri())] == []
    assert linked == 4


@pytest.mark.timeout(300)
def test_the_nbconvert_export_of_an_executed_notebook_is_inert(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter
    from playwright.sync_api import sync_playwright

    here = tmp_path / "nb"
    project = hostile_project(here / "proj")
    cells = [
        "%load_ext loom_nb\n%config LoomMagics.project = 'proj'",
        "%%loom --offline --scope src\nWhere are the settings loaded?",  # the injected file's lines
        "%loom agents",
        '%loom subagent "Where are the settings loaded?" --scope src --model offline',
        MODELS
        + textwrap.dedent(f"""
            from loom_nb.notebook import default_runner
            from loom_nb.notebook._view import start_live_view
            from loom_nb.swarm import Swarm
            CORPUS = {CORPUS!r}
            views = []
            h = default_runner().run_foreground(
                Swarm(CORPUS, project="proj", scope="src", model=hostile_lead(CORPUS),
                      weak=hostile_researcher(CORPUS)),
                on_submit=lambda h: views.append(start_live_view(h)))
            for e in board_events(h.session_id, CORPUS):  # a plan after the run's own: the last word
                h.swarm.bus.emit(e)
            views[0].finish()
            h
        """),
        "h.result.findings[0]",
        "h.graph.nodes()",
        "%loom sessions",
        "%loom graph",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(here)}}).execute()
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert errors == [], errors
    exporter = HTMLExporter()
    (here / "export.html").write_text(exporter.from_notebook_node(nb)[0], encoding="utf-8")
    baseline = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in baseline.cells:
        cell.outputs = []
    (here / "baseline.html").write_text(exporter.from_notebook_node(baseline)[0], encoding="utf-8")
    with sync_playwright() as p:
        browser = Browser(p)
        browser.open(here / "baseline.html").close()
        template_requests = set(browser.requests)  # what nbconvert's template loads by itself
        browser.requests.clear()
        page = browser.open(here / "export.html")
        text, _ = check_page(page, ".jp-OutputArea-output > *", project)
        browser.browser.close()
    assert browser.dialogs == []
    assert set(browser.requests) - template_requests - {(here / "export.html").as_uri()} == set()
    assert PAYLOADS[0] in text and PAYLOADS[2] in text  # shown, as text
    assert "plan revised: " in text  # the board is in the export
    assert "src/inject.py:" in text  # the offline run's evidence: the injected lines, cited from the project root


# What JupyterLab may put inside an output of ours only if a payload got through (MathJax's included).
DENY = (
    "img, script, iframe:not([title^='loom decision graph']), object, embed, svg, details, base, link, meta, form,"
    " style:not([scoped]), mjx-container, textarea, video, audio"
)
LAB_SCAN = """(deny) => {
  const outs = [...document.querySelectorAll('.jp-OutputArea-output')].filter(o => !o.closest('#mj-control'));
  const bad = [];
  for (const out of outs) {
    if (out.querySelector('#mj-control')) continue;
    for (const el of out.querySelectorAll('*')) {
      if (el.matches(deny)) bad.push(el.outerHTML.slice(0, 120));
      for (const a of el.attributes) if (a.name.startsWith('on')) bad.push(el.tagName + ' @' + a.name);
      if (el.tagName === 'A' && !el.href.startsWith(location.origin + '/')) bad.push('A ' + el.href);
    }
  }
  return {bad, text: outs.map(o => o.innerText).join('\\n')};
}"""


@pytest.mark.timeout(300)
def test_in_jupyterlab_outputs_stay_text_and_citations_open_the_file(lab):
    """Trusted outputs of the running session in JupyterLab (its MathJax and widgets included): the
    corpus stays text, and a checked citation opens its file at its line."""
    import nbformat
    from playwright.sync_api import sync_playwright

    from tests.browser import open_and_run_all

    base, root = lab
    run = (
        "default_runner().run_foreground(Swarm(CORPUS, project='sample_project', model=hostile_lead(CORPUS{fail}),"
        " weak=hostile_researcher(CORPUS), record=False){view})"
    )
    cells = [
        "%load_ext loom_nb\n%config LoomMagics.project = 'sample_project'",
        MODELS
        + "from loom_nb.notebook import default_runner\nfrom loom_nb.notebook._view import start_live_view\n"
        + f"from loom_nb.swarm import Swarm\nCORPUS = {CORPUS!r}\n"
        + "views = []\nh = "
        + run.format(fail="", view=", on_submit=lambda h: views.append(start_live_view(h))")
        + "\nfor e in board_events(h.session_id, CORPUS):  # the board and the feed, written by the corpus\n"
        + "    h.swarm.bus.emit(e)\n"
        + "views[0].finish()",
        "h2 = " + run.format(fail="", view="") + "\nh2",
        "h2.result.findings[1]",  # the researcher that failed with the corpus as its error
        "h3 = " + run.format(fail=", fail=True", view="") + "\nh3",
        "%loom agents",
        '%loom subagent "Where are user sessions saved, and when do they expire?" --model offline',
        "from IPython.display import HTML\nHTML('<div id=\"mj-control\">$x^2$</div>')",  # MathJax is live
    ]
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in cells],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, root / "hostile.ipynb")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        dialogs, requests = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url))
        try:
            open_and_run_all(page, base, "hostile.ipynb")
            page.wait_for_selector("#mj-control mjx-container", state="attached", timeout=120_000)
            assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']:has-text('Error')").count() == 0
            scan = page.evaluate(LAB_SCAN, DENY)
            assert scan["bad"] == [], scan["bad"]
            assert PAYLOADS[0] in scan["text"] and PAYLOADS[19] in scan["text"]  # shown, as text
            assert page.locator(".jp-OutputArea-output table.loom-tasks").count() >= 1  # the board was scanned too
            link = page.locator(".jp-OutputArea-output a:has-text('inventory/sessions.py:')").first
            cited = link.inner_text()
            line = int(cited.rsplit(":", 1)[1])
            link.dispatch_event("click")  # as a click does, whatever toast covers the page
            page.wait_for_function(
                "([path, line]) => { const w = window.jupyterapp.shell.currentWidget;"
                " return !!w && w.context && w.context.path === path && !!w.content.editor"
                " && w.content.editor.getCursorPosition().line === line; }",
                arg=["sample_project/inventory/sessions.py", line - 1],
                timeout=30_000,
            )
        except Exception:
            page.screenshot(path=str(root / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert dialogs == []
    assert [u for u in requests if not u.startswith(base)] == []
