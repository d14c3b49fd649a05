"""The crew running a plan, with scripted models: the lead's model answers the plan JSON (and KEEP
or a revision), the specialists' models call complete_task. Outputs reach dependents, max_agents
holds, empty completions are sent back once, crashes restart per role, budgets per role / task /
agent stop calls before they cross, and the spawn estimate is made from priced models."""

import asyncio
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest

from loom_nb.events import EventLog
from loom_nb.models import Price, Response, ScriptedModel, TextPart, Usage, tool_call
from loom_nb.swarm import Completion, Dep, Role, Swarm, Task, roles
from loom_nb.swarm._crew import NOT_COMPLETE
from loom_nb.swarm._estimate import DEFAULT_TOKENS, OUTPUT_SHARE
from loom_nb.swarm._team import Desk, complete_task
from loom_nb.tools import Scope, ToolContext, ToolError
from tests.gitrepo import git, git_project

Step = Any
Behaviour = Callable[[int, list], Step]
"""(turn, messages) -> the specialist's step for that turn (0 = its first)."""


def completes(summary: str, **fields: Any) -> Behaviour:
    def act(turn: int, messages: list) -> Step:
        return tool_call("complete_task", summary=summary, **fields) if turn == 0 else "done"

    return act


class Team:
    """One scripted model for every tier: the lead (no tools) plans with `plan`, answers a revise
    turn with `revise(prompt)`, then answers; each specialist follows the behaviour of its task id."""

    def __init__(
        self,
        plan: list[dict],
        behaviours: dict[str, Behaviour],
        *,
        revise: Callable[[str], str] = lambda prompt: "KEEP",
        latency: float = 0.0,
        price: Price | None = Price(0.0, 0.0),
        cost: float | None = None,
    ) -> None:
        self.plan = plan
        self.behaviours = behaviours
        self.revise = revise
        self.latency = latency
        self.cost = cost
        self.lead_prompts: list[str] = []
        self.requests: list[tuple[str, list]] = []
        """(task id, messages) of every specialist request, in order."""
        self.in_flight = self.peak = 0
        self.model = ScriptedModel(self._answer, name="scripted:team", price=price)

    async def _answer(self, messages, tools) -> Step:
        if not tools:  # the lead
            last = messages[-1].text
            self.lead_prompts.append(last)
            if len(self.lead_prompts) == 1:
                return json.dumps({"tasks": self.plan})
            if last.startswith("Task ") and " ended " in last:
                return self.revise(last)
            return "the answer"
        task = messages[0].text.split()[1]
        self.requests.append((task, list(messages)))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)  # a model's think time, so that agents overlap
            step = self.behaviours[task](sum(1 for m in messages if m.role == "assistant"), messages)
        finally:
            self.in_flight -= 1
        if self.cost is not None and not isinstance(step, BaseException):
            parts = (TextPart(text=step),) if isinstance(step, str) else (step,)
            return Response(
                parts=parts, usage=Usage(input_tokens=10, output_tokens=4000), model="scripted:team", cost_usd=self.cost
            )
        return step

    def of(self, task: str) -> list[list]:
        return [m for t, m in self.requests if t == task]


def swarm_of(team: Team, project: Path, **kw: Any) -> Swarm:
    kw.setdefault("record", False)
    return Swarm("change the code", project=project, model=team.model, strong=team.model, weak=team.model, **kw)


def task(id: str, role: str, prompt: str = "", **deps: str) -> dict:
    return {
        "id": id,
        "role": role,
        "prompt": prompt or f"work on {id}",
        "deps": [{"task": t, "kind": k} for k, t in deps.items()],
    }


@pytest.fixture
def project(tmp_path) -> Path:
    return git_project(tmp_path / "p", {"a.py": "x = 1\n", "tests/test_a.py": "def test_a():\n    assert True\n"})


# outputs, concurrency, completions -------------------------------------------------------------


