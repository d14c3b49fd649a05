"""The whole coding workflow over HTTP: the real anthropic SDK and litellm against the FakeLLMServer,
which plays every role from the request alone (tests/swarm/crewplay.py), in a real git repository
whose real pytest suite the tester runs in the run's worktree, recorded to a real DuckDB file.

The project: calc.add subtracts. The lead plans researcher -> architect -> implementer -> tester."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from loom_nb.events import ENDED_STATUSES, EventLog
from loom_nb.graph import open_graph
from loom_nb.models import parse_model_string
from loom_nb.models._anthropic import AnthropicModel
from loom_nb.models._litellm import LitellmModel
from loom_nb.swarm import Swarm
from loom_nb.swarm._estimate import DEFAULT_TOKENS, OUTPUT_SHARE
from loom_nb.testing import Fault, Reply
from tests.gitrepo import git, git_project
from tests.swarm.crewplay import CrewServer, Turn, architect, call, implementer, researcher, the_tester

KEY = "sk-test-workflow-DO-NOT-LEAK"
BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
TESTS = (
    "from calc import add\n\n\n"
    "def test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_add_zero():\n    assert add(0, 0) == 0\n"
)
INTENT = "add(2, 3) gives -1: fix calc.add so the tests pass"
PLAN = [
    {"id": "t1", "role": "researcher", "title": "find add", "prompt": "Why does calc.add(2, 3) give -1?"},
    {
        "id": "t2",
        "role": "architect",
        "title": "decide the fix",
        "prompt": "Decide how to fix calc.add.",
        "deps": [{"task": "t1", "kind": "requires_output"}],
    },
    {
        "id": "t3",
        "role": "implementer",
        "title": "fix add",
        "prompt": "Fix calc.add as decided.",
        "acceptance": "add(2, 3) == 5",
        "deps": [{"task": "t2", "kind": "requires_output"}],
    },
    {
        "id": "t4",
        "role": "tester",
        "title": "run the tests",
        "prompt": "Run the tests; send failures to the implementer.",
        "deps": [{"task": "t3", "kind": "requires_output"}],
    },
]
TEAM = {
    "researcher": researcher,
    "architect": architect,
    "implementer": implementer([("a - b", "a + b")]),
    "tester": the_tester,
}
PROVIDERS = ["anthropic", "litellm"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return git_project(
        tmp_path / "p",
        {
            "calc/__init__.py": BUGGY,
            "tests/test_calc.py": TESTS,
            "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
        },
    )


def build(provider: str, server: CrewServer) -> Any:
    if provider == "anthropic":
        return AnthropicModel("claude-haiku-4-5", base_url=server.url, api_key=KEY)
    return LitellmModel(parse_model_string("openai/gpt-4o"), base_url=server.openai_base_url, api_key=KEY)


async def run_flow(provider: str, server: CrewServer, project: Path, **kw: Any) -> tuple[Any, Swarm, EventLog]:
    """One run with the provider's model for every tier (lead, weak, strong)."""
    model = build(provider, server)
    kw.setdefault("preset", "autonomous")
    swarm = Swarm(INTENT, project=project, model=model, weak=model, strong=model, db=project.parent / "g.duckdb", **kw)
    log = EventLog(swarm.bus)
    try:
        result = await asyncio.wait_for(swarm.run(), 60)
    finally:
        await model.aclose()
    return result, swarm, log


def llm_rows(project: Path, session_id: str) -> Any:
    return open_graph(project.parent / "g.duckdb").sql(
        "SELECT * FROM llm_calls WHERE session_id = ? ORDER BY id", [session_id]
    )


def every_request_recorded(server: CrewServer, log: EventLog, project: Path, session_id: str) -> list[Any]:
    """Each request the server saw is one LLMCall (a call the SDK retried counts its retries), in the DB too."""
    calls = log.of_kind("llm_call")
    assert len(server.requests) == sum(1 + c.retries for c in calls)
    rows = llm_rows(project, session_id)
    assert len(rows) == len(calls)
    assert sorted(rows["agent"]) == sorted(c.agent for c in calls)
    # with the usage the server billed for each answer
    billed = sorted((r.input_tokens, r.output_tokens) for r in server.replies if isinstance(r, Reply))
    assert sorted((c.input_tokens, c.output_tokens) for c in calls if c.error is None) == billed
    assert sorted(zip(rows["input_tokens"], rows["output_tokens"], strict=True)) == sorted(
        (c.input_tokens, c.output_tokens) for c in calls
    )
    return calls


