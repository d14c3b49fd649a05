"""The graph says what happened: a swarm's events, emitted on a real bus and recorded by a Recorder with
project_decisions=True, become decision nodes and edges linked to the agent and the task."""

from pathlib import Path

import pytest

from loom_nb.events import (
    AgentSpawned,
    ApprovalDecided,
    ApprovalRequested,
    CommitMade,
    EventBus,
    MessageSent,
    PlanMade,
    PlannedTask,
    SessionStarted,
    TaskStatus,
    TestRun,
)
from loom_nb.graph import Graph, GraphStore, Recorder, open_graph
from loom_nb.tools import Scope, ToolContext, decision_log

HOSTILE = 'it\'s <img src=x onerror=alert(1)> & "q"; DROP TABLE decision_nodes; --'
PLAN = (
    PlannedTask(id="research", role="researcher", prompt="find usages of parse", title="Find usages"),
    PlannedTask(
        id="design", role="architect", prompt="decide", deps=(("research", "requires_output"),), title="Decide"
    ),
    PlannedTask(id="edit", role="implementer", prompt="rename it", deps=(("design", "blocks"),), title="Rename"),
    PlannedTask(id="test", role="tester", prompt="run the tests", deps=(("edit", "blocks"), ("research", "informs"))),
)


def s1(cls, **kw):
    return cls(session_id="s1", **kw)


def first_batch() -> list:
    return [
        s1(SessionStarted, agent="", intent="Rename parse to parse_config\n\nin the whole project"),
        s1(AgentSpawned, agent="lead", role="lead", model="m"),
        s1(PlanMade, agent="lead", tasks=PLAN, estimate_usd=0.5),
        s1(AgentSpawned, agent="researcher-1", role="researcher", model="m", task="research"),
        s1(TaskStatus, agent="researcher-1", task="research", role="researcher", status="running"),
        s1(
            TaskStatus,
            agent="researcher-1",
            task="research",
            role="researcher",
            status="done",
            summary="3 usages in 2 files",
            decisions=("keep the module",),
        ),
    ]


def second_batch() -> list:
    return [
        s1(AgentSpawned, agent="impl-1", role="implementer", model="m", task="edit"),
        s1(AgentSpawned, agent="tester-1", role="tester", model="m", task="test"),
        s1(TaskStatus, agent="impl-1", task="edit", role="implementer", status="running"),
        s1(
            CommitMade,
            agent="impl-1",
            sha="0123456789abcdef",
            message="Rename parse\n\nbody",
            files=("a.py", "b.py"),
            insertions=3,
            deletions=3,
            task="edit",
        ),
        s1(
            TestRun,
            agent="tester-1",
            command="pytest -q",
            passed=12,
            failed=1,
            errors=1,
            failing=("tests/test_a.py::test_x", "tests/test_b.py::test_y"),
            exit_code=1,
        ),  # no task given: the tester's (from its AgentSpawned)
        s1(MessageSent, agent="tester-1", message_id="m1", to="impl-1", text=HOSTILE, message_kind="ask"),
        s1(
            MessageSent,
            agent="impl-1",
            message_id="m2",
            to="tester-1",
            text="fixed",
            message_kind="reply",
            reply_to="m1",
        ),
        s1(MessageSent, agent="lead", message_id="m3", to="*", text="budget at 80 %", message_kind="broadcast"),
        s1(ApprovalRequested, agent="impl-1", request_id="r1", tool="shell", arguments='{"command": "make"}'),
        s1(ApprovalDecided, agent="", request_id="r1", decision="deny", by="cell", message="not now"),
        s1(TaskStatus, agent="impl-1", task="edit", role="implementer", status="failed", error="tests fail"),
    ]


@pytest.fixture
def run(tmp_path: Path) -> Graph:
    db = tmp_path / "g.duckdb"
    bus = EventBus()
    with Recorder(GraphStore(db), project_decisions=True).attach(bus) as rec:
        for batch in (first_batch(), second_batch()):  # two batches: the second finds the first's nodes
            for e in batch:
                bus.emit(e)
            rec.flush()
    return open_graph(db)


def by_title(g: Graph) -> dict:
    nodes = g.nodes("s1")
    return {row["title"]: row for row in nodes.to_dict("records")}


def edge_set(g: Graph) -> set[tuple[str, str, str]]:
    titles = dict(zip(g.nodes("s1")["id"], g.nodes("s1")["title"], strict=True))
    e = g.edges("s1")
    return {
        (titles[f], t_type, titles[t])
        for f, t, t_type in zip(e["from_node_id"], e["to_node_id"], e["edge_type"], strict=True)
    }