async def test_dependents_get_their_predecessors_outputs(project):
    team = Team(
        [
            task("t1", "architect", "decide how"),
            {**task("t2", "reviewer", "review the decision"), "deps": [{"task": "t1", "kind": "requires_output"}]},
            {**task("t3", "reviewer", "review after it"), "deps": ["t1"]},
        ],
        {
            "t1": completes("use a dict", decisions=["keep the API"], open_questions=[]),
            "t2": completes("looks right"),
            "t3": completes("fine"),
        },
    )
    swarm = swarm_of(team, project)
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "done", result.error
    assert [(r.task.id, r.status, r.agent) for r in result.tasks] == [
        ("t1", "done", "architect-1"),
        ("t2", "done", "reviewer-1"),
        ("t3", "done", "reviewer-2"),
    ]
    (t2_first, *_), (t3_first, *_) = team.of("t2")[0], team.of("t3")[0]
    assert t2_first.text == (
        "Task t2 (reviewer): review the decision\n\n"
        "Output of t1 (architect, agent architect-1):\nuse a dict\nDecision: keep the API"
    )
    assert t3_first.text == "Task t3 (reviewer): review after it"  # blocks: waits, gets nothing
    # t2 and t3 started only once t1 was done
    statuses = [(e.task, e.status) for e in log.of_kind("task_status")]
    assert statuses.index(("t1", "done")) < statuses.index(("t2", "running"))
    assert statuses.index(("t1", "done")) < statuses.index(("t3", "running"))
    done = {e.task: e for e in log.of_kind("task_status") if e.status == "done"}
    assert done["t1"].summary == "use a dict" and done["t1"].decisions == ("keep the API",)


async def test_max_agents_holds_however_many_tasks_are_ready(project):
    plan = [task(f"t{i}", "reviewer") for i in range(1, 6)]
    team = Team(plan, {f"t{i}": completes(f"review {i}") for i in range(1, 6)}, latency=0.02)
    result = await swarm_of(team, project, max_agents=2, max_tasks=5).run()
    assert result.status == "done", result.error
    assert [r.status for r in result.tasks] == ["done"] * 5
    assert team.peak == 2


async def test_an_empty_completion_is_sent_back_once_then_the_last_text_is_used(project):
    team = Team(
        [task("t1", "reviewer"), task("t2", "reviewer")],
        {
            "t1": lambda turn, messages: ["I looked around.", "Still nothing to report."][turn],
            "t2": lambda turn, messages: ["Hmm.", tool_call("complete_task", summary="found it"), "ok"][turn],
        },
    )
    result = await swarm_of(team, project).run()
    assert result.status == "done", result.error
    t1, t2 = result.tasks
    assert [m[-1].text for m in team.of("t1")] == ["Task t1 (reviewer): work on t1", NOT_COMPLETE]  # two turns only
    assert t1.completion.summary == "Still nothing to report."
    assert t1.completion.open_questions == ("the agent did not call complete_task; this summary is its last answer",)
    assert t2.completion.summary == "found it" and t2.completion.open_questions == ()
    assert team.of("t2")[1][-1].text == NOT_COMPLETE


async def test_a_revision_does_not_start_a_queued_task_twice_and_uses_its_new_prompt(project):
    """max_agents=1: t2 and t3 are ready but queued when t1's open question makes the lead revise them."""
    revised = {"tasks": [task("t2", "reviewer", "work on t2, better"), task("t3", "reviewer")]}
    team = Team(
        [task("t1", "reviewer"), task("t2", "reviewer"), task("t3", "reviewer")],
        {
            "t1": completes("half done", open_questions=["which module?"]),
            "t2": completes("t2 done"),
            "t3": completes("t3 done"),
        },
        revise=lambda prompt: json.dumps(revised),
    )
    swarm = swarm_of(team, project, max_agents=1)
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "done", result.error
    assert [(r.task.id, r.status) for r in result.tasks] == [("t1", "done"), ("t2", "done"), ("t3", "done")]
    assert Counter(e.task for e in log.of_kind("agent_spawned") if e.task) == {"t1": 1, "t2": 1, "t3": 1}
    assert [m[0].text for m in team.of("t2")] == ["Task t2 (reviewer): work on t2, better"] * 2  # its two turns
    assert [p.revision for p in log.of_kind("plan_made")] == [0, 1]


# crashes ---------------------------------------------------------------------------------------


def crashes(times: int, then: Behaviour) -> Behaviour:
    count = 0

    def act(turn: int, messages: list) -> Step:
        nonlocal count
        if count < times:
            count += 1
            raise RuntimeError(f"boom {count}")
        return then(turn, messages)

    return act