def expected_usd(role: str, price: Any) -> float:
    tokens = DEFAULT_TOKENS[role]
    return tokens * (1 - OUTPUT_SHARE) * price.input + tokens * OUTPUT_SHARE * price.output


def commit_body(ws: Any, sha: str) -> str:
    return git(ws.path, "log", "-1", "--format=%B", sha)


# 1. the happy path ------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_happy_path_plans_decides_edits_tests_and_answers_from_the_facts(project, provider):
    with CrewServer(PLAN, TEAM) as server:
        result, swarm, log = await run_flow(provider, server, project)
    assert result.status == "done", result.error
    assert [(r.task.id, r.status, r.agent) for r in result.tasks] == [
        ("t1", "done", "researcher-1"),
        ("t2", "done", "architect-1"),
        ("t3", "done", "implementer-1"),
        ("t4", "done", "tester-1"),
    ]
    ended = [(e.task, e.status) for e in log.of_kind("task_status") if e.status != "running"]
    assert ended == [("t1", "done"), ("t2", "done"), ("t3", "done"), ("t4", "done")]
    # the researcher's citation was checked against the worktree's file
    assert [str(e) for e in result.tasks[0].findings.evidence] == ["calc/__init__.py:2: return a - b"]
    # the edit: one commit in the worktree, attributed, with trailers; the user's checkout untouched
    ws = swarm.workspace
    (commit,) = ws.commits()
    assert (commit.agent, commit.role, commit.task, commit.files) == (
        "implementer-1",
        "implementer",
        "t3",
        ("calc/__init__.py",),
    )
    body = commit_body(ws, commit.sha)
    for trailer in (f"Loom-Session: {result.session_id}", "Loom-Agent: implementer-1", "Loom-Task: t3"):
        assert trailer in body
    assert (ws.path / "calc/__init__.py").read_text() == FIXED
    assert (project / "calc/__init__.py").read_text() == BUGGY
    # the tests ran for real in the worktree, and passed
    (run,) = log.of_kind("test_run")
    assert (run.agent, run.task, run.round, run.passed, run.failed, run.exit_code) == ("tester-1", "t4", 1, 2, 0, 0)
    assert result.tasks[3].tests == [run] and result.reverted == ()
    # the architect's decision and the option it rejected, in the run's decision graph
    graph = open_graph(project.parent / "g.duckdb")
    nodes = graph.nodes(session=result.session_id)
    mine = nodes[(nodes["agent_name"] == "architect-1") & nodes["node_type"].isin(["decision", "option"])]
    assert sorted(zip(mine["node_type"], mine["title"], strict=True)) == [
        ("decision", "fix add in place"),
        ("option", "rewrite calc with operator.add"),
    ]
    edges = graph.edges(session=result.session_id, edge_type="rejected")
    decision = int(mine[mine["node_type"] == "decision"]["id"].iloc[0])
    option = int(mine[mine["node_type"] == "option"]["id"].iloc[0])
    assert [(int(a), int(b)) for a, b in zip(edges["from_node_id"], edges["to_node_id"], strict=True)] == [
        (decision, option)
    ]
    # the plan's estimate, priced with the model's (fake server, real price map) prices
    (plan,) = log.of_kind("plan_made")
    price = swarm.model.price
    want = sum(expected_usd(t["role"], price) for t in PLAN)
    assert plan.estimate_usd is not None and plan.estimate_usd == pytest.approx(want)
    assert [t.id for t in plan.tasks] == ["t1", "t2", "t3", "t4"]
    # every request is a recorded call, priced; the run's cost is their sum
    calls = every_request_recorded(server, log, project, result.session_id)
    assert all(c.error is None and c.retries == 0 and c.cost_usd is not None for c in calls)
    assert result.cost_usd == pytest.approx(sum(c.cost_usd for c in calls))
    # the lead's answer turn got the facts, and its answer is the result's text
    (answer,) = server.of("lead-answer")
    facts = answer.first
    for fact in (
        "t3 implementer (implementer-1): done",
        f"Commits (1, branch loom/{result.session_id}):",
        f"- {commit.sha[:7]} ",
        "- fix add in place (t2)",
        "- round 1 (t4, tester-1): 2 passed",
    ):
        assert fact in facts, (fact, facts)
    assert result.text == "Done, from the facts I was given:\n" + facts
    # the tools each role was offered are its role's
    (arch, *_) = server.of("architect")
    assert {"decision_log", "complete_task"} <= arch.tools and "file_edit" not in arch.tools
    assert "run_tests" in server.of("tester")[0].tools and "run_tests" not in server.of("implementer")[0].tools
    # the key went to the server only (redacted in what it kept), never into the graph file or the commits
    assert KEY.encode() not in (project.parent / "g.duckdb").read_bytes()
    assert KEY not in git(ws.path, "log", "--format=%B%n%an%n%ae") and KEY not in json.dumps(
        [r.headers for r in server.requests]
    )


