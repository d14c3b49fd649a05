"""%%loom in a real kernel (jupyter_client): foreground, background, interrupt, queued cells,
nothing printed into the wrong cell, and the static summary when no widget front end exists."""

from __future__ import annotations

import os
import queue
import textwrap
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

SETUP = textwrap.dedent("""
    import asyncio, pathlib, threading
    from loom_nb.models import ScriptedModel
    from loom_nb.notebook import default_runner
    from loom_nb.swarm import Swarm

    def lead(questions, summary="the answer"):
        def fn(messages, tools):
            first = messages[0].text
            return summary if first.startswith("Request:") else "\\n".join(questions)
        return ScriptedModel(fn, name="scripted:lead")

    gate = None
    def gated_model(marker):
        async def fn(messages, tools):
            global gate
            gate = asyncio.Event()
            pathlib.Path(marker).write_text("started")
            await gate.wait()
            return "released"
        return ScriptedModel(fn)

    def release():
        default_runner().loop.call_soon_threadsafe(gate.set)
""")


class Kernel:
    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env={**os.environ, **(env or {})})

    def execute(self, code: str, timeout: float = 60) -> dict:
        msg_id = self.kc.execute(code)
        return self.collect(msg_id, timeout)

    def collect(self, msg_id: str, timeout: float = 60) -> dict:
        outputs = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no idle status within {timeout} s; outputs so far: {outputs}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "status" and msg["content"]["execution_state"] == "idle":
                break
            if kind in ("stream", "display_data", "execute_result", "error", "update_display_data"):
                outputs.append(msg)
        reply = self.kc.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.kc.get_shell_msg(timeout=timeout)
        return {"status": reply["content"]["status"], "outputs": outputs, "reply": reply["content"]}

    def value(self, expr: str) -> str:
        result = self.execute(expr)
        assert result["status"] == "ok", result
        (out,) = [o for o in result["outputs"] if o["msg_type"] == "execute_result"]
        return out["content"]["data"]["text/plain"]

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def wait_for_file(path: Path, what: str, limit: float = 30) -> None:
    """Until the kernel's swarm writes its marker: the step it reached, seen from outside."""
    deadline = time.monotonic() + limit
    while not path.exists():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)  # polling a condition with a deadline, not a fixed wait


@pytest.fixture
def project(tmp_path):
    (tmp_path / "config.py").write_text("def parse_config(path):\n    return path\n")
    return tmp_path


@pytest.fixture
def kernel(project):
    k = Kernel(project)
    assert k.execute(SETUP)["status"] == "ok"
    assert k.execute("%load_ext loom_nb")["status"] == "ok"
    yield k
    k.close()


def test_foreground_run_with_the_live_view_and_the_handle(kernel):
    result = kernel.execute("%%loom --offline\nWhere is parse_config defined?")
    assert result["status"] == "ok", result
    kinds = [o["msg_type"] for o in result["outputs"]]
    # the live view, then the handle (a display of its own, so a running one can be updated)
    assert kinds.count("display_data") == 2 and "stream" not in kinds
    view, handle = [o for o in result["outputs"] if o["msg_type"] == "display_data"]
    assert (
        "loom session" in handle["content"]["data"]["text/plain"] and "done" in handle["content"]["data"]["text/plain"]
    )
    assert "application/vnd.jupyter.widget-view+json" in view["content"]["data"]
    assert "loom session" in view["content"]["data"]["text/html"]
    assert kernel.value("_loom.status") == "'done'"
    assert "config.py:1" in kernel.value("_loom.text")
    assert kernel.value("_loom.graph.sessions()['status'].tolist()") == "['done']"


def test_cells_queued_behind_a_foreground_run_all_run(kernel):
    first = kernel.kc.execute("%%loom --offline\nWhere is parse_config defined?")
    second = kernel.kc.execute("x = 41")
    third = kernel.kc.execute("x + 1")
    assert kernel.collect(first)["status"] == "ok"
    assert kernel.collect(second)["status"] == "ok"
    out = kernel.collect(third)
    assert out["status"] == "ok"
    assert [o["content"]["data"]["text/plain"] for o in out["outputs"] if o["msg_type"] == "execute_result"] == ["42"]


