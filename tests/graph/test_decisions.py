from datetime import timedelta

import pytest

from loom_nb.graph import GraphError


def count(graph, table):
    with graph.store.connect() as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_nodes_round_trip_with_session_and_agent(graph):
    node = graph.add_node("goal", "  Refactor sessions  ", "why", confidence=72.4, metadata={"ticket": 12})
    assert (node.title, node.confidence, node.metadata, node.session_id, node.agent_name) == (
        "Refactor sessions",
        72,
        {"ticket": 12},
        "s1",
        "lead",
    )
    assert graph.get_node(node.id) == node
    other = graph.for_agent("researcher-1").add_node("observation", "found it")
    assert other.agent_name == "researcher-1" and other.session_id == "s1"


def test_update_and_delete(graph):
    a = graph.add_node("decision", "A")
    b = graph.add_node("option", "B")
    graph.add_edge(a.id, b.id, "chosen", rationale="cheaper", weight=0.5)
    updated = graph.update_node(a.id, status="abandoned", confidence=10, title="A'")
    assert (updated.status, updated.confidence, updated.title) == ("abandoned", 10, "A'")
    assert updated.updated_at >= a.updated_at
    graph.delete_node(a.id)
    assert count(graph, "decision_nodes") == 1 and count(graph, "decision_edges") == 0
    with pytest.raises(GraphError, match="no node"):
        graph.get_node(a.id)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"node_type": "idea", "title": "x"}, "unknown node type 'idea': use one of goal, decision"),
        ({"node_type": "goal", "title": "x", "confidence": 140}, "confidence must be from 0 to 100; got 140"),
        ({"node_type": "goal", "title": "x", "confidence": "high"}, "confidence must be a number"),
        ({"node_type": "goal", "title": "   "}, "non-empty title"),
        ({"node_type": "goal", "title": "x", "status": "done"}, "unknown status 'done'"),
        ({"node_type": "goal", "title": "x", "metadata": [1]}, "metadata must be a dict"),
        ({"node_type": "goal", "title": "x", "parent_id": 999}, "no node 999"),
    ],
)
def test_bad_nodes_are_refused_and_nothing_is_written(graph, kwargs, message):
    with pytest.raises(GraphError, match=message):
        graph.add_node(**kwargs)
    assert count(graph, "decision_nodes") == 0 and count(graph, "decision_edges") == 0


def test_bad_edges_are_refused_and_nothing_is_written(graph):
    a, b = graph.add_node("goal", "a"), graph.add_node("decision", "b")
    with pytest.raises(GraphError, match="no node 999: an edge needs both ends"):
        graph.add_edge(a.id, 999)
    with pytest.raises(GraphError, match="unknown edge type 'causes'"):
        graph.add_edge(a.id, b.id, "causes")
    with pytest.raises(GraphError, match="to itself"):
        graph.add_edge(a.id, a.id)
    with pytest.raises(GraphError, match="weight must be a finite number"):
        graph.add_edge(a.id, b.id, weight=float("nan"))
    assert count(graph, "decision_edges") == 0


def test_supersede_is_atomic_and_refuses_cycles(graph):
    a, b, c = (graph.add_node("decision", t) for t in "abc")
    edge = graph.supersede(a.id, b.id, rationale="b is better")
    assert (edge.from_node_id, edge.to_node_id, edge.edge_type) == (b.id, a.id, "supersedes")
    assert graph.get_node(a.id).status == "superseded"
    graph.supersede(b.id, c.id)
    with pytest.raises(GraphError, match="cycle of supersedes"):
        graph.supersede(c.id, a.id)  # a superseding c would close a -> ... -> c -> ... loop
    assert graph.get_node(c.id).status == "active"  # the failed supersede changed nothing
    assert count(graph, "decision_edges") == 2
    with pytest.raises(GraphError, match="no node 12345"):
        graph.supersede(12345, a.id)
    assert graph.get_node(a.id).status == "superseded" and count(graph, "decision_edges") == 2


def test_queries_active_goals_recent_decisions_and_search(graph):
    g1 = graph.add_node("goal", "Ship the widget")
    graph.add_node("goal", "Old goal", status="abandoned")
    for i in range(5):
        graph.add_node("decision", f"decision {i}", description="uses 100% of the budget" if i == 2 else None)
    assert [n.id for n in graph.active_goals()] == [g1.id]
    assert [n.title for n in graph.recent_decisions(limit=3)] == ["decision 4", "decision 3", "decision 2"]
    assert [n.title for n in graph.search("100%")] == ["decision 2"]  # % is literal, not a wildcard
    assert [n.title for n in graph.search("WIDGET")] == ["Ship the widget"]
    assert graph.search("' OR 1=1 --") == []


def test_pulse_finds_goals_without_action_low_confidence_and_stale_nodes(graph):
    done_goal = graph.add_node("goal", "has an action")
    step = graph.add_node("decision", "pick a plan", parent_id=done_goal.id)
    graph.add_node("action", "do it", parent_id=step.id, edge_type="leads_to")
    lonely = graph.add_node("goal", "nobody works on this", confidence=30)
    pulse = graph.pulse()
    assert [n.id for n in pulse.goals_without_action] == [lonely.id]
    assert [n.id for n in pulse.low_confidence] == [lonely.id]
    assert pulse.stale == [] and graph.pulse(stale_after=timedelta(0)).stale
    assert pulse.counts == {"goal": 2, "decision": 1, "action": 1}
    assert "1 goals with no path to an action or outcome" in pulse.summary


def test_narrative_walks_the_tree(graph):
    goal = graph.add_node("goal", "Refactor", confidence=80)
    old = graph.add_node("decision", "one module", parent_id=goal.id, edge_type="chosen")
    new = graph.add_node("decision", "three modules")
    graph.supersede(old.id, new.id)
    graph.add_node("observation", "tests pass", parent_id=new.id)
    text = graph.narrative(session_id="s1")
    assert text.splitlines() == [
        f"goal #{goal.id}: Refactor (80%) — lead",
        f"  chosen → decision #{old.id}: one module [superseded] — lead",
        f"    superseded by → decision #{new.id}: three modules — lead",
        f"      leads_to → observation #{new.id + 1}: tests pass — lead",
    ]
    assert graph.narrative(goal_id=goal.id) == text
    with pytest.raises(GraphError, match="exactly one"):
        graph.narrative()


def test_context_block_is_capped(graph):
    for i in range(200):
        graph.add_node("goal", f"goal number {i} with a fairly long title to fill the budget")
    block = graph.context_block(max_tokens=100)
    assert len(block) <= 100 * 4 + 60 and block.startswith("## Decision graph") and "use decision_query" in block


def test_task_dependencies(graph):
    graph.add_task_dependency("design schema", "write migration", "blocks")
    with pytest.raises(GraphError, match="unknown dependency type"):
        graph.add_task_dependency("a", "b", "after")
    deps = graph.task_dependencies(session="s1")
    assert deps[["from_task", "to_task", "dependency_type"]].values.tolist() == [
        ["design schema", "write migration", "blocks"]
    ]
