import pandas as pd
import pytest

from loom_nb.events import AgentSpawned, EventBus, LLMCall, SessionStarted
from loom_nb.graph import Graph, GraphError, Recorder


@pytest.fixture
def run(graph):
    """Two sessions with agents, calls and a small decision graph."""
    bus = EventBus()
    with Recorder(graph.store).attach(bus) as rec:
        for sid, model in (("s1", "anthropic:claude-haiku-4-5"), ("s2", "openai:gpt-4o")):
            bus.emit(SessionStarted(session_id=sid, agent="", intent=f"intent {sid}", models=(model,)))
            for name, role in (("lead", "lead"), ("researcher-1", "researcher")):
                bus.emit(AgentSpawned(session_id=sid, agent=name, role=role, model=model))
                bus.emit(
                    LLMCall(
                        session_id=sid,
                        agent=name,
                        model=model,
                        input_tokens=1000,
                        output_tokens=100,
                        cost_usd=0.01,
                        latency_s=1.0,
                    )
                )
        bus.emit(
            LLMCall(session_id="s2", agent="lead", model="anthropic:claude-opus-4-1", input_tokens=5, cost_usd=None)
        )
        rec.flush()
    goal = graph.add_node("goal", "Refactor", metadata={"ticket": 7, "tags": {"area": "db"}})
    graph.add_node("observation", "found", parent_id=goal.id, confidence=55)
    return graph


def test_dataframes_have_sensible_dtypes(run):
    nodes = run.nodes()
    assert str(nodes["created_at"].dtype).startswith("datetime64")
    assert nodes["confidence"].tolist()[1] == 55 and pd.isna(nodes["confidence"].iloc[0])
    assert str(nodes["confidence"].dtype) in ("Int32", "Int64")
    assert nodes["metadata"].iloc[0] == {"ticket": 7, "tags": {"area": "db"}}
    wide = run.nodes(expand_metadata=True)
    assert wide["metadata.ticket"].iloc[0] == 7 and wide["metadata.tags.area"].iloc[0] == "db"
    sessions = run.sessions()
    assert str(sessions["started_at"].dtype).startswith("datetime64") and sessions["models"].iloc[0] == [
        "anthropic:claude-haiku-4-5"
    ]


def test_filters(run):
    assert run.nodes(node_type="goal")["title"].tolist() == ["Refactor"]
    assert run.nodes(session="s1", status="active", agent="lead")["title"].tolist() == ["Refactor", "found"]
    assert run.nodes(session="nope").empty
    assert len(run.agents("s2")) == 2 and len(run.llm_calls(session="s2", agent="lead")) == 2
    assert run.edges(session="s1", edge_type="leads_to")["to_node_id"].tolist() == [2]
    with pytest.raises(GraphError, match="unknown node type"):
        run.nodes(node_type="idea")


def test_costs_by_agent_model_role_session_keep_unknown_prices_visible(run):
    by_model = run.costs(by="model").set_index("model")
    assert by_model.loc["anthropic:claude-haiku-4-5", "cost_usd"] == pytest.approx(0.02)
    assert by_model.loc["anthropic:claude-opus-4-1", "unpriced_calls"] == 1
    assert by_model.loc["anthropic:claude-opus-4-1", "cost_usd"] == 0  # priced calls only; unknown is counted
    by_role = run.costs(by="role").set_index("role")
    assert by_role.loc["researcher", "input_tokens"] == 2000 and by_role.loc["lead", "calls"] == 3
    by_session = run.costs(by="session").set_index("session_id")
    assert by_session.loc["s1", "cost_usd"] == pytest.approx(0.02)
    assert len(run.costs(by="agent", session="s1")) == 2
    with pytest.raises(GraphError, match=r"costs\(by=\.\.\.\) takes one of agent, model, role, session"):
        run.costs(by="day")


def test_timeline_starts_at_zero_in_order(run):
    tl = run.timeline("s1")
    assert tl["t"].iloc[0] == 0 and tl["t"].is_monotonic_increasing
    assert tl["kind"].tolist()[:2] == ["session_started", "agent_spawned"]


def test_sql_binds_parameters_and_never_formats_them(run):
    hostile = "x'; DROP TABLE decision_nodes; --"
    assert run.sql("SELECT * FROM decision_nodes WHERE title = ?", [hostile]).empty
    assert run.sql("SELECT count(*) AS n FROM decision_nodes WHERE title = $t", {"t": "Refactor"})["n"][0] == 1
    assert len(run.nodes()) == 2  # still there


