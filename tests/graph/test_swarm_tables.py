"""The specialist swarm's record: plans (and their estimate), tasks with typed dependencies, messages and
test runs, emitted on a real EventBus, written by a real Recorder into a real DuckDB file, read back."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from loom_nb.events import (
    AgentSpawned,
    EventBus,
    MessageSent,
    PlanMade,
    PlannedTask,
    SessionStarted,
    TaskStatus,
    TestRun,
)
from loom_nb.graph import GraphStore, Recorder, open_graph
from loom_nb.graph._schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "it's <script>alert('x')</script> & \"quoted\"; DROP TABLE tasks; -- \u2028 é 漢"

PLAN = (
    PlannedTask(id="research", role="researcher", prompt="find usages of parse", title="Find usages"),
    PlannedTask(
        id="design",
        role="architect",
        prompt="decide the new name",
        acceptance="a decision with options",
        deps=(("research", "requires_output"),),
        title="Decide",
    ),
    PlannedTask(id="edit", role="implementer", prompt="rename it", deps=(("design", "blocks"),), title="Rename"),
    PlannedTask(id="test", role="tester", prompt="run the tests", deps=(("edit", "blocks"), ("research", "informs"))),
)


def record(db: Path, *events) -> None:
    bus = EventBus()
    with Recorder(GraphStore(db)).attach(bus) as rec:
        for e in events:
            bus.emit(e)
        rec.flush()


def status(task: str, role: str, state: str, agent: str = "", **kw) -> TaskStatus:
    return TaskStatus(session_id="s1", agent=agent, task=task, role=role, status=state, **kw)


def test_a_plan_its_tasks_and_their_dependencies(tmp_path):
    db = tmp_path / "g.duckdb"
    record(
        db,
        SessionStarted(session_id="s1", agent="", intent="rename parse to parse_config"),
        PlanMade(
            session_id="s1",
            agent="lead",
            tasks=PLAN,
            estimate_usd=0.42,
            estimate_tokens=12_000,
            estimate_basis="8 tasks of 2 earlier runs",
        ),
        status("research", "researcher", "running", "researcher-1"),
        status(
            "research",
            "researcher",
            "done",
            "researcher-1",
            summary="3 usages",
            files_changed=(),
            decisions=("keep the module",),
            tests="",
            open_questions=("is parse public?",),
            cost_usd=0.012,
        ),
        status("design", "architect", "running", "architect-1"),
    )
    g = open_graph(db)
    tasks = g.tasks("s1").set_index("task_id")
    assert list(tasks.index) == ["research", "design", "edit", "test"]  # plan order
    research, design, edit = tasks.loc["research"], tasks.loc["design"], tasks.loc["edit"]
    assert (research["status"], research["agent"], research["summary"]) == ("done", "researcher-1", "3 usages")
    assert research["decisions"] == ["keep the module"] and research["open_questions"] == ["is parse public?"]
    assert research["cost_usd"] == 0.012 and research["started_at"] <= research["ended_at"]
    assert (design["status"], design["agent"], design["acceptance"]) == (
        "running",
        "architect-1",
        "a decision with options",
    )
    assert pd.isna(design["ended_at"])
    assert (edit["status"], edit["role"], edit["title"], edit["prompt"]) == (
        "pending",
        "implementer",
        "Rename",
        "rename it",
    )
    assert design["deps"] == [{"task": "research", "kind": "requires_output"}]
    assert tasks.loc["test", "deps"] == [{"task": "edit", "kind": "blocks"}, {"task": "research", "kind": "informs"}]
    assert research["deps"] == []
    deps = g.task_dependencies("s1")
    assert sorted(zip(deps["from_task"], deps["to_task"], deps["dependency_type"], strict=True)) == [
        ("design", "edit", "blocks"),
        ("edit", "test", "blocks"),
        ("research", "design", "requires_output"),
        ("research", "test", "informs"),
    ]
    plan = g.plans("s1").iloc[0]
    assert (plan["revision"], plan["tasks"], plan["estimate_usd"], plan["estimate_tokens"]) == (0, 4, 0.42, 12_000)
    assert plan["estimate_basis"] == "8 tasks of 2 earlier runs" and plan["agent"] == "lead"
    payload = g.events("s1", kind="plan_made")["payload"].iloc[0]  # nested tasks as JSON, not a repr
    assert payload["tasks"][1] == {
        "id": "design",
        "role": "architect",
        "prompt": "decide the new name",
        "acceptance": "a decision with options",
        "deps": [["research", "requires_output"]],
        "title": "Decide",
    }


def test_a_revision_updates_adds_and_cancels_what_it_dropped(tmp_path):
    db = tmp_path / "g.duckdb"
    revised = (
        PLAN[0],  # done already: not in danger
        PlannedTask(id="design", role="architect", prompt="decide, given the review", title="Decide again"),
        PlannedTask(id="review", role="reviewer", prompt="review the design", deps=(("design", "blocks"),)),
    )
    record(
        db,
        PlanMade(session_id="s1", agent="lead", tasks=PLAN, estimate_usd=None),
        status("research", "researcher", "done", "r-1", summary="found"),
        status("edit", "implementer", "running", "impl-1"),
        PlanMade(session_id="s1", agent="lead", tasks=revised, revision=1, reason="the research changed the picture"),
    )
    g = open_graph(db)
    tasks = g.tasks("s1").set_index("task_id")
    assert tasks.loc["research", "status"] == "done" and tasks.loc["research", "summary"] == "found"
    assert tasks.loc["design", "title"] == "Decide again" and tasks.loc["design", "revision"] == 1
    assert tasks.loc["design", "deps"] == []  # the revision gave it none
    assert tasks.loc["review", "deps"] == [{"task": "design", "kind": "blocks"}]
    for dropped in ("edit", "test"):
        row = tasks.loc[dropped]
        assert row["status"] == "cancelled" and str(row["ended_at"]) != "NaT"
        assert row["summary"] == "dropped by plan revision 1: the research changed the picture"
    plans = g.plans("s1")
    assert plans["revision"].tolist() == [0, 1] and plans["reason"].tolist() == ["", "the research changed the picture"]
    assert plans["estimate_usd"].isna().tolist() == [True, True]  # unknown stays unknown
    # the run goes on: a third revision plans the cancelled task again
    record(db, PlanMade(session_id="s1", agent="lead", tasks=(*revised, PLAN[2]), revision=2))
    edit = open_graph(db).tasks("s1").set_index("task_id").loc["edit"]
    assert edit["status"] == "pending" and str(edit["ended_at"]) == "NaT" and pd.isna(edit["summary"])


def test_a_revision_and_statuses_in_one_batch_apply_in_emission_order(tmp_path):
    db = tmp_path / "g.duckdb"
    record(
        db,
        PlanMade(session_id="s1", agent="lead", tasks=PLAN[:2]),
        status("design", "architect", "running", "a-1"),
        PlanMade(session_id="s1", agent="lead", tasks=PLAN[:1], revision=1, reason="no design needed"),
        status("research", "researcher", "running", "r-1"),
    )
    tasks = open_graph(db).tasks("s1").set_index("task_id")
    assert tasks.loc["design", "status"] == "cancelled" and tasks.loc["research", "status"] == "running"


def test_messages_round_trip_hostile_text_exactly(tmp_path):
    db = tmp_path / "g.duckdb"
    record(
        db,
        MessageSent(session_id="s1", agent="tester-1", message_id="m1", to="impl-1", text=HOSTILE, task="test"),
        MessageSent(
            session_id="s1",
            agent="impl-1",
            message_id="m2",
            to="tester-1",
            text="which test?",
            message_kind="ask",
            task="edit",
        ),
        MessageSent(
            session_id="s1",
            agent="tester-1",
            message_id="m3",
            to="impl-1",
            text="x",
            message_kind="reply",
            reply_to="m2",
        ),
        MessageSent(
            session_id="s1", agent="lead", message_id="m4", to="*", text="stop", message_kind="broadcast", urgent=True
        ),
        MessageSent(session_id="s1", agent="lead", message_id="m5", to="architect-1", text="hello"),
    )
    g = open_graph(db)
    m = g.messages("s1")
    assert m["text"].iloc[0] == HOSTILE
    first = m.iloc[0]
    assert (first["sender"], first["recipient"], first["kind"], first["task"], bool(first["urgent"])) == (
        "tester-1",
        "impl-1",
        "message",
        "test",
        False,
    )
    assert m.iloc[2]["reply_to"] == "m2" and m.iloc[3]["recipient"] == "*" and bool(m.iloc[3]["urgent"])
    assert g.messages("s1", agent="impl-1")["message_id"].tolist() == ["m1", "m2", "m3", "m4"]
    assert str(m["ts"].dt.tz) == "UTC"


def test_a_thousand_messages_in_one_batch(tmp_path):
    db = tmp_path / "g.duckdb"
    bus = EventBus()
    batches = []
    rec = Recorder(GraphStore(db), flush_interval=60, batch_size=10_000, on_flush=batches.append).attach(bus)
    for i in range(1000):
        bus.emit(
            MessageSent(session_id="s1", agent=f"a{i % 7}", message_id=f"m{i}", to=f"a{(i + 1) % 7}", text=f"t{i}")
        )
    assert rec.flush() == 1000
    rec.close()
    assert batches[0] == 1000  # all in the first batch: one transaction (close() adds the session's end)
    m = open_graph(db).messages("s1")
    assert len(m) == 1000 and m["message_id"].tolist() == [f"m{i}" for i in range(1000)]


def test_test_runs(tmp_path):
    db = tmp_path / "g.duckdb"
    record(
        db,
        TestRun(
            session_id="s1",
            agent="tester-1",
            command="pytest -q",
            passed=12,
            failed=1,
            errors=1,
            skipped=2,
            failing=("tests/test_x.py::test_y", "tests/test_z.py::test_'q'"),
            exit_code=1,
            duration_s=1.5,
            task="test",
            summary="12 passed, 1 failed, 1 error",
        ),
        TestRun(session_id="s1", agent="tester-1", command="pytest -q", passed=14, exit_code=0, task="test", round=2),
    )
    t = open_graph(db).tests("s1")
    assert t["round"].tolist() == [1, 2] and t["passed"].tolist() == [12, 14]
    first = t.iloc[0]
    assert first["failing"] == ["tests/test_x.py::test_y", "tests/test_z.py::test_'q'"] and t.iloc[1]["failing"] == []
    assert (first["failed"], first["errors"], first["skipped"], first["exit_code"]) == (1, 1, 2, 1)
    assert first["summary"] == "12 passed, 1 failed, 1 error" and first["command"] == "pytest -q"


def test_agents_record_their_task_and_role_version(tmp_path):
    db = tmp_path / "g.duckdb"
    record(
        db,
        AgentSpawned(session_id="s1", agent="impl-1", role="implementer", model="m", task="edit", role_version=2),
        AgentSpawned(session_id="s1", agent="lead", role="lead", model="m"),
    )
    agents = open_graph(db).agents("s1").set_index("name")
    assert (agents.loc["impl-1", "task"], agents.loc["impl-1", "role_version"]) == ("edit", 2)
    assert pd.isna(agents.loc["lead", "task"])


def test_times_are_utc_under_another_time_zone(tmp_path):
    """A process in New York records and reads: the stored times are UTC, returned tz-aware in UTC."""
    db = tmp_path / "g.duckdb"
    script = f"""