async def test_an_implementer_that_crashes_once_is_restarted_on_its_task(project):
    team = Team([task("t1", "implementer", "edit a.py")], {"t1": crashes(1, completes("edited"))})
    swarm = swarm_of(team, project)
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "done", result.error
    (t1,) = result.tasks
    assert (t1.status, t1.completion.summary, t1.agent) == ("done", "edited", "implementer-1")
    spawns = [(e.agent, e.restart, e.task) for e in log.of_kind("agent_spawned") if e.role == "implementer"]
    assert spawns == [("implementer-1", False, "t1"), ("implementer-1", True, "t1")]
    first, again = team.of("t1")[0], team.of("t1")[1]
    assert first[0].text == "Task t1 (implementer): edit a.py"
    assert again[0].text.endswith("(You were restarted after a crash: check what is already done before redoing it.)")
    crashed = [e for e in log.of_kind("agent_status") if e.agent == "implementer-1" and e.status == "crashed"]
    assert [e.reason for e in crashed] == ["RuntimeError: boom 1"]


async def test_an_implementer_that_always_crashes_fails_its_task_and_the_lead_is_asked(project):
    team = Team(
        [task("t1", "implementer", "edit a.py"), {**task("t2", "reviewer"), "deps": ["t1"]}, task("t3", "reviewer")],
        {"t1": crashes(99, completes("never")), "t2": completes("never"), "t3": completes("reviewed")},
    )
    swarm = swarm_of(team, project)
    log = EventLog(swarm.bus)
    result = await swarm.run()
    max_restarts = roles["implementer"].max_restarts
    assert len(team.of("t1")) == max_restarts + 1  # the first start and each restart the role allows
    t1, t2, t3 = result.tasks
    assert t1.status == "failed"
    assert t1.error == (
        f"implementer-1 crashed {max_restarts + 1} times (role implementer allows {max_restarts} restarts); "
        f"last: RuntimeError: boom {max_restarts + 1}"
    )
    assert (t2.status, t2.error, t2.agent) == ("skipped", "waited on t1, which failed", "")
    assert t3.status == "done" and team.of("t2") == []
    revise = [p for p in team.lead_prompts if p.startswith("Task t1 ")]
    assert len(revise) == 1 and revise[0].startswith("Task t1 (implementer, agent implementer-1) ended failed.")
    assert "- t2 [skipped] reviewer:" in revise[0]
    assert {(e.task, e.status) for e in log.of_kind("task_status")} >= {("t1", "failed"), ("t2", "skipped")}


# budgets ---------------------------------------------------------------------------------------

CAP = 0.013
"""Each architect call costs $0.004 and reserves at most $0.004096 (4,096 output tokens at $1e-6,
input free): three calls fit ($0.012, past 80 %: a warning), the fourth could cross the cap."""


@pytest.mark.parametrize("kind", ["role", "task", "agent"])
async def test_a_budget_per_role_task_or_agent_stops_the_call_that_could_cross_it(project, kind):
    book = roles.copy()
    options: dict[str, Any] = {}
    if kind == "role":
        options["role_budgets"] = {"architect": CAP}
        name = "role architect"
    elif kind == "task":
        options["task_budget_usd"] = CAP
        name = "task t1"
    else:
        book.define(replace(book["architect"], budget_usd=CAP))
        name = "agent architect-1"
    team = Team(
        [task("t1", "architect"), {**task("t2", "architect"), "deps": ["t1"]}, task("t3", "reviewer")],
        {
            "t1": lambda turn, messages: tool_call("file_read", path="a.py"),  # never done
            "t2": completes("never"),
            "t3": completes("reviewed"),
        },
    )
    priced = Team(team.plan, team.behaviours, price=Price(0.0, 1e-6), cost=0.004)
    priced.requests, priced.lead_prompts = team.requests, team.lead_prompts
    swarm = Swarm(
        "change the code",
        project=project,
        model=team.model,  # the lead and the reviewer: $0
        strong=priced.model,  # the architect
        record=False,
        roles=book,
        **options,
    )
    log = EventLog(swarm.bus)
    result = await swarm.run()
    calls = [e for e in log.of_kind("llm_call") if e.agent == "architect-1"]
    assert len(team.of("t1")) == 3 and len(calls) == 3  # nothing sent past the cap
    assert sum(e.cost_usd for e in calls) == pytest.approx(0.012) and all(e.error is None for e in calls)
    (warning,) = [e for e in log.of_kind("budget_warning") if e.budget == name]
    assert warning.agent == "architect-1" and warning.share == pytest.approx(0.012 / CAP)
    t1, t2, t3 = result.tasks
    assert t1.status == "cancelled" and t1.error.startswith(f"budget reached: the {name} budget of $0.013 has $0.0010")
    assert t1.cost_usd == pytest.approx(0.012)
    assert t2.status == "skipped"
    assert t3.status == "done"  # a task's budget ends that task, not the run
    assert result.status == "done", result.error


# the spawn estimate ----------------------------------------------------------------------------