# 2-3. fix rounds ---------------------------------------------------------------------------------

WRONG_THEN_RIGHT = [("a - b", "a * b"), ("a * b", "a + b + 1"), ("a + b + 1", "a + b")]
"""a * b fails test_add; a + b + 1 fails both; a + b passes."""


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_tester_sends_failures_back_twice_and_the_third_run_passes(project, provider):
    team = {**TEAM, "implementer": implementer(WRONG_THEN_RIGHT)}
    with CrewServer(PLAN, team) as server:
        result, swarm, log = await run_flow(provider, server, project)
    assert result.status == "done", result.error
    assert [r.status for r in result.tasks] == ["done"] * 4 and result.reverted == ()
    runs = log.of_kind("test_run")
    assert [(r.round, r.passed, r.failed, r.task, r.agent) for r in runs] == [
        (1, 1, 1, "t4", "tester-1"),
        (2, 0, 2, "t4", "tester-1"),
        (3, 2, 0, "t4", "tester-1"),
    ]
    assert runs[0].failing == ("tests/test_calc.py::test_add",)
    assert result.tasks[3].tests == runs
    # two asks from the tester, each answered by the implementer's turn woken by the letter
    sent = log.of_kind("message_sent")
    asks = [m for m in sent if m.message_kind == "ask"]
    replies = [m for m in sent if m.message_kind == "reply"]
    assert [(m.agent, m.to, m.task) for m in asks] == [("tester-1", "implementer-1", "t4")] * 2
    assert "tests/test_calc.py::test_add" in asks[0].text  # the failures went with the question
    assert [(m.agent, m.to, m.reply_to) for m in replies] == [
        ("implementer-1", "tester-1", asks[0].message_id),
        ("implementer-1", "tester-1", asks[1].message_id),
    ]
    letters = [t.last.text for t in server.of("implementer") if t.last.kind == "user" and len(t.items) > 1]
    assert len(letters) == 2 and all("waits for your answer" in x for x in letters)
    said = [r.text for r in server.replies if getattr(r, "text", None) and r.text.startswith("fixed again")]
    assert (
        [m.text for m in replies]
        == said
        == [
            "fixed again (edit 2): run the tests once more",
            "fixed again (edit 3): run the tests once more",
        ]
    )
    # three commits by the implementer, the worktree fixed
    assert [(c.agent, c.task) for c in swarm.workspace.commits()] == [("implementer-1", "t3")] * 3
    assert (swarm.workspace.path / "calc/__init__.py").read_text() == FIXED
    every_request_recorded(server, log, project, result.session_id)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tests_still_failing_after_the_fix_rounds_revert_the_runs_commits(project, provider):
    team = {**TEAM, "implementer": implementer(WRONG_THEN_RIGHT[:2])}
    with CrewServer(PLAN, team) as server:
        result, swarm, log = await run_flow(provider, server, project, fix_rounds=1)
    assert "Fix rounds allowed: 1." in server.of("tester")[0].first
    runs = log.of_kind("test_run")
    assert [(r.round, r.failed) for r in runs] == [(1, 1), (2, 2)]  # one fix round, then it gave up
    assert len([m for m in log.of_kind("message_sent") if m.message_kind == "ask"]) == 1
    ws = swarm.workspace
    edits = [c for c in ws.commits() if c.agent == "implementer-1"]
    assert len(edits) == 2
    assert sorted(result.reverted) == sorted(c.sha for c in edits)
    assert (ws.path / "calc/__init__.py").read_text() == BUGGY  # back to the original
    assert git(ws.path, "status", "--porcelain") == ""
    reverts = [c for c in ws.commits() if c.message.startswith("Revert ")]
    assert len(reverts) == 2
    # the lead was told, and its answer (the result's text) says so
    facts = server.of("lead-answer")[0].first
    assert "The tests still failed (or an outcome was denied): 2 commits reverted" in facts
    assert "2 commits reverted" in result.text and result.status == "done"
    every_request_recorded(server, log, project, result.session_id)