def test_a_plan_is_a_goal_with_an_action_per_task_and_typed_dependency_edges(run):
    nodes = by_title(run)
    goal = nodes["Rename parse to parse_config"]
    assert (goal["node_type"], goal["agent_name"]) == ("goal", "lead")
    assert goal["description"] == "Rename parse to parse_config\n\nin the whole project"
    design = nodes["architect: Decide"]
    assert design["node_type"] == "action" and design["metadata"]["task"] == "design"
    assert design["metadata"]["role"] == "architect"
    assert nodes["researcher: Find usages"]["agent_name"] == "researcher-1"  # the agent on it
    assert nodes["tester: run the tests"]["metadata"] == {"task": "test", "role": "tester", "revision": 0, "title": ""}
    edges = edge_set(run)
    for task in ("researcher: Find usages", "architect: Decide", "implementer: Rename", "tester: run the tests"):
        assert ("Rename parse to parse_config", "leads_to", task) in edges
    assert ("architect: Decide", "requires", "researcher: Find usages") in edges  # requires_output
    assert ("architect: Decide", "blocks", "implementer: Rename") in edges
    assert ("implementer: Rename", "blocks", "tester: run the tests") in edges
    assert ("researcher: Find usages", "enables", "tester: run the tests") in edges  # informs


def test_outcomes_commits_tests_messages_and_approvals_hang_under_their_task(run):
    nodes = by_title(run)
    done = nodes["done: 3 usages in 2 files"]
    assert (done["node_type"], done["agent_name"]) == ("outcome", "researcher-1")
    assert done["metadata"]["decisions"] == ["keep the module"] and done["metadata"]["task"] == "research"
    failed = nodes["failed: tests fail"]
    assert failed["node_type"] == "outcome" and failed["metadata"]["status"] == "failed"
    commit = nodes["commit 0123456: Rename parse"]
    assert commit["node_type"] == "action" and commit["agent_name"] == "impl-1"
    assert commit["metadata"] == {
        "task": "edit",
        "sha": "0123456789abcdef",
        "files": ["a.py", "b.py"],
        "insertions": 3,
        "deletions": 3,
    }
    tests = nodes["tests: 12 passed, 1 failed, 1 error"]
    assert tests["node_type"] == "outcome" and tests["confidence"] == 86  # 12 of 14 counted
    assert tests["metadata"]["failing"] == ["tests/test_a.py::test_x", "tests/test_b.py::test_y"]
    assert tests["metadata"]["task"] == "test"
    ask = next(n for t, n in nodes.items() if t.startswith("ask tester-1 → impl-1: "))
    assert ask["description"] == HOSTILE and ask["node_type"] == "observation" and ask["agent_name"] == "tester-1"
    assert ask["metadata"]["task"] == "test" and ask["metadata"]["to"] == "impl-1"
    approval = nodes['deny shell {"command": "make"}']
    assert approval["node_type"] == "decision" and approval["agent_name"] == "impl-1"
    assert approval["metadata"]["task"] == "edit" and approval["description"] == "not now"
    edges = edge_set(run)
    assert ("researcher: Find usages", "leads_to", "done: 3 usages in 2 files") in edges
    assert ("implementer: Rename", "leads_to", "failed: tests fail") in edges
    assert ("implementer: Rename", "leads_to", "commit 0123456: Rename parse") in edges
    assert ("tester: run the tests", "leads_to", "tests: 12 passed, 1 failed, 1 error") in edges
    assert ("tester: run the tests", "leads_to", ask["title"]) in edges
    assert (ask["title"], "leads_to", "implementer: Rename") in edges  # on to the recipient's task
    assert (ask["title"], "leads_to", "reply impl-1 → tester-1: fixed") in edges  # the reply answers it
    assert ("implementer: Rename", "rejected", 'deny shell {"command": "make"}') in edges
    broadcast = "broadcast lead → *: budget at 80 %"
    assert ("Rename parse to parse_config", "leads_to", broadcast) in edges  # the lead has no task: the goal
    assert not any(f == broadcast for f, _, _ in edges)  # to everyone: no recipient edge


