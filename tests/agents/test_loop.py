import asyncio

import pytest

from loom_nb.agents import Agent
from loom_nb.events import EventBus, EventLog
from loom_nb.models import (
    Budget,
    BudgetReached,
    ModelError,
    ModelSettings,
    Price,
    Response,
    ScriptedModel,
    TextPart,
    Usage,
    tool_call,
)
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


# budgets: reserve -> call -> settle ---------------------------------------------------------------

HAIKU = Price(input=1e-6, output=5e-6)


async def test_a_call_that_cannot_reserve_its_worst_case_is_not_sent(ctx):
    log = EventLog()
    bus = EventBus()
    bus.subscribe(log)
    model = ScriptedModel(["never sent"], price=HAIKU)
    budget = Budget(usd=0.01)  # 4,096 output tokens alone could cost $0.02
    with pytest.raises(BudgetReached, match=r"budget reached: the session budget of \$0.01"):
        await make(model, ctx, bus, budget=budget).run("x")
    assert model.requests == [] and log.of_kind("llm_call") == []
    last = log.of_kind("agent_status")[-1]
    assert last.status == "done" and last.reason.startswith("budget reached:")
    assert budget.reserved_usd == 0 and budget.spent_usd == 0


async def test_each_call_settles_its_real_cost_and_the_warning_is_an_event(ctx):
    log = EventLog()
    bus = EventBus()
    bus.subscribe(log)
    reply = Response(
        parts=(tool_call("file_read", path="a.py"),), usage=Usage(output_tokens=1000), model="m", cost_usd=0.009
    )
    model = ScriptedModel([reply, reply, "done"], price=HAIKU)
    budget = Budget(usd=0.04)  # worst case per call ~$0.023: room for the first two, not a third after $0.018
    with pytest.raises(BudgetReached):
        await make(model, ctx, bus, budget=budget, settings=ModelSettings(max_tokens=4096)).run("x")
    assert [c.cost_usd for c in log.of_kind("llm_call")] == [0.009, 0.009] and len(model.requests) == 2
    assert budget.spent_usd == pytest.approx(0.018) and budget.reserved_usd == 0
    assert log.of_kind("budget_warning") == []  # 45 % spent: no warning

    budget = Budget(usd=0.04)
    budget.reserve(usd=0.024, tokens=0).settle(usd=0.024, tokens=0)  # the other agents spent $0.024
    model = ScriptedModel([reply, "done"], price=HAIKU, name="scripted:second")
    await make(model, ctx, bus, budget=budget, settings=ModelSettings(max_tokens=1000)).run("x")
    (warning,) = log.of_kind("budget_warning")
    assert warning.share >= 0.8 and warning.limit_usd == 0.04 and warning.budget == "session"
    assert warning.message.startswith(f"{warning.share:.0%} of the session budget spent ($0.0")


async def test_a_stop_waits_for_the_call_in_flight_and_records_its_real_cost(ctx):
    log = EventLog()
    bus = EventBus()
    bus.subscribe(log)
    started, answer = asyncio.Event(), asyncio.Event()

    async def slow(messages, tools):
        started.set()
        await answer.wait()
        return Response(parts=(TextPart(text="late"),), usage=Usage(output_tokens=100), model="m", cost_usd=0.0005)

    budget = Budget(usd=1.0)
    task = asyncio.ensure_future(make(ScriptedModel(slow, price=HAIKU), ctx, bus, budget=budget).run("x"))
    await started.wait()
    task.cancel()  # a stop, while the provider is working on the request
    await asyncio.sleep(0)
    assert not task.done() and budget.in_flight == 1  # still waiting for the answer
    answer.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    (call,) = log.of_kind("llm_call")
    assert call.error is None and call.cost_usd == 0.0005 and call.output_tokens == 100
    assert budget.spent_usd == 0.0005 and budget.in_flight == 0
    assert log.of_kind("agent_status")[-1].reason == "stopped"


async def test_a_call_abandoned_at_a_second_stop_is_recorded_at_its_worst_case(ctx):
    log = EventLog()
    bus = EventBus()
    bus.subscribe(log)
    started = asyncio.Event()

    async def never(messages, tools):
        started.set()
        await asyncio.Event().wait()

    budget = Budget(usd=1.0)
    task = asyncio.ensure_future(make(ScriptedModel(never, price=HAIKU), ctx, bus, budget=budget).run("x"))
    await started.wait()
    task.cancel()
    await asyncio.sleep(0)
    held = budget.reserved_usd
    assert held > 0.02  # 4,096 output tokens at $5/M plus the input
    task.cancel()  # the supervisor's grace ran out
    with pytest.raises(asyncio.CancelledError):
        await task
    (call,) = log.of_kind("llm_call")
    assert call.error.startswith("cancelled in flight by a stop; charged at its reserved worst case")
    assert call.cost_usd == pytest.approx(held) and budget.spent_usd == pytest.approx(held)