def test_background_run_while_other_cells_run_then_await(kernel, project):
    marker = project / "started.txt"
    started = kernel.execute(
        f"h = default_runner().submit(Swarm('research x', project='.', model=lead(['a question about x']), "
        f"weak=gated_model({str(marker)!r}), record=False))"
    )
    assert started["status"] == "ok" and started["outputs"] == []  # returned at once, printed nothing
    wait_for_file(marker, "the background swarm never started")
    trivial = kernel.execute("1 + 1")
    assert trivial["status"] == "ok"
    assert [o["msg_type"] for o in trivial["outputs"]] == ["execute_result"]  # nothing leaked into this cell
    assert kernel.value("h.status") == "'running'"
    assert kernel.execute("release()")["status"] == "ok"
    assert kernel.value("(await h).text") == "'the answer'"
    bg = kernel.execute("%%loom --offline --background\nWhere is parse_config defined?")
    assert bg["status"] == "ok"
    assert "config.py:1" in kernel.value("(await _loom).text")
    # stopped from a thread of its own, as a widget callback on a subshell would
    marker2 = project / "started2.txt"
    kernel.execute(
        f"h2 = default_runner().submit(Swarm('research y', project='.', model=lead(['a question about y']), "
        f"weak=gated_model({str(marker2)!r}), record=False))"
    )
    wait_for_file(marker2, "the second background swarm never started")
    stopped = kernel.execute(
        "import threading\nthreading.Thread(target=h2.stop, args=('stop button',)).start()\n"
        "r = h2.wait(timeout=5)\nprint(r.status, r.error)"
    )
    assert [o["content"]["text"].strip() for o in stopped["outputs"] if o["msg_type"] == "stream"] == [
        "cancelled stop button"
    ]


def test_interrupt_cancels_the_swarm_and_the_kernel_stays_usable(kernel, project):
    marker = project / "fg.txt"
    msg_id = kernel.kc.execute(
        f"fg = Swarm('research x', project='.', model=lead(['a question about x']), weak=gated_model({str(marker)!r}),"
        f" db='graph.duckdb')\ndefault_runner().run_foreground(fg)"
    )
    wait_for_file(marker, "the foreground swarm never started")
    interrupted_at = time.monotonic()
    kernel.km.interrupt_kernel()
    result = kernel.collect(msg_id)
    assert time.monotonic() - interrupted_at < 5
    assert result["status"] == "error" and result["reply"]["ename"] == "Interrupted"  # a KeyboardInterrupt
    assert kernel.value("default_runner().handles[fg.session_id].status") == "'cancelled'"
    tasks = kernel.value(
        "import asyncio\n"
        "async def _count(): return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])\n"
        "asyncio.run_coroutine_threadsafe(_count(), default_runner().loop).result()"
    )
    assert tasks == "0"  # no task of the swarm is left on its loop
    from loom_nb.graph import open_graph

    assert open_graph(project / "graph.duckdb").sessions()["status"].tolist() == ["cancelled"]
    assert kernel.value("40 + 2") == "42"


def test_usage_errors_are_short(kernel):
    result = kernel.execute("%%loom --max-agents many\nfind it")
    assert result["status"] == "error" and result["reply"]["ename"] == "UsageError"
    assert "invalid int value" in result["reply"]["evalue"]
    assert len(result["reply"]["traceback"]) <= 2


def test_static_summary_where_no_widget_front_end_exists(project):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%load_ext loom_nb"),
            nbformat.v4.new_code_cell("%%loom --offline\nWhere is parse_config defined?"),
        ]
    )
    NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(project)}}).execute()
    outputs = nb.cells[1].outputs
    summary = next(o for o in outputs if o.output_type == "display_data")
    assert set(summary.data) == {"text/html", "text/plain"}  # the widget gave way to the summary
    assert "loom session" in summary.data["text/html"] and "researcher-1" in summary.data["text/plain"]
    assert "config.py:1" in summary.data["text/plain"]  # the final update brought the answer