# 4. crashes ----------------------------------------------------------------------------------------

RESTARTED = "(You were restarted after a crash"


def crashes_until_restarted(then: Any) -> Any:
    """The server answers 500 (retried by the SDK, then a crash) until the agent is a restarted one."""

    def act(turn: Turn) -> Any:
        if RESTARTED not in turn.first:
            return Fault.server_error(500, retry_after=0.01)
        return then(turn)

    return act


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_implementer_crashed_by_server_errors_is_restarted_and_completes(project, provider):
    team = {**TEAM, "implementer": crashes_until_restarted(implementer([("a - b", "a + b")]))}
    with CrewServer(PLAN, team) as server:
        result, swarm, log = await run_flow(provider, server, project)
    assert result.status == "done", result.error
    assert [r.status for r in result.tasks] == ["done"] * 4
    spawns = [(e.agent, e.restart, e.task) for e in log.of_kind("agent_spawned") if e.role == "implementer"]
    assert spawns == [("implementer-1", False, "t3"), ("implementer-1", True, "t3")]
    (crashed,) = [e for e in log.of_kind("agent_status") if e.status == "crashed"]
    assert crashed.agent == "implementer-1" and "500" in crashed.reason
    # the failed call is recorded once, with the SDK's retries; the server saw each of them
    (failed,) = [c for c in log.of_kind("llm_call") if c.error is not None]
    assert failed.agent == "implementer-1" and failed.retries == 4 and failed.cost_usd is None
    errors = [r for r in server.replies if not hasattr(r, "text")]
    assert len(errors) == 1 + failed.retries
    every_request_recorded(server, log, project, result.session_id)
    assert (swarm.workspace.path / "calc/__init__.py").read_text() == FIXED
    assert [r.passed for r in log.of_kind("test_run")] == [2]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_malformed_tool_call_is_sent_back_as_an_error_not_a_crash(project, provider):
    fix = implementer([("a - b", "a + b")])

    def garbles_first(turn: Turn) -> Any:
        if len(turn.items) == 1:  # its first request: a tool call whose JSON is cut off
            return Reply(tool_calls=[("file_edit", {})], raw_arguments='{"path": "calc/__init__.py", "old": ')
        return fix(turn)

    with CrewServer(PLAN, {**TEAM, "implementer": garbles_first}) as server:
        result, swarm, log = await run_flow(provider, server, project)
    assert result.status == "done", result.error
    assert [e.restart for e in log.of_kind("agent_spawned") if e.agent == "implementer-1"] == [False]
    assert not [e for e in log.of_kind("agent_status") if e.status == "crashed"]
    refused = [e for e in log.of_kind("tool_call") if e.agent == "implementer-1" and e.outcome == "error"]
    assert len(refused) == 1 and refused[0].error.startswith("file_edit was not run: arguments are not")
    told = server.of("implementer")[1].results("file_edit")
    assert told == [refused[0].error]  # the model read why, and sent the edit again
    assert (swarm.workspace.path / "calc/__init__.py").read_text() == FIXED
    every_request_recorded(server, log, project, result.session_id)


