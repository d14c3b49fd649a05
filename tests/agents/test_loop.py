import asyncio

import pytest

from loom_nb.agents import Agent
from loom_nb.events import EventBus, EventLog
from loom_nb.models import ModelError, ScriptedModel, TextPart, tool_call
from loom_nb.runtime import ChildSpec, Down, Process, Supervisor
from loom_nb.tools import READ_ONLY_TOOLS, Scope, Tool, ToolContext


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "a.py").write_text("alpha = 1\n")
    (tmp_path / "b.py").write_text("beta = 2\n")
    return ToolContext(scope=Scope(tmp_path), project=tmp_path, session_id="s1")


def make(model, ctx, bus=None, **kw):
    return Agent(name="researcher-1", role="researcher", model=model, tools=READ_ONLY_TOOLS, context=ctx, bus=bus, **kw)


async def test_tool_calls_of_one_turn_run_concurrently(ctx):
    gate = asyncio.Event()
    running = 0
    peak = 0

    async def slow(args, ctx):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running == 3:
            gate.set()
        await gate.wait()  # only returns once all three are in flight at once
        running -= 1
        return f"done {args['n']}"

    tool = Tool(
        name="slow",
        description="",
        permission="read",
        fn=slow,
        parameters={"type": "object", "properties": {"n": {"type": "integer"}}},
    )
    model = ScriptedModel([[tool_call("slow", n=1), tool_call("slow", n=2), tool_call("slow", n=3)], "all done"])
    agent = Agent(name="a", model=model, tools=[tool], context=ctx)
    result = await agent.run("go")
    assert peak == 3 and result.text == "all done" and result.tool_calls == 3
    results = result.messages[2].tool_results
    assert [r.content for r in results] == ["done 1", "done 2", "done 3"]


async def test_events_for_every_step(ctx):
    bus = EventBus()
    log = EventLog(bus)
    model = ScriptedModel([tool_call("file_read", path="a.py"), "alpha is 1 (a.py:1)"])
    result = await make(model, ctx, bus).run("what is alpha?")
    assert result.text == "alpha is 1 (a.py:1)" and not result.partial and result.iterations == 2
    kinds = [e.kind for e in log.events]
    assert kinds == [
        "agent_spawned",
        "agent_status",
        "llm_call",
        "agent_status",
        "tool_started",
        "tool_call",
        "agent_status",
        "llm_call",
        "agent_status",
    ]
    statuses = [e.status for e in log.of_kind("agent_status")]
    assert statuses == ["thinking", "executing", "thinking", "done"]
    (tc,) = log.of_kind("tool_call")
    assert (tc.tool, tc.outcome, tc.args_summary) == ("file_read", "ok", "path='a.py'")
    assert all(e.session_id == "s1" and e.agent == "researcher-1" for e in log.events)
    assert log.of_kind("agent_status")[1].tool == "file_read"


async def test_a_raising_tool_becomes_an_error_result_and_the_loop_goes_on(ctx):
    async def boom(args, ctx):
        raise RuntimeError("disk on fire")

    tool = Tool(
        name="boom", description="", parameters={"type": "object", "properties": {}}, fn=boom, permission="read"
    )
    model = ScriptedModel([tool_call("boom"), "recovered"])
    log = EventLog()
    bus = EventBus()
    bus.subscribe(log)
    result = await Agent(name="a", model=model, tools=[tool], context=ctx, bus=bus).run("x")
    assert result.text == "recovered"
    sent_back = model.requests[1][0][-1].tool_results[0]
    assert sent_back.is_error and "RuntimeError: disk on fire" in sent_back.content
    assert log.of_kind("tool_call")[0].outcome == "error"