@pytest.fixture
def fake_llm():
    from loom_nb.testing import FakeLLMServer

    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def llm_kernel(project, fake_llm):
    """A kernel whose anthropic: models talk to this test's fake server (the user's path: %%loom)."""
    k = Kernel(project, env={"ANTHROPIC_BASE_URL": fake_llm.url, "ANTHROPIC_API_KEY": "test-key"})
    assert k.execute(SETUP)["status"] == "ok"
    assert k.execute("%load_ext loom_nb")["status"] == "ok"
    yield k
    k.close()


def wait_until(condition, what: str, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)  # polling a condition with a deadline, not a fixed wait


MODEL = "anthropic:claude-haiku-4-5"


def test_interrupting_a_loom_cell_says_one_line_and_skips_the_queued_cells(llm_kernel, fake_llm, project):
    from loom_nb.graph import open_graph
    from loom_nb.testing import Reply

    fake_llm.script(Reply(text="Where is parse_config defined?"), Reply(text="config.py:1", latency=60))
    run = llm_kernel.kc.execute(f"%%loom --model {MODEL} --weak {MODEL} --db g.duckdb\nWhere is parse_config defined?")
    queued = llm_kernel.kc.execute("after = 1")
    wait_until(lambda: len(fake_llm.requests) >= 2, "the researcher never asked its model")
    llm_kernel.km.interrupt_kernel()
    result = llm_kernel.collect(run)
    assert result["status"] == "error" and result["reply"]["ename"] == "Interrupted"
    (error,) = [o["content"] for o in result["outputs"] if o["msg_type"] == "error"]
    assert len(error["traceback"]) == 1 and "cancelled by interrupt" in error["traceback"][0]
    assert "loom_nb" not in "".join(error["traceback"])  # no trip through loom's code
    assert llm_kernel.collect(queued)["status"] == "aborted"  # as after any interrupt: the queue is dropped
    assert llm_kernel.value("'after' in globals(), _loom.status") == "(False, 'cancelled')"
    assert open_graph(project / "g.duckdb").sessions()["status"].tolist() == ["cancelled"]


def test_a_system_exit_inside_agents_ends_the_session_and_the_kernel_answers(kernel, project):
    code = textwrap.dedent("""
        def exiting(messages, tools):
            raise SystemExit(3)
        crash = default_runner().submit(Swarm('research x', project='.', model=lead(['a question about x'], 'still'),
                                               weak=ScriptedModel(exiting), db='crash.duckdb'))
        fail = default_runner().submit(Swarm('research y', project='.', model=ScriptedModel(exiting),
                                              db='fail.duckdb'))
        crash.wait(timeout=30).status, fail.wait(timeout=30).status, fail.result.error
    """)
    assert kernel.value(code) == "('done', 'failed', 'SystemExit: 3')"
    assert kernel.value("40 + 2") == "42"
    from loom_nb.graph import open_graph

    crash = open_graph(project / "crash.duckdb")
    assert crash.agents().set_index("name").loc["researcher-1", "status"] == "crashed"
    assert open_graph(project / "fail.duckdb").sessions()["status"].tolist() == ["failed"]


def test_the_display_of_a_background_run_is_updated_when_it_ends(kernel, project):
    marker = project / "bg.txt"
    kernel.execute(
        f"h = default_runner().submit(Swarm('research x', project='.', model=lead(['a question about x']), "
        f"weak=gated_model({str(marker)!r}), record=False))"
    )
    wait_for_file(marker, "the background swarm never started")
    shown = kernel.execute("h")  # what Out[n] of `%%loom --background` shows
    (out,) = shown["outputs"]
    assert out["msg_type"] == "display_data" and "running" in out["content"]["data"]["text/plain"]
    display_id = out["content"]["transient"]["display_id"]
    kernel.kc.execute("release()")
    deadline = time.monotonic() + 30
    while True:  # the update comes from the swarm's thread, whenever the run ends (maybe during release())
        msg = kernel.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["msg_type"] == "update_display_data" and msg["content"]["transient"]["display_id"] == display_id:
            break
    assert "done" in msg["content"]["data"]["text/plain"] and "running" not in msg["content"]["data"]["text/plain"]