WEAK = Price(1e-6, 5e-6)
STRONG = Price(3e-6, 15e-6)


def expected_usd(tokens: int, price: Price) -> float:
    return tokens * (1 - OUTPUT_SHARE) * price.input + tokens * OUTPUT_SHARE * price.output


def estimate_swarm(project: Path, db: Path, strong_price: Price | None = STRONG) -> Swarm:
    plan = [
        Task(id="t1", role="researcher", prompt="where is x set?"),
        Task(id="t2", role="architect", prompt="decide", deps=(Dep(task="t1"),)),
    ]
    return Swarm(
        "change x",
        project=project,
        model=ScriptedModel(["the answer"]),
        weak=ScriptedModel(lambda m, t: "x is set in a.py:1", price=WEAK),
        strong=ScriptedModel(
            lambda m, t: tool_call("complete_task", summary="decided") if len(m) == 1 else "ok", price=strong_price
        ),
        plan=plan,
        db=db,
    )


async def test_the_estimate_from_default_priors_and_priced_models(project, tmp_path):
    swarm = estimate_swarm(project, tmp_path / "g.duckdb")
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "done", result.error
    (plan,) = log.of_kind("plan_made")
    want = expected_usd(DEFAULT_TOKENS["researcher"], WEAK) + expected_usd(DEFAULT_TOKENS["architect"], STRONG)
    assert plan.estimate_usd == pytest.approx(want) and result.estimate_usd == pytest.approx(want)
    assert plan.estimate_tokens == DEFAULT_TOKENS["researcher"] + DEFAULT_TOKENS["architect"]
    assert plan.estimate_basis == "default priors (no earlier runs of these roles recorded)"


async def test_an_unknown_price_makes_the_estimate_unknown_not_zero(project, tmp_path):
    swarm = estimate_swarm(project, tmp_path / "g.duckdb", strong_price=None)
    log = EventLog(swarm.bus)
    await swarm.run()
    (plan,) = log.of_kind("plan_made")
    assert plan.estimate_usd is None and plan.estimate_tokens > 0


async def test_the_estimate_learns_per_role_priors_from_an_earlier_run_in_the_same_file(project, tmp_path):
    db = tmp_path / "g.duckdb"
    first = await estimate_swarm(project, db).run()
    assert first.status == "done", first.error
    con = duckdb.connect(str(db))
    try:
        tokens = dict(
            con.execute(
                "SELECT agent, sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens) "
                "FROM llm_calls WHERE session_id = ? AND error IS NULL GROUP BY agent",
                [first.session_id],
            ).fetchall()
        )
    finally:
        con.close()
    second = estimate_swarm(project, db)
    log = EventLog(second.bus)
    await second.run()
    (plan,) = log.of_kind("plan_made")
    assert plan.estimate_basis == "priors from 2 tasks of 1 earlier run"
    assert plan.estimate_tokens == tokens["researcher-1"] + tokens["architect-1"]
    assert plan.estimate_usd == pytest.approx(
        expected_usd(tokens["researcher-1"], WEAK) + expected_usd(tokens["architect-1"], STRONG)
    )


async def test_a_specialist_that_crashed_for_good_is_not_offered_as_the_one_to_ask(project):
    """A refused tool names the role that has it; "ask NAME" only for an agent that is still reachable."""
    book = roles.copy()
    book.define(
        Role(name="scout", description="looks", system_prompt="You look.", tools=("file_read", "complete_task"))
    )
    refusals: list[str] = []

    def scout(turn: int, messages: list) -> Step:
        if turn == 0:
            return tool_call("decision_log", node_type="decision", title="use a dict")
        if turn == 1:
            refusals.append(messages[-1].parts[0].content)
            return tool_call("complete_task", summary="could not log it")
        return "ok"

    team = Team([task("t1", "implementer"), task("t2", "scout")], {"t1": crashes(99, completes("never")), "t2": scout})
    result = await swarm_of(team, project, max_agents=1, roles=book).run()
    assert [r.status for r in result.tasks] == ["failed", "done"]
    assert refusals == [
        "tool 'decision_log' is not available to this agent (role scout); it may use only complete_task, "
        "file_read. Nothing was run. Role architect or implementer or reviewer has it."
    ]


