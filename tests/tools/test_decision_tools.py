import pytest

from loom_nb.graph import Graph, GraphStore
from loom_nb.tools import Scope, ToolContext, ToolError, decision_log, decision_query


@pytest.fixture
def ctx(tmp_path):
    graph = Graph(GraphStore(tmp_path / "g.duckdb"))
    return ToolContext(scope=Scope(tmp_path), project=tmp_path, session_id="s1", agent="architect-1", graph=graph)


async def test_log_and_query_stamp_the_session_and_agent(ctx):
    out = await decision_log({"node_type": "goal", "title": "Refactor sessions", "confidence": 80}, ctx)
    assert out == "logged #1 [goal] Refactor sessions (80%) — architect-1"
    out = await decision_log({"node_type": "decision", "title": "Split it", "parent_id": 1, "edge_type": "chosen"}, ctx)
    assert out.endswith("chosen from #1")
    node = ctx.graph.get_node(2)
    assert (node.session_id, node.agent_name) == ("s1", "architect-1")
    assert await decision_query({"query": "active_goals"}, ctx) == "#1 [goal] Refactor sessions (80%) — architect-1"
    assert "Split it" in await decision_query({"query": "recent_decisions"}, ctx)
    assert "Split" in await decision_query({"query": "search", "text": "split"}, ctx)
    assert "2 active nodes" in await decision_query({"query": "pulse"}, ctx)


async def test_bad_input_is_an_error_result_and_writes_nothing(ctx):
    with pytest.raises(ToolError, match="confidence must be <= 100"):
        await decision_log({"node_type": "goal", "title": "x", "confidence": 140}, ctx)
    with pytest.raises(ToolError, match=r"no node 42.*nothing was logged"):
        await decision_log({"node_type": "decision", "title": "orphan", "parent_id": 42}, ctx)
    with pytest.raises(ToolError, match="must be one of goal"):
        await decision_log({"node_type": "idea", "title": "x"}, ctx)
    assert ctx.graph.list_nodes() == []


async def test_permissions_and_a_session_without_a_graph(tmp_path):
    assert (decision_log.permission, decision_query.permission) == (
        "coordination",
        "read",
    )  # the graph, not the workspace: never asked as a write
    bare = ToolContext(scope=Scope(tmp_path), project=tmp_path)
    with pytest.raises(ToolError, match="no decision graph"):
        await decision_query({"query": "pulse"}, bare)