def test_interrupting_a_subagent_cell_cancels_the_sub_agent(llm_kernel, fake_llm):
    from loom_nb.testing import Reply

    fake_llm.script(Reply(text="config.py:1", latency=60))
    run = llm_kernel.kc.execute(f'%loom subagent "Where is parse_config defined?" --model {MODEL}')
    wait_until(lambda: len(fake_llm.requests) >= 1, "the sub-agent never asked its model")
    llm_kernel.km.interrupt_kernel()
    result = llm_kernel.collect(run)
    assert result["status"] == "error" and result["reply"]["ename"] == "Interrupted"
    assert result["reply"]["traceback"] == ["KeyboardInterrupt: loom sub-agent cancelled by interrupt"]
    tasks = llm_kernel.value(
        textwrap.dedent("""
            import asyncio, time
            async def _settled(limit=10.0):  # until its clean-up is over: a condition with a deadline
                deadline = time.monotonic() + limit
                while True:
                    left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                    if not left or time.monotonic() > deadline:
                        return len(left)
                    await asyncio.sleep(0.02)
            asyncio.run_coroutine_threadsafe(_settled(), default_runner().loop).result()
        """)
    )
    assert tasks == "0"  # nothing of the sub-agent is left working on the swarm loop


def test_a_background_run_waits_for_an_approval_a_later_cell_gives(kernel, project):
    (project / ".loom.toml").write_text(
        '[[permissions.rules]]\naction = "ask"\npath = "secrets/**"\nreason = "keys live there"\n'
        'match = ["secrets/key.txt"]\n'
    )
    (project / "secrets").mkdir()
    (project / "secrets" / "key.txt").write_text("the key is 42\n")
    started = kernel.execute(
        "from loom_nb.models import tool_call\n"
        "h = default_runner().submit(Swarm('where is the key kept?', project='.',"
        " model=lead(['where is the key kept']),"
        " weak=ScriptedModel([tool_call('file_read', path='secrets/key.txt'), 'in secrets/key.txt:1'])))"
    )
    assert started["status"] == "ok"
    deadline = time.monotonic() + 30
    while kernel.value("len(h.swarm.gate.queue.pending())") != "1":  # the researcher's read waits for a human
        assert time.monotonic() < deadline, "the read was never asked"
    assert kernel.value("h.status") == "'running'"
    assert kernel.value("tuple(h.approvals().iloc[0][['id', 'status', 'tool']])") == "('a1', 'pending', 'file_read')"
    rule = kernel.value("h.approvals().iloc[0]['rule']")
    assert "ask path 'secrets/**'" in rule and "keys live there" in rule
    assert kernel.value("h.agents().set_index('name').loc['researcher-1', 'status']") == "'waiting'"
    approved = kernel.execute("%loom approve a1")
    assert approved["status"] == "ok", approved
    said = [o["content"]["data"]["text/plain"] for o in approved["outputs"] if o["msg_type"] == "execute_result"]
    assert said and "a1 allow" in said[0]
    assert kernel.value("(await h).status") == "'done'"
    reads = kernel.value("h.graph.tool_calls(h.session_id)[['tool', 'outcome']].values.tolist()")
    assert reads == "[['file_read', 'ok']]"  # the read ran once allowed
    recorded = kernel.value("h.graph.approvals(h.session_id)[['decision', 'decided_by']].values.tolist()")
    assert recorded == "[['allow', 'cell']]"
    # and in the decision graph: a decision, chosen from the researcher's task (the action it allowed)
    linked = kernel.value(
        "g = h.graph; n = g.nodes(h.session_id, node_type='decision').iloc[0]; e = g.edges(h.session_id);"
        " (n['title'][:25], n['metadata']['by'], e[e['to_node_id'] == n['id']]['edge_type'].tolist(),"
        " g.get_node(int(e[e['to_node_id'] == n['id']]['from_node_id'].iloc[0])).node_type)"
    )
    assert linked == "('allow file_read {\"path\": ', 'cell', ['chosen'], 'action')"
    refused = kernel.execute("%loom approve a1")
    assert refused["status"] == "error" and "no pending approval 'a1'" in refused["reply"]["evalue"]
