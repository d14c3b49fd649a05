"""The agent loop asks the permission gate before every tool call: refusals are tool results naming
the rule, an ask waits (the agent shows `waiting`) while the others keep working, the human's answer
(from another thread) lets it go on, with edited arguments if given."""

import asyncio
import threading
from pathlib import Path

import pytest

from loom_nb.agents import Agent
from loom_nb.events import EventBus, EventLog
from loom_nb.models import ScriptedModel, tool_call
from loom_nb.permissions import PermissionGate, Policy, Rule
from loom_nb.tools import HANDS_TOOLS, READ_ONLY_TOOLS, Scope, ToolContext
from loom_nb.workspace import Workspace
from tests.gitrepo import git_project


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    root = git_project(tmp_path / "project", {"app.py": "def greet():\n    return 'hi'\n"})
    return Workspace.create(root, "g1")


def implementer(workspace: Workspace, model: ScriptedModel, gate: PermissionGate, bus: EventBus, name: str = "impl-1"):
    ctx = ToolContext(scope=Scope(workspace.path), project=workspace.project, session_id="g1", workspace=workspace)
    return Agent(
        name=name,
        role="implementer",
        model=model,
        tools=[*READ_ONLY_TOOLS, *HANDS_TOOLS],
        context=ctx,
        bus=bus,
        gate=gate,
    )


async def test_a_denied_call_is_a_tool_result_naming_the_rule(workspace: Workspace) -> None:
    bus = EventBus()
    log = EventLog(bus)
    gate = PermissionGate(Policy(preset="autonomous", rules=[Rule(action="deny", command="curl", reason="offline")]))
    model = ScriptedModel([tool_call("shell", command="ls && curl example.org | tee x"), "ok"])
    result = await implementer(workspace, model, gate, bus).run("fetch it")
    refused = result.messages[2].tool_results[0]
    assert refused.is_error and "deny command 'curl'" in refused.content and "(offline)" in refused.content
    (call,) = log.of_kind("tool_call")
    assert call.outcome == "refused"
    assert log.of_kind("shell_run") == []  # nothing ran


async def test_an_ask_waits_for_an_answer_from_another_thread(workspace: Workspace) -> None:
    bus = EventBus()
    log = EventLog(bus)
    gate = PermissionGate(Policy(preset="strict"), bus=bus, session_id="g1")
    asked = threading.Event()
    gate.queue.subscribe(lambda request, answer: answer is None and asked.set())
    model = ScriptedModel(
        [tool_call("file_edit", path="app.py", old="'hi'", new="'hello'", replace_all=False), "edited"]
    )
    seen = {}

    def human() -> None:  # a widget's click arrives on another thread
        asked.wait(10)
        (request,) = gate.queue.pending()
        seen["preview"] = request.preview
        seen["reason"] = request.decision.explain
        gate.queue.answer(request.id, "allow", arguments={"path": "app.py", "old": "'hi'", "new": "'hey'"}, by="widget")

    thread = threading.Thread(target=human)
    thread.start()
    result = await asyncio.wait_for(implementer(workspace, model, gate, bus).run("say hello"), 20)
    thread.join()
    assert result.text == "edited"
    assert "-    return 'hi'" in seen["preview"] and "+    return 'hello'" in seen["preview"]
    assert seen["reason"].startswith("ask: preset strict asks for writes")
    assert (workspace.path / "app.py").read_text() == "def greet():\n    return 'hey'\n"  # the edited arguments ran
    statuses = [e.status for e in log.of_kind("agent_status")]
    assert "waiting" in statuses and statuses.index("waiting") < statuses.index("done")
    assert [e.kind for e in log.events if e.kind.startswith("approval")] == ["approval_requested", "approval_decided"]
    assert workspace.commits()[-1].agent == "impl-1"


async def test_one_agent_waits_while_another_works(workspace: Workspace) -> None:
    bus = EventBus()
    gate = PermissionGate(Policy(preset="balanced"), bus=bus)
    waiting = implementer(workspace, ScriptedModel([tool_call("shell", command="npm ci"), "done"]), gate, bus, "a")
    working = implementer(
        workspace, ScriptedModel([tool_call("file_write", path="new.py", content="x = 1\n"), "wrote"]), gate, bus, "b"
    )
    first = asyncio.ensure_future(waiting.run("install"))
    result = await asyncio.wait_for(working.run("write"), 20)  # not held up by the pending ask
    assert result.text == "wrote" and len(gate.queue.pending()) == 1
    gate.queue.answer(gate.queue.pending()[0].id, "deny", message="no installs", by="cell")
    denied = await asyncio.wait_for(first, 20)
    assert "denied by the user: no installs" in denied.messages[2].tool_results[0].content