import json, sys
from loom_nb.events import *
from loom_nb.graph import GraphStore, Recorder, open_graph
bus = EventBus()
ts = 1_700_000_000.25
with Recorder(GraphStore({str(db)!r})).attach(bus) as rec:
    bus.emit(PlanMade(session_id="s1", agent="lead", tasks=(PlannedTask(id="a", role="tester", prompt="p"),), ts=ts))
    bus.emit(TaskStatus(session_id="s1", agent="t", task="a", role="tester", status="running", ts=ts + 1))
    bus.emit(TaskStatus(session_id="s1", agent="t", task="a", role="tester", status="done", ts=ts + 2))
    bus.emit(MessageSent(session_id="s1", agent="t", message_id="m", to="lead", text="x", ts=ts + 3))
    bus.emit(TestRun(session_id="s1", agent="t", command="pytest", ts=ts + 4))
    rec.flush()
g = open_graph({str(db)!r})
t = g.tasks("s1").iloc[0]
out = [str(t[c]) for c in ("created_at", "started_at", "ended_at")]
out += [str(g.messages("s1")["ts"].iloc[0]), str(g.tests("s1")["ts"].iloc[0]), str(g.plans("s1")["ts"].iloc[0])]
print(json.dumps(out))
"""
    env = {**os.environ, "TZ": "America/New_York"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [
        "2023-11-14 22:13:20.250000+00:00",
        "2023-11-14 22:13:21.250000+00:00",
        "2023-11-14 22:13:22.250000+00:00",
        "2023-11-14 22:13:23.250000+00:00",
        "2023-11-14 22:13:24.250000+00:00",
        "2023-11-14 22:13:20.250000+00:00",
    ]


def test_a_version_3_file_migrates_keeping_its_dependencies(tmp_path):
    db = tmp_path / "old.duckdb"
    with GraphStore(db, migrations=MIGRATIONS[:3]).connect() as con:  # a file of the previous version
        con.execute(
            "INSERT INTO task_dependencies (session_id, from_task, to_task, dependency_type, created_at) "
            "VALUES ('old', 'a', 'b', 'requires', '2025-01-01 00:00:00')"
        )
    g = open_graph(db)
    deps = g.task_dependencies("old")
    assert deps[["from_task", "to_task", "dependency_type"]].values.tolist() == [["a", "b", "requires"]]
    g.add_task_dependency("b", "c", "informs", session_id="old")  # a plan's kinds now fit
    again = g.task_dependencies("old")
    assert again["dependency_type"].tolist() == ["requires", "informs"] and again["id"].is_unique
    assert g.tasks().empty and g.messages().empty and g.tests().empty and g.plans().empty


def test_a_spooled_plan_loads_back_as_the_same_events(tmp_path):
    """A plan's nested tasks go to the spool as JSON and come back as PlannedTasks (not their repr)."""
    from loom_nb.graph._spool import _read_spool, spool_lines

    events = [
        PlanMade(session_id="s1", agent="lead", tasks=PLAN, estimate_usd=0.1),
        status("edit", "implementer", "done", "impl-1", files_changed=("a.py",), decisions=("d",)),
        TestRun(session_id="s1", agent="t", command="pytest", failing=("a::b",)),
    ]
    assert list(_read_spool(spool_lines(events).splitlines())) == events
