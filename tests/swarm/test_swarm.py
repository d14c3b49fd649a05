import asyncio
import sysconfig
import threading
from pathlib import Path

import pytest

from loom_nb.agents import Agent
from loom_nb.events import EventBus, EventLog
from loom_nb.graph import GraphStore, Recorder, open_graph
from loom_nb.models import MissingAPIKey, ModelError, Response, ScriptedModel, TextPart, Usage
from loom_nb.notebook._tracker import SessionTracker
from loom_nb.runtime import ANY, ChildSpec, DynamicSupervisor, Registry
from loom_nb.swarm import Swarm
from loom_nb.tools import READ_ONLY_TOOLS, Scope, ToolContext

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
    # the plan's goal, a task (action) each, its outcome, and the findings with their checked citations
    types = ["goal", "action", "action", "outcome", "outcome", "observation", "observation"]
    assert nodes["node_type"].tolist() == types
    assert nodes["agent_name"].tolist() == ["lead", *(["researcher-1", "researcher-2"] * 3)]
    assert not nodes["title"].str.contains("offline model").any()  # titles say what was found, not who
    edges = g.edges(session=result.session_id)
    pairs = [(1, 2), (1, 3), (2, 4), (2, 6), (3, 5), (3, 7)]
    assert sorted(zip(edges["from_node_id"], edges["to_node_id"], strict=True)) == pairs
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
    # each specialist is a registered process (and the lead has a mailbox of its own)
    assert {name for name, _ in registered} == {"lead", *(f"researcher-{i}" for i in range(1, 6))}
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


def restarts_everywhere(log: EventLog, tracker: SessionTracker, db: Path, session: str) -> dict[str, tuple[int, ...]]:
    """Per agent: restarts as the events say, as `%loom agents` shows them, and as the graph holds them."""
    spawns: dict[str, list[bool]] = {}
    for e in log.of_kind("agent_spawned"):
        spawns.setdefault(e.agent, []).append(e.restart)
    shown = tracker.dataframe().set_index("name")["restarts"]
    recorded = open_graph(db).agents(session).set_index("name")["restarts"]
    return {name: (sum(flags), int(shown[name]), int(recorded[name])) for name, flags in spawns.items()}


@pytest.mark.parametrize("lead", ["scripted", "offline"])
async def test_the_lead_plans_and_answers_as_one_agent_never_restarted(tmp_path, lead):
    (tmp_path / "a.py").write_text("x = 1\n")
    bus = EventBus()
    log = EventLog(bus)
    tracker = SessionTracker(bus, "s-lead")
    swarm = Swarm(
        "research x in a.py",
        project=tmp_path,
        model=lead_model(["first question about x", "second question about x"]) if lead == "scripted" else "offline",
        weak=ScriptedModel(lambda messages, tools: "x is set at a.py:1"),
        session="s-lead",
        db=tmp_path / "g.duckdb",
        bus=bus,
    )
    result = await swarm.run()
    assert result.status == "done"
    assert [e.agent for e in log.of_kind("agent_spawned")].count("lead") == 1
    counts = restarts_everywhere(log, tracker, tmp_path / "g.duckdb", "s-lead")
    assert counts["lead"] == (0, 0, 0) and set(counts) >= {"lead", "researcher-1"}
    assert all(c == (0, 0, 0) for c in counts.values())
    lead_statuses = [e.status for e in log.of_kind("agent_status") if e.agent == "lead"]
    assert "idle" in lead_statuses and lead_statuses[-1] == "done"  # waits for its researchers, then answers
    assert open_graph(tmp_path / "g.duckdb").agents("s-lead").set_index("name").loc["lead", "status"] == "done"


async def test_a_researcher_its_supervisor_restarts_after_a_crash_counts_one_restart(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    db = tmp_path / "g.duckdb"
    bus = EventBus()
    log = EventLog(bus)
    tracker = SessionTracker(bus, "s-crash")
    recorder = Recorder(GraphStore(db)).attach(bus)
    calls = 0

    def once_broken(messages, tools):
        nonlocal calls
        calls += 1
        if calls == 1:
            recorder.flush()  # the first spawn is written before the restart: the second lands as an update
            raise ModelError("x: HTTP 500 after 4 retries", status_code=500, retries=4)
        return "x is set at a.py:1"

    finished = asyncio.Event()

    async def researcher(proc):
        agent = Agent(
            name="researcher-1",
            role="researcher",
            model=ScriptedModel(once_broken),
            tools=READ_ONLY_TOOLS,
            context=ToolContext(scope=Scope(tmp_path), project=tmp_path, session_id="s-crash"),
            bus=bus,
            parent="lead",
            restart=proc.restarts > 0,
        )
        await agent.run("where is x set?")
        finished.set()

    supervisor = DynamicSupervisor()
    await supervisor.start()
    try:
        await supervisor.start_child(ChildSpec(id="researcher-1", start=researcher, restart="transient"))
        await asyncio.wait_for(finished.wait(), 10)
    finally:
        await supervisor.stop()
        await asyncio.to_thread(recorder.close)
    assert calls == 2
    assert [e.restart for e in log.of_kind("agent_spawned")] == [False, True]
    assert restarts_everywhere(log, tracker, db, "s-crash") == {"researcher-1": (1, 1, 1)}
    assert any("restart 1" in line for line in tracker.feed())


SAMPLE = Path(__file__).resolve().parents[2] / "notebooks" / "sample_project"


async def test_the_offline_lead_asks_only_the_intents_questions_and_answers_each_in_a_sentence():
    swarm = Swarm(
        "How does the inventory service load its settings? Where are user sessions saved, and when do they expire?",
        project=SAMPLE,
        record=False,
    )
    result = await swarm.run()
    assert [f.task for f in result.findings] == [
        "How does the inventory service load its settings?",
        "Where are user sessions saved, and when do they expire?",
    ]
    body = result.text.splitlines()
    assert body[0].startswith("[offline lead") and "no LLM was used" in body[0]
    first = body[body.index("1. How does the inventory service load its settings?") + 1]
    second = body[body.index("2. Where are user sessions saved, and when do they expire?") + 1]
    assert "def load_settings(" in first and "inventory/config.py:" in first
    assert "self._sessions[token]" in second and "lifetime_minutes = 30" in second and "30 minutes" in second
    assert "nothing found" not in result.text.lower()


async def test_a_single_question_stays_one_task():
    swarm = Swarm("Which environment variable sets the store path?", project=SAMPLE, record=False)
    result = await swarm.run()
    assert [f.task for f in result.findings] == ["Which environment variable sets the store path?"]
    assert "Where is" not in result.text and "INVENTORY_STORE" in result.text
