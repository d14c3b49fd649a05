import asyncio
import sysconfig
import threading
from pathlib import Path

import pytest

from loom_nb.events import EventBus, EventLog
from loom_nb.graph import open_graph
from loom_nb.models import MissingAPIKey, ModelError, Response, ScriptedModel, TextPart, Usage
from loom_nb.runtime import ANY, Registry
from loom_nb.swarm import Swarm

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def lead_model(questions: list[str], summary: str = "the summary", cost: float = 0.0) -> ScriptedModel:
    """Plans into `questions` on its first turn, answers with `summary` on its second."""

    def fn(messages, tools):
        text = (
            "\n".join(f"{i}. {q}" for i, q in enumerate(questions, 1))
            if not messages[0].text.startswith("Request:")
            else summary
        )
        return Response(
            parts=(TextPart(text=text),), usage=Usage(input_tokens=10), model="scripted:lead", cost_usd=cost
        )

    return ScriptedModel(fn, name="scripted:lead")


async def test_offline_research_swarm_on_a_real_tree(tmp_path):
    registry = Registry()
    swarm = Swarm(
        "How does asyncio's TaskGroup cancel its tasks? Where is asyncio.timeout implemented?",
        project=STDLIB,
        scope="asyncio",
        db=tmp_path / "g.duckdb",
        max_agents=3,
        registry=registry,
    )
    result = await swarm.run()
    assert result.status == "done" and result.error is None and result.cost_usd == 0.0
    assert [f.agent for f in result.findings] == ["researcher-1", "researcher-2"]
    assert "offline lead" in result.text and "taskgroups.py:" in result.text and "timeouts.py:" in result.text
    for f in result.findings:  # cited lines are really there
        for ev in f.evidence:
            assert (STDLIB / ev.path).read_text().splitlines()[ev.line - 1] == ev.text
    assert len(registry) == 0
    g = open_graph(tmp_path / "g.duckdb")
    nodes = g.nodes(session=result.session_id)
    assert nodes["node_type"].tolist() == ["goal", "action", "action", "observation", "observation"]
    assert nodes["agent_name"].tolist() == ["lead", "lead", "lead", "researcher-1", "researcher-2"]
    edges = g.edges(session=result.session_id)
    assert sorted(zip(edges["from_node_id"], edges["to_node_id"], strict=True)) == [(1, 2), (1, 3), (2, 4), (3, 5)]
    agents = g.agents(result.session_id).set_index("name")
    assert agents.loc["researcher-1", "parent"] == "lead" and set(agents["status"]) == {"done"}
    session = g.sessions().iloc[0]
    assert session["status"] == "done" and session["input_tokens"] == result.usage.input_tokens > 0
    assert "1 goals with no path" not in g.pulse(session_id=result.session_id).summary


async def test_the_lead_plans_and_answers_with_its_model_and_researchers_run_in_parallel(tmp_path):
    in_flight = peak = 0
    registry = Registry()
    registered = set()

    async def researcher(messages, tools):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        registered.update(k for k, _ in registry.select((ANY, "s-par")))
        await asyncio.sleep(0.02)  # simulated model latency
        in_flight -= 1
        return f"finding for {messages[0].text}: see a.py:1"

    (tmp_path / "a.py").write_text("x = 1\n")
    questions = [f"question number {i} about x" for i in range(5)]
    swarm = Swarm(
        "research x",
        project=tmp_path,
        model=lead_model(questions, "all answered"),
        weak=ScriptedModel(researcher),
        max_agents=2,
        session="s-par",
        record=False,
        registry=registry,
    )
    result = await swarm.run()
    assert result.text == "all answered" and peak == 2
    assert [f.task for f in result.findings] == questions
    assert {name for name, _ in registered} == {f"researcher-{i}" for i in range(1, 6)}
    assert all(f.evidence and f.evidence[0].path == "a.py" for f in result.findings)


async def test_stop_from_another_thread_ends_the_run(tmp_path):
    started = threading.Event()

    async def slow(messages, tools):
        started.set()
        await asyncio.Event().wait()  # a model that never answers

    swarm = Swarm(
        "research x", project=tmp_path, model=lead_model(["a question about x"]), weak=ScriptedModel(slow), record=False
    )
    run = asyncio.ensure_future(swarm.run())
    await asyncio.to_thread(started.wait, 10)
    stopper = threading.Thread(target=swarm.stop, args=("stop button",))  # as a widget callback would
    stopper.start()
    result = await run
    stopper.join()
    assert result.status == "cancelled" and result.error == "stop button"


async def test_an_outside_cancellation_is_recorded_then_propagates(tmp_path):
    bus = EventBus()
    log = EventLog(bus)
    started = asyncio.Event()

    async def slow(messages, tools):
        started.set()
        await asyncio.Event().wait()

    swarm = Swarm(
        "research x",
        project=tmp_path,
        model=lead_model(["a question about x"]),
        weak=ScriptedModel(slow),
        db=tmp_path / "g.duckdb",
        bus=bus,
    )
    run = asyncio.ensure_future(swarm.run())
    await started.wait()
    run.cancel()  # what an interrupt does
    with pytest.raises(asyncio.CancelledError):
        await run
    assert [e.status for e in log.of_kind("session_ended")] == ["cancelled"]
    assert open_graph(tmp_path / "g.duckdb").sessions()["status"].tolist() == ["cancelled"]


async def test_a_failing_researcher_does_not_sink_the_session(tmp_path):
    def flaky(messages, tools):
        if "bad" in messages[0].text:
            raise ModelError("x: HTTP 500 after 4 retries", status_code=500, retries=4)
        return "fine: nothing special"

    swarm = Swarm(
        "research",
        project=tmp_path,
        model=lead_model(["good question one", "bad question two"]),
        weak=ScriptedModel(flaky),
        record=False,
    )
    result = await swarm.run()
    assert result.status == "done"
    assert result.findings[0].error is None and "HTTP 500 after 4 retries" in result.findings[1].error


async def test_misuse_and_bad_input_fail_loudly(tmp_path, monkeypatch):
    swarm = Swarm("research", project=tmp_path, record=False)
    await swarm.run()
    with pytest.raises(RuntimeError, match="each Swarm may be run once"):
        await swarm.run()
    with pytest.raises(ValueError, match="needs an intent"):
        Swarm("  ", project=tmp_path)
    with pytest.raises(ValueError, match="budget_usd must be > 0"):
        Swarm("x", project=tmp_path, budget_usd=0)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(MissingAPIKey, match="ANTHROPIC_API_KEY"):
        Swarm("x", project=tmp_path, model="anthropic:claude-sonnet-4-5")