def test_a_revision_is_a_revisit_its_dropped_tasks_abandoned(run):
    db = run.store.path
    bus = EventBus()
    revised = (
        PLAN[0],
        PLAN[1],
        PlannedTask(id="edit", role="implementer", prompt="rename it, carefully", title="Rename again"),
        PlannedTask(id="review", role="reviewer", prompt="review", deps=(("edit", "blocks"),)),
    )
    with Recorder(GraphStore(db), project_decisions=True).attach(bus):
        bus.emit(s1(PlanMade, agent="lead", tasks=revised, revision=1, reason="tests failed"))
    g = open_graph(db)
    nodes = by_title(g)
    revisit = nodes["plan revision 1: tests failed"]
    assert revisit["node_type"] == "revisit"
    assert nodes["tester: run the tests"]["status"] == "abandoned"  # dropped while pending
    assert nodes["implementer: Rename again"]["status"] == "active"  # updated in place
    assert "implementer: Rename" not in nodes
    edges = edge_set(g)
    assert ("Rename parse to parse_config", "leads_to", "plan revision 1: tests failed") in edges
    assert ("plan revision 1: tests failed", "leads_to", "reviewer: review") in edges  # new in the revision
    assert ("Rename parse to parse_config", "leads_to", "implementer: Rename again") in edges  # linked once
    assert ("implementer: Rename again", "blocks", "reviewer: review") in edges
    assert ("architect: Decide", "blocks", "implementer: Rename again") not in edges  # the revision dropped it
    # a dropped task keeps its dependencies (as task_dependencies does): the history of the abandoned node
    assert ("implementer: Rename again", "blocks", "tester: run the tests") in edges
    assert len(g.nodes("s1", node_type="goal")) == 1


def test_without_project_decisions_nothing_is_drawn(tmp_path):
    db = tmp_path / "g.duckdb"
    bus = EventBus()
    with Recorder(GraphStore(db)).attach(bus):
        for e in first_batch() + second_batch():
            bus.emit(e)
    g = open_graph(db)
    assert g.nodes().empty and len(g.tasks("s1")) == 4


async def test_decision_log_puts_the_agents_task_in_metadata_under_the_task_node(run):
    ctx = ToolContext(
        scope=Scope(run.store.path.parent),
        project=run.store.path.parent,
        session_id="s1",
        agent="architect-1",
        task="design",
        graph=Graph(run.store),
    )
    out = await decision_log({"node_type": "decision", "title": "Name it parse_config", "confidence": 80}, ctx)
    task_node = run.task_node("design", session_id="s1")
    assert task_node is not None and out.endswith(f"leads_to from #{task_node.id}")
    node = by_title(open_graph(run.store.path))["Name it parse_config"]
    assert node["metadata"] == {"task": "design"} and node["agent_name"] == "architect-1"
    outside = ToolContext(scope=ctx.scope, project=ctx.project, session_id="s1", agent="a", graph=ctx.graph)
    out = await decision_log({"node_type": "observation", "title": "no task"}, outside)
    assert "from #" not in out


def test_a_cost_that_is_not_a_number_is_stored_as_unknown(tmp_path):
    db = tmp_path / "g.duckdb"
    bus = EventBus()
    with Recorder(GraphStore(db), project_decisions=True).attach(bus) as rec:
        bus.emit(s1(PlanMade, agent="lead", tasks=PLAN[:1]))
        bus.emit(s1(TaskStatus, agent="r", task="research", role="researcher", status="done", cost_usd=float("nan")))
        rec.flush()
        assert rec.failure is None
    g = open_graph(db)
    assert g.tasks("s1")["cost_usd"].isna().all()
    assert by_title(g)["done: research"]["metadata"]["cost_usd"] is None


def test_a_later_round_of_tests_supersedes_the_one_before(tmp_path):
    db = tmp_path / "g.duckdb"
    bus = EventBus()
    run = dict(agent="tester-1", command="pytest", task="test")
    with Recorder(GraphStore(db), project_decisions=True).attach(bus) as rec:
        bus.emit(s1(PlanMade, agent="lead", tasks=PLAN))
        bus.emit(s1(TestRun, passed=3, failed=2, failing=("a::x", "a::y"), **run))
        rec.flush()  # round 2 in a later batch, round 3 in the same one
        bus.emit(s1(TestRun, passed=4, failed=1, failing=("a::y",), round=2, **run))
        bus.emit(s1(TestRun, passed=5, round=3, **run))
        bus.emit(s1(TestRun, passed=1, round=2, agent="t", command="pytest", task="edit"))  # another task's round
    g = open_graph(db)
    nodes = by_title(g)
    first, second, third = (
        nodes[f"tests: {t}"] for t in ("3 passed, 2 failed", "4 passed, 1 failed (round 2)", "5 passed (round 3)")
    )
    assert (first["status"], second["status"], third["status"]) == ("superseded", "superseded", "active")
    assert (first["confidence"], second["confidence"], third["confidence"]) == (60, 80, 100)
    edges = edge_set(g)
    assert (second["title"], "supersedes", first["title"]) in edges and (
        third["title"],
        "supersedes",
        second["title"],
    ) in edges
    assert nodes["tests: 1 passed (round 2)"]["status"] == "active"  # no round 1 of its task to supersede