async def test_complete_task_records_the_report_and_refuses_what_is_not_one(tmp_path):
    desk = Desk(task_id="t1", role="implementer")
    ctx = ToolContext(scope=Scope(tmp_path), project=tmp_path, session_id="s", team=desk)
    out = await complete_task(
        {
            "summary": " renamed it ",
            "files_changed": ["a.py", " "],
            "decisions": ["keep the API"],
            "test_results": "3 passed",
        },
        ctx,
    )
    assert out == "Task t1 is recorded as complete. End your turn now with a one-line final answer."
    done = Completion(
        summary="renamed it", files_changed=("a.py",), decisions=("keep the API",), test_results="3 passed"
    )
    assert desk.completion == done
    assert done.text() == "renamed it\nFiles changed: a.py\nDecision: keep the API\nTests: 3 passed"
    for bad, message in [
        ({"summary": "  "}, "complete_task needs a summary"),
        ({"summary": "x", "files_changed": "a.py"}, "complete_task: files_changed must be array; got str"),
        ({"summary": 3}, "complete_task: summary must be string; got int"),
        ({"summary": "x", "decisions": [1]}, "complete_task: decisions must be a list of strings"),
    ]:
        with pytest.raises(ToolError, match=re.escape(message)):
            await complete_task(bad, ctx)
        assert desk.completion == done  # a refused report changes nothing recorded
    outside = ToolContext(scope=Scope(tmp_path), project=tmp_path, session_id="s")
    with pytest.raises(ToolError, match="complete_task ends a task of a plan; this agent has no task"):
        await complete_task({"summary": "x"}, outside)


def unanswered_tool_calls(messages: list) -> list[str]:
    """Ids of tool calls not answered by a tool result in the next message (providers refuse such
    a conversation: Anthropic answers HTTP 400 "tool_use ids were found without tool_result blocks")."""
    missing = []
    for i, m in enumerate(messages):
        if m.role == "assistant" and m.tool_calls:
            answered = {p.tool_call_id for p in messages[i + 1].tool_results} if i + 1 < len(messages) else set()
            missing += [c.id for c in m.tool_calls if c.id not in answered]
    return missing


async def test_a_completion_asked_after_the_iteration_limit_sends_a_valid_conversation(project):
    book = roles.copy()
    book.define(
        Role(
            name="scout",
            description="looks",
            system_prompt="You look.",
            tools=("file_read", "complete_task"),
            max_iterations=2,
        )
    )

    def scout(turn: int, messages: list) -> Step:
        if messages[-1].text == NOT_COMPLETE:
            return tool_call("complete_task", summary="read a.py")
        if (
            messages[-1].role == "user"
            and messages[-1].tool_results
            and messages[-1].tool_results[0].name == ("complete_task")
        ):
            return "ok"
        return tool_call("file_read", path="a.py")  # a model that ignores tool_choice=none on its last turn

    team = Team([task("t1", "scout")], {"t1": scout})
    result = await swarm_of(team, project, roles=book).run()
    assert result.tasks[0].completion.summary == "read a.py"
    assert [unanswered_tool_calls(m) for m in team.of("t1")] == [[]] * len(team.of("t1"))


async def test_a_random_plan_runs_every_task_once_in_dependency_order(project):
    """40 tasks, ~3 dependencies each of mixed kinds, one task that always crashes: each task that can
    run runs once, after what it waits on, with the outputs it requires; what waits on the crash is skipped."""
    rng = random.Random(10)
    kinds = ["blocks", "requires_output", "informs"]
    plan = []
    for i in range(40):
        deps = [{"task": f"t{j}", "kind": rng.choice(kinds)} for j in rng.sample(range(i), min(i, 3))]
        plan.append({"id": f"t{i}", "role": "reviewer", "prompt": f"work on t{i}", "deps": deps})
    rng.shuffle(plan)
    behaviours: dict[str, Behaviour] = {f"t{i}": completes(f"out-{i}") for i in range(40)}
    behaviours["t5"] = crashes(99, completes("never"))
    team = Team(plan, behaviours, latency=0.001)
    swarm = swarm_of(team, project, max_agents=4, max_tasks=40, revise=False)
    log = EventLog(swarm.bus)
    result = await swarm.run()
    waits = {p["id"]: [d["task"] for d in p["deps"] if d["kind"] != "informs"] for p in plan}
    doomed = {"t5"}
    for i in range(40):  # ids grow along the dependencies: one pass in id order finds all that wait on t5
        if any(w in doomed for w in waits[f"t{i}"]):
            doomed.add(f"t{i}")
    status = {r.task.id: r.status for r in result.tasks}
    assert status == {f"t{i}": "failed" if i == 5 else "skipped" if f"t{i}" in doomed else "done" for i in range(40)}
    assert len(doomed) > 3  # the seed makes the crash matter
    assert team.peak <= 4
    spawned = Counter(e.task for e in log.of_kind("agent_spawned") if e.task and not e.restart)
    assert spawned == Counter({t: 1 for t, s in status.items() if s != "skipped"})
    order = [(e.task, e.status) for e in log.of_kind("task_status")]
    for p in plan:
        if status[p["id"]] != "done":
            continue
        started = order.index((p["id"], "running"))
        first = next(m for t, m in team.requests if t == p["id"])[0].text
        for d in p["deps"]:
            if d["kind"] != "informs":
                assert order.index((d["task"], "done")) < started
            if d["kind"] == "requires_output":
                said = rf"Output of {d['task']} \(reviewer, agent reviewer-\d+\):\nout-{d['task'][1:]}(\n|$)"
                assert re.search(said, first), (p["id"], d, first)


