"""What agents changed, ran and were allowed lands in DuckDB: commits, shell_runs, approvals."""

import asyncio
from pathlib import Path

from loom_nb.agents import Agent
from loom_nb.events import EventBus
from loom_nb.graph import GraphStore, Recorder, open_graph
from loom_nb.models import ScriptedModel, tool_call
from loom_nb.permissions import PermissionGate, Policy
from loom_nb.tools import HANDS_TOOLS, READ_ONLY_TOOLS, Scope, ToolContext
from loom_nb.workspace import Workspace
from tests.gitrepo import git_project


async def test_a_run_with_hands_is_recorded(tmp_path: Path) -> None:
    root = git_project(tmp_path / "project", {"app.py": "value = 1\n"})
    ws = Workspace.create(root, "rec1")
    bus = EventBus()
    db = tmp_path / "graph.duckdb"
    gate = PermissionGate(Policy(preset="balanced"), bus=bus, session_id="rec1")
    asked = asyncio.Event()
    gate.queue.subscribe(lambda request, answer: answer is None and asked.set())
    model = ScriptedModel(
        [
            tool_call("file_edit", path="app.py", old="value = 1", new="value = 2"),
            tool_call("shell", command="echo checking; seq 1 3000; exit 1"),
            "done",
        ]
    )
    ctx = ToolContext(scope=Scope(ws.path), project=root, session_id="rec1", workspace=ws)
    tools = [*READ_ONLY_TOOLS, *HANDS_TOOLS]
    agent = Agent(name="impl-1", role="implementer", model=model, tools=tools, context=ctx, bus=bus, gate=gate)
    with Recorder(GraphStore(db)).attach(bus):
        running = asyncio.ensure_future(agent.run("change it"))
        await asyncio.wait_for(asked.wait(), 10)  # the shell command is asked (balanced)
        gate.queue.answer(gate.queue.pending()[0].id, "allow", by="cell")
        await asyncio.wait_for(running, 20)
    g = open_graph(db)
    commits = g.commits("rec1")
    assert list(commits["files"]) == [["app.py"]] and commits["agent"].tolist() == ["impl-1"]
    assert commits["sha"].iloc[0] == ws.commits()[0].sha and commits["insertions"].iloc[0] == 1
    shell = g.shell_runs("rec1").iloc[0]
    assert shell["exit_code"] == 1 and "\n2999\n" in shell["output"] and shell["command"].startswith("echo checking")
    approval = g.approvals("rec1").iloc[0]
    assert approval["tool"] == "shell" and approval["decision"] == "allow" and approval["decided_by"] == "cell"
    assert approval["rule"].startswith("ask: preset balanced asks for commands") and approval["latency_s"] >= 0
    assert approval["decided_at"] >= approval["requested_at"] and str(approval["requested_at"].tz) == "UTC"
    assert len(g.approvals("rec1", pending=True)) == 0
    shell_call = g.tool_calls("rec1", tool="shell").iloc[0]
    assert approval["call_id"] == shell_call["call_id"] != ""  # the approval names the call it let run