def test_no_silent_row_limit(graph):
    with graph.store.connect() as con:
        con.execute("""INSERT INTO decision_nodes (change_id, node_type, title, status, created_at, updated_at)
                       SELECT 'c' || i, 'observation', 'n' || i, 'active', now()::TIMESTAMP, now()::TIMESTAMP
                       FROM range(5000) t(i)""")
    assert len(graph.nodes()) == 5000 and len(graph.sql("SELECT * FROM decision_nodes")) == 5000


def test_to_networkx(run):
    import networkx as nx

    g = run.to_networkx()
    assert isinstance(g, nx.MultiDiGraph) and g.number_of_nodes() == 2 and g.number_of_edges() == 1
    assert g.nodes[1]["title"] == "Refactor" and list(g.edges(data="edge_type")) == [(1, 2, "leads_to")]


def test_null_metadata_reads_as_none(graph):
    with graph.store.connect() as con:
        con.execute("""INSERT INTO decision_nodes (change_id, node_type, title, status, metadata, created_at,
                       updated_at) VALUES ('a', 'goal', 'ok', 'active', '{"x": 1}', now()::TIMESTAMP, now()::TIMESTAMP),
                       ('b', 'goal', 'null meta', 'active', NULL, now()::TIMESTAMP, now()::TIMESTAMP)""")
    assert graph.nodes()["metadata"].tolist() == [{"x": 1}, None]


def test_every_timestamp_is_utc_aware_and_right(run, monkeypatch):
    """Whatever the machine's zone: the file holds naive UTC; every DataFrame hands out UTC-aware times."""
    monkeypatch.setenv("TZ", "America/New_York")  # a zone far from UTC: a wrong conversion shows as hours
    import time as _time

    _time.tzset()
    try:
        from loom_nb.events import AgentStatus, SessionEnded, ToolCallEvent

        bus = EventBus()
        with Recorder(run.store).attach(bus):
            bus.emit(
                ToolCallEvent(
                    session_id="s1", agent="lead", tool="t", call_id="c", args_summary="", duration_s=0.0, outcome="ok"
                )
            )
            for name in ("lead", "researcher-1"):
                for sid in ("s1", "s2"):
                    bus.emit(AgentStatus(session_id=sid, agent=name, status="done"))
            for sid in ("s1", "s2"):
                bus.emit(SessionEnded(session_id=sid, agent="", status="done"))
        with run.store.connect() as con:
            con.execute(
                "INSERT INTO task_dependencies (session_id, from_task, to_task, dependency_type, created_at) "
                "VALUES ('s1', 'a', 'b', 'blocks', now()::TIMESTAMP)"
            )
        now = pd.Timestamp.now(tz="UTC")
        frames = {
            "sessions": run.sessions(),
            "agents": run.agents(),
            "nodes": run.nodes(),
            "edges": run.edges(),
            "llm_calls": run.llm_calls(),
            "tool_calls": run.tool_calls(),
            "events": run.events(),
            "task_dependencies": run.task_dependencies(),
            "timeline": run.timeline("s1"),
            "sql": run.sql("SELECT now() AS now_tz, started_at FROM sessions"),
        }
        for name, df in frames.items():
            stamps = [c for c in df.columns if df[c].dtype.kind == "M"]
            assert stamps, f"{name} has no timestamp column"
            for col in stamps:
                assert str(df[col].dt.tz) == "UTC", f"{name}.{col} is {df[col].dtype}"
                values = df[col].dropna()
                assert len(values) and (abs(values - now) < pd.Timedelta(minutes=5)).all(), f"{name}.{col}"
    finally:
        monkeypatch.undo()
        _time.tzset()


def test_sessions_say_why_a_run_failed_or_was_cancelled(store):
    from loom_nb.events import SessionEnded

    bus = EventBus()
    with Recorder(store).attach(bus):
        for sid, status, error in (
            ("ok", "done", None),
            ("stopped", "cancelled", "budget of $0.01 reached (spent $0.0200)"),
            ("broke", "failed", "ModelError: the model answered 500 three times"),
        ):
            bus.emit(SessionStarted(session_id=sid, agent="", intent=sid))
            bus.emit(SessionEnded(session_id=sid, agent="", status=status, error=error))
    sessions = Graph(store).sessions().set_index("id")
    assert sessions.loc["stopped", ["status", "error"]].tolist() == [
        "cancelled",
        "budget of $0.01 reached (spent $0.0200)",
    ]
    assert sessions.loc["broke", "error"] == "ModelError: the model answered 500 three times"
    assert pd.isna(sessions.loc["ok", "error"])