@pytest.mark.parametrize(
    ("scope", "written", "read"), [(None, "a.py", "a.py"), ("tests", "tests/test_a.py", "test_a.py")]
)
async def test_a_reviewer_after_the_implementer_reads_the_changed_files(project, scope, written, read):
    """The workspace holds the run's changes: a reader that comes after a writer must see them, not
    the user's checkout (which the run never touches); a run's sub-folder scope holds inside it."""
    (project / written).write_text("x = 1\nkept = True\n")
    git(project, "commit", "-qam", "x")
    seen: list[str] = []

    def review(turn: int, messages: list) -> Step:
        if turn == 0:
            return tool_call("file_read", path=read)
        if turn == 1:
            seen.append(messages[-1].parts[0].content)
            return tool_call("complete_task", summary="x is 2")
        return "ok"

    edit = [tool_call("file_edit", path=written, old="x = 1", new="x = 2"), tool_call("complete_task", summary="set x")]
    team = Team(
        [task("t1", "implementer"), {**task("t2", "reviewer"), "deps": ["t1"]}],
        {"t1": lambda turn, messages: edit[turn] if turn < 2 else "ok", "t2": review},
    )
    result = await swarm_of(team, project, preset="autonomous", scope=scope).run()
    assert [r.status for r in result.tasks] == ["done", "done"], [r.error for r in result.tasks]
    assert (project / written).read_text() == "x = 1\nkept = True\n"  # the user's checkout is untouched
    assert len(seen) == 1 and "x = 2" in seen[0] and "x = 1" not in seen[0]


async def test_a_stopped_run_leaves_no_task_pending(project):
    """Stopped while t1 works: t1 is cancelled, and so are t2 (waiting on it) and t3 (waiting for a slot)."""
    started = asyncio.Event()

    async def forever(messages, tools):
        started.set()
        await asyncio.Event().wait()

    team = Team([task("t1", "reviewer"), {**task("t2", "reviewer"), "deps": ["t1"]}, task("t3", "reviewer")], {})
    swarm = Swarm(
        "change the code", project=project, model=team.model, weak=ScriptedModel(forever), max_agents=1, record=False
    )
    swarm.book.define(replace(swarm.book["reviewer"], model="weak"))
    log = EventLog(swarm.bus)
    run = asyncio.ensure_future(swarm.run())
    await started.wait()
    swarm.stop("stop button")
    result = await run
    assert result.status == "cancelled" and result.error == "stop button"
    assert [(r.task.id, r.status, r.error) for r in result.tasks] == [
        ("t1", "cancelled", "stop button"),
        ("t2", "cancelled", "stop button"),
        ("t3", "cancelled", "stop button"),
    ]
    assert sorted((e.task, e.status) for e in log.of_kind("task_status") if e.status != "running") == [
        ("t1", "cancelled"),
        ("t2", "cancelled"),
        ("t3", "cancelled"),
    ]


async def test_commands_are_expected_only_from_a_plan_whose_roles_run_them(tmp_path):
    """The live view warns of unconfined commands (no OS sandbox) by this: a research plan runs none."""
    (tmp_path / "a.py").write_text("x = 1\n")
    research = Swarm("Where is x set in this code?", project=tmp_path, model="offline", weak="offline", record=False)
    assert research.may_run_commands  # before a plan, any role it could use
    assert (await research.run()).status == "done"
    assert not research.may_run_commands  # its plan had researchers only
    team = Swarm(
        "x",
        project=tmp_path,
        model="offline",
        weak="offline",
        record=False,
        plan=[Task(id="t1", role="tester", prompt="run the tests")],
        approve="deny",
    )
    await team.run()
    assert team.may_run_commands