async def test_tools_not_granted_are_refused_and_nothing_runs(ctx, tmp_path):
    ran = []

    async def write(args, ctx):
        ran.append(args)
        return "written"

    model = ScriptedModel(
        [[tool_call("file_write", path="a.py", content="x"), tool_call("shell", cmd="rm -rf /")], "ok"]
    )
    log = EventLog()
    bus = EventBus()
    bus.subscribe(log)
    await make(model, ctx, bus).run("x")
    results = model.requests[1][0][-1].tool_results
    assert all(r.is_error and "not available to this agent" in r.content for r in results)
    assert "Nothing was run" in results[0].content
    assert [e.outcome for e in log.of_kind("tool_call")] == ["refused", "refused"]
    assert ran == [] and (tmp_path / "a.py").read_text() == "alpha = 1\n"


async def test_malformed_arguments_are_reported_to_the_model(ctx):
    from loom_nb.models import ToolCallPart

    bad = ToolCallPart(id="c1", name="file_read", arguments_error="arguments are not valid JSON")
    model = ScriptedModel([bad, "fine"])
    await make(model, ctx).run("x")
    (result,) = model.requests[1][0][-1].tool_results
    assert result.is_error and "not valid JSON" in result.content and "Send a JSON object" in result.content


async def test_iteration_limit_returns_what_was_found_flagged_partial(ctx):
    model = ScriptedModel(lambda messages, tools: [tool_call("file_read", path="a.py")])
    result = await make(model, ctx, max_iterations=3).run("loop forever")
    assert result.partial and result.stop_reason == "max_iterations" and result.iterations == 3
    assert "alpha = 1" in result.text  # what its tools returned, not lost
    last_settings = model.requests[-1][2]
    assert last_settings.tool_choice == "none"
    assert "last allowed turn" in model.requests[-1][0][-1].text


async def test_model_failure_crashes_the_agent_with_a_reason_the_supervisor_sees(ctx):
    model = ScriptedModel([ModelError("anthropic:x: HTTP 529 overloaded after 4 retries", status_code=529, retries=4)])
    bus = EventBus()
    log = EventLog(bus)
    downs: list[Down] = []
    go = asyncio.Event()

    async def body(proc: Process) -> None:
        await go.wait()
        await make(model, ctx, bus).run("x")

    sup = Supervisor([ChildSpec(id="agent", start=body, restart="temporary")])
    await sup.start()
    proc = (await sup.which_children())[0].process
    proc.add_monitor(downs.append)
    go.set()
    await proc.join()
    assert isinstance(downs[0].reason, ModelError) and "after 4 retries" in str(downs[0].reason)
    crashed = log.of_kind("agent_status")[-1]
    assert crashed.status == "crashed" and "HTTP 529" in crashed.reason
    assert log.of_kind("llm_call")[-1].error.startswith("anthropic:x: HTTP 529")
    await sup.stop()


async def test_unknown_price_warns_once_and_cost_stays_unknown(ctx):
    from loom_nb.models import Response, Usage

    def unpriced(text):
        return Response(parts=(TextPart(text=text),), usage=Usage(input_tokens=5), model="x:y", cost_usd=None)

    model = ScriptedModel(
        [
            Response(parts=(tool_call("file_read", path="a.py"),), usage=Usage(), model="x:y", cost_usd=None),
            unpriced("done"),
        ]
    )
    log = EventLog()
    bus = EventBus()
    bus.subscribe(log)
    result = await make(model, ctx, bus).run("x")
    assert result.cost_usd is None
    assert [w.code for w in log.of_kind("warning")] == ["unknown_price"]


async def test_cancellation_marks_the_agent_stopped(ctx):
    model = ScriptedModel([tool_call("file_read", path="a.py"), "never"], latency=30)
    log = EventLog()
    bus = EventBus()
    bus.subscribe(log)
    task = asyncio.ensure_future(make(model, ctx, bus).run("x"))
    for _ in range(100):
        await asyncio.sleep(0)
        if log.of_kind("agent_status"):
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    last = log.of_kind("agent_status")[-1]
    assert (last.status, last.reason) == ("cancelled", "stopped")