def revise_with_a_new_implementer(turn: Turn) -> str:
    return json.dumps(
        {
            "tasks": [
                {
                    "id": "t5",
                    "role": "implementer",
                    "title": "fix add, again",
                    "prompt": "Fix calc.add as decided (the first implementer crashed).",
                    "deps": [{"task": "t2", "kind": "requires_output"}],
                },
                {
                    "id": "t6",
                    "role": "tester",
                    "title": "run the tests",
                    "prompt": "Run the tests.",
                    "deps": [{"task": "t5", "kind": "requires_output"}],
                },
            ]
        }
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_implementer_crashing_past_its_restarts_fails_and_the_lead_revises_the_plan(project, provider):
    team = {**TEAM, "t3": lambda turn: Fault.error(400)}  # every call of t3's agent is refused
    with CrewServer(PLAN, team, revise=revise_with_a_new_implementer) as server:
        result, swarm, log = await run_flow(provider, server, project)
    max_restarts = swarm.book["implementer"].max_restarts
    statuses = [(r.task.id, r.status, r.agent) for r in result.tasks]
    assert statuses == [
        ("t1", "done", "researcher-1"),
        ("t2", "done", "architect-1"),
        ("t3", "failed", "implementer-1"),
        ("t4", "skipped", ""),
        ("t5", "done", "implementer-2"),
        ("t6", "done", "tester-1"),
    ]
    t3 = result.tasks[2]
    assert t3.error.startswith(
        f"implementer-1 crashed {max_restarts + 1} times (role implementer allows {max_restarts} restarts); last: "
    )
    starts = [e.restart for e in log.of_kind("agent_spawned") if e.agent == "implementer-1"]
    assert starts == [False] + [True] * max_restarts
    # the lead's revise turn named the failure; its revised plan ran
    (revise,) = server.of("lead-revise")
    asked = revise.last.text
    assert asked.startswith("Task t3 (implementer, agent implementer-1) ended failed.")
    assert f"crashed {max_restarts + 1} times" in asked and "- t4 [skipped] tester:" in asked
    plans = log.of_kind("plan_made")
    assert [(p.revision, p.reason) for p in plans] == [(0, ""), (1, "t3 failed")]
    assert [t.id for t in plans[1].tasks] == ["t5", "t6"]
    (commit,) = swarm.workspace.commits()
    assert (commit.agent, commit.task) == ("implementer-2", "t5")
    assert [(r.task, r.passed) for r in log.of_kind("test_run")] == [("t6", 2)]
    assert result.status == "done", result.error
    every_request_recorded(server, log, project, result.session_id)


# 5. the run's budget ------------------------------------------------------------------------------


def reads_forever(turn: Turn) -> Any:
    return call("file_read", path="calc/__init__.py")


@pytest.mark.parametrize("provider, budget", [("anthropic", 0.2), ("litellm", 0.5)])
async def test_a_budget_reached_mid_plan_sends_nothing_past_the_cap_and_warns_the_live_agents(
    project, provider, budget
):
    team = {**TEAM, "implementer": reads_forever}  # it would go on to its iteration limit
    with CrewServer(PLAN, team, output_tokens=2000) as server:
        result, swarm, log = await run_flow(provider, server, project, budget_usd=budget)
    assert result.status == "cancelled" and result.error.startswith("budget reached:"), result.error
    assert [(r.task.id, r.status) for r in result.tasks] == [
        ("t1", "done"),
        ("t2", "done"),
        ("t3", "cancelled"),
        ("t4", "cancelled"),
    ]
    assert len(server.of("implementer")) > 2  # the cap came mid-task, not before it
    # nothing sent past the cap: every request is a recorded, priced call, and they add up to at most it
    calls = every_request_recorded(server, log, project, result.session_id)
    assert len(calls) == len(server.requests) and all(c.error is None for c in calls)
    assert result.cost_usd == pytest.approx(sum(c.cost_usd for c in calls)) and result.cost_usd <= budget
    assert swarm.budget.spent_usd == pytest.approx(result.cost_usd)
    # the 80 % warning went to the live agents as one urgent broadcast
    (warning,) = log.of_kind("budget_warning")
    assert warning.share >= 0.8 and warning.limit_usd == budget
    urgent = [m for m in log.of_kind("message_sent") if m.urgent]
    assert [(m.agent, m.to) for m in urgent] == [("lead", "*")]
    assert urgent[0].text.startswith(f"urgent: {warning.message}")
    assert any(urgent[0].text in i.text for t in server.turns for i in t.items if i.kind == "user")
    # the interrupt cut the implementer's tool call short; it did not end (and restart) the implementer
    spawns = [(e.agent, e.restart) for e in log.of_kind("agent_spawned") if e.role == "implementer"]
    assert spawns == [("implementer-1", False)]
    # every agent that started ended with a status
    last: dict[str, str] = {}
    for e in log.of_kind("agent_status"):
        last[e.agent] = e.status
    spawned = {e.agent for e in log.of_kind("agent_spawned")}
    assert spawned == {"lead", "researcher-1", "architect-1", "implementer-1"}
    assert {a: last[a] in ENDED_STATUSES for a in spawned} == dict.fromkeys(spawned, True), last


# 6. approve-outcomes ------------------------------------------------------------------------------

COMMENTED = ("def add(a, b):", "def add(a, b):  # adds two numbers")
TWO_WRITERS = [
    {"id": "t1", "role": "implementer", "title": "fix add", "prompt": "Fix calc.add."},
    {"id": "t2", "role": "implementer", "title": "comment add", "prompt": "Comment calc.add.", "deps": ["t1"]},
]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_outcomes_are_approved_once_per_writing_task_from_another_thread_and_a_denied_one_is_reverted(
    project, provider
):
    team = {"t1": implementer([("a - b", "a + b")]), "t2": implementer([COMMENTED])}
    asked: list[Any] = []
    both_pending = threading.Event()
    answered: list[Any] = []

    with CrewServer(TWO_WRITERS, team) as server:
        model = build(provider, server)
        swarm = Swarm(
            INTENT,
            project=project,
            model=model,
            weak=model,
            strong=model,
            db=project.parent / "g.duckdb",
            preset="strict",
            approve_outcomes=True,
        )
        log = EventLog(swarm.bus)
        queue = swarm.gate.queue

        def on_request(request: Any, answer: Any) -> None:
            if answer is None:
                asked.append(request)
                if len(queue.pending()) == 2:
                    both_pending.set()

        queue.subscribe(on_request)

        def human() -> None:  # another thread, as a widget's callback or %loom approve would be
            if not both_pending.wait(30):
                return
            for request in queue.pending():
                action = "allow" if request.arguments["task"] == "t1" else "deny"
                answered.append(queue.answer(request.id, action, message=f"{action} {request.arguments['task']}"))

        thread = threading.Thread(target=human, name="the-human")
        thread.start()
        try:
            result = await asyncio.wait_for(swarm.run(), 60)
        finally:
            both_pending.set()  # the thread ends whatever happened
            thread.join(30)
            await model.aclose()
    assert result.status == "done", result.error
    # the edits were not asked; one outcome approval per writing task, shown together, with its diff
    assert [(r.tool, r.arguments["task"], r.agent) for r in asked] == [
        ("task_outcome", "t1", "implementer-1"),
        ("task_outcome", "t2", "implementer-2"),
    ]
    assert [a.action for a in answered] == ["allow", "deny"]
    t1_ask, t2_ask = asked
    assert "-    return a - b\n+    return a + b" in t1_ask.preview and "# adds" not in t1_ask.preview
    assert "+def add(a, b):  # adds two numbers" in t2_ask.preview
    assert t1_ask.arguments["files"] == ["calc/__init__.py"] and t1_ask.arguments["lines"] == "+1 -1"
    # the denied task's commit is reverted; the allowed one stays
    ws = swarm.workspace
    edits = {c.task: c for c in ws.commits() if c.agent}
    assert result.reverted == (edits["t2"].sha,)
    assert [(r.task.id, r.outcome) for r in result.tasks] == [("t1", "allow"), ("t2", "deny")]
    assert (ws.path / "calc/__init__.py").read_text() == FIXED
    facts = server.of("lead-answer")[0].first
    assert "an outcome was denied): 1 commit reverted" in facts and result.text.endswith(facts)
    # the human's answers are decisions of the run, linked to the tasks they settled
    nodes = open_graph(project.parent / "g.duckdb").nodes(session=result.session_id, node_type="decision")
    outcomes = nodes[[m.get("tool") == "task_outcome" for m in nodes["metadata"]]]
    assert sorted(zip(outcomes["agent_name"], [m["decision"] for m in outcomes["metadata"]], strict=True)) == [
        ("implementer-1", "allow"),
        ("implementer-2", "deny"),
    ]
    every_request_recorded(server, log, project, result.session_id)
