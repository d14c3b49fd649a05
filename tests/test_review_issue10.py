"""Bugs found in a second reading of issue 10 (the specialist swarm), each with the test that showed it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from loom_nb.events import EventLog
from loom_nb.models import tool_call
from tests.gitrepo import git_project
from tests.swarm.test_crew import Step, Team, swarm_of, task


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return git_project(tmp_path / "p", {"a.py": "x = 1\n", "tests/test_a.py": "def test_a():\n    assert True\n"})


def _ask_id(messages: list) -> str:
    found = re.findall(r"--- (m\d+) · ask from ", messages[-1].text)
    assert found, messages[-1].text
    return found[-1]


async def test_an_ask_answered_with_send_message_is_not_answered_a_second_time(project: Path) -> None:
    """The rendered ask tells the model to answer with send_message(reply_to=...). A specialist woken by
    it that does so must not have its turn's text sent as a second reply: the asker would get a stray
    letter (and, idle, a whole extra model turn to read it)."""

    def architect(turn: int, messages: list) -> Step:
        if turn == 0:
            return tool_call("complete_task", summary="use a dict")
        if turn == 1:
            return "done"
        if turn == 2:
            return tool_call("send_message", to="reviewer-1", text="a dict, keyed by name", reply_to=_ask_id(messages))
        return "answered reviewer-1"

    def reviewer(turn: int, messages: list) -> Step:
        if turn == 0:
            return tool_call("ask", to="architect-1", question="dict or list?", timeout_s=30)
        if turn == 1:
            return tool_call("complete_task", summary="reviewed")
        return "done"

    team = Team(
        [task("t1", "architect"), {**task("t2", "reviewer"), "deps": ["t1"]}], {"t1": architect, "t2": reviewer}
    )
    swarm = swarm_of(team, project)
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "done", result.error
    [ask] = [e for e in log.of_kind("message_sent") if e.message_kind == "ask"]
    replies = [e.text for e in log.of_kind("message_sent") if e.reply_to == ask.message_id]
    assert replies == ["a dict, keyed by name"]


async def test_a_denied_outcome_that_a_later_allowed_task_built_on_leaves_no_revert_half_done(project: Path) -> None:
    """approve-outcomes: t2 rewrote the line t1 wrote; the human allows t2 and denies t1. Reverting t1's
    commit alone conflicts: the run must not fail with the worktree left mid-revert (conflict markers in
    a.py, a revert in progress that breaks the next merge)."""
    import asyncio
    import threading

    def writer(content: str) -> Any:
        def act(turn: int, messages: list) -> Step:
            if turn == 0:
                return tool_call("file_write", path="a.py", content=content)
            if turn == 1:
                return tool_call("complete_task", summary=f"wrote {content.strip()}", files_changed=["a.py"])
            return "done"

        return act

    team = Team(
        [task("t1", "implementer"), {**task("t2", "implementer"), "deps": ["t1"]}],
        {"t1": writer("x = 2\n"), "t2": writer("x = 3\n")},
    )
    swarm = swarm_of(team, project, approve_outcomes=True)
    log = EventLog(swarm.bus)
    queue = swarm.gate.queue
    both = threading.Event()
    queue.subscribe(lambda request, answer: both.set() if answer is None and len(queue.pending()) == 2 else None)

    def human() -> None:
        if both.wait(30):
            for request in queue.pending():
                queue.answer(request.id, "deny" if request.arguments["task"] == "t1" else "allow")

    thread = threading.Thread(target=human)
    thread.start()
    try:
        result = await asyncio.wait_for(swarm.run(), 60)
    finally:
        both.set()
        thread.join(30)
    ws = swarm.workspace
    assert "<<<<<<<" not in (ws.path / "a.py").read_text()
    assert git_ok(ws.path, "rev-parse", "-q", "--verify", "REVERT_HEAD") is False
    assert result.status == "done", result.error
    assert (ws.path / "a.py").read_text() == "x = 3\n" and result.reverted == ()
    [warning] = [e for e in log.of_kind("warning") if e.code == "revert_failed"]
    assert "t1 was not reverted" in warning.message and "%loom undo" in warning.message


def git_ok(cwd: Path, *args: str) -> bool:
    import subprocess

    return subprocess.run(["git", *args], cwd=cwd, capture_output=True).returncode == 0


async def test_a_revised_task_waiting_on_a_task_that_failed_ends_skipped_not_pending_forever(project: Path) -> None:
    """The lead's revision may add a task that waits on one that already failed (check_plan accepts any
    known id): the scheduler skips it at once, and the crew must say so (a TaskStatus, a result that
    is not left 'pending' after the run has ended)."""
    import json

    from tests.swarm.test_crew import crashes

    def revise(prompt: str) -> str:
        if prompt.startswith("Task t1 "):
            return json.dumps({"tasks": [{"id": "t3", "role": "reviewer", "prompt": "review t1", "deps": ["t1"]}]})
        return "KEEP"

    team = Team(
        [task("t1", "implementer", "edit a.py"), task("t2", "reviewer")],
        {"t1": crashes(99, lambda turn, messages: "never"), "t2": lambda turn, m: "x", "t3": lambda turn, m: "x"},
        revise=revise,
    )
    swarm = swarm_of(team, project, max_agents=1)
    log = EventLog(swarm.bus)
    result = await swarm.run()
    statuses = {r.task.id: r.status for r in result.tasks}
    assert statuses["t1"] == "failed" and statuses["t3"] == "skipped", statuses
    assert ("t3", "skipped") in {(e.task, e.status) for e in log.of_kind("task_status")}


async def test_a_letter_read_in_a_turn_that_crashed_reaches_the_restarted_specialist(project: Path) -> None:
    """A letter drained into a turn whose model call crashes is gone from the mailbox; the restarted
    incarnation starts a new conversation. It must still read the letter (a tester's failures, a
    lead's correction), as it reads the ones its predecessor left unread."""
    letter = "use the dict in a.py, not a list"
    crashed = False
    after_crash: list[bool] = []

    def implementer(turn: int, messages: list) -> Step:
        nonlocal crashed
        seen = any(letter in m.text for m in messages)
        if crashed:
            after_crash.append(seen)
            if seen or turn >= 30:
                return tool_call("complete_task", summary="done") if turn < 40 else "done"
            return tool_call("file_read", path="a.py")
        if seen:
            crashed = True
            raise RuntimeError("the model call failed")
        if turn >= 30:
            return tool_call("complete_task", summary="never got it")
        return tool_call("file_read", path="a.py")

    def reviewer(turn: int, messages: list) -> Step:
        if turn == 0:
            return tool_call("send_message", to="implementer-1", text=letter)
        if turn == 1:
            return tool_call("complete_task", summary="told it")
        return "done"

    team = Team(
        [task("t1", "implementer", "edit a.py"), task("t2", "reviewer")],
        {"t1": implementer, "t2": reviewer},
        latency=0.01,
    )
    result = await swarm_of(team, project).run()
    assert result.status == "done", result.error
    assert crashed, "the letter reached the first incarnation"
    assert any(after_crash), "the restarted implementer never read the letter its crashed turn had taken"


@pytest.mark.parametrize("kw", [{"role_budgets": {"implementer": float("nan")}}, {"task_budget_usd": float("nan")}])
def test_a_nan_budget_of_a_role_or_task_is_refused_before_the_run(project: Path, kw: dict) -> None:
    """`--role-budget implementer=nan` passed the `<= 0` check and failed every task of the role mid-run
    (Budget refuses it only when the task starts): refused up front, like the run's own budget."""
    from loom_nb.models import ScriptedModel
    from loom_nb.swarm import Swarm

    with pytest.raises(ValueError, match="must be > 0"):
        Swarm("change", project=project, model=ScriptedModel(["x"]), weak=ScriptedModel(["x"]), record=False, **kw)


def test_a_task_id_or_role_name_with_a_trailing_newline_is_refused() -> None:
    """`^...$` with re.match lets a final newline through: a model's task id "t1\\n" passed the check and
    went into prompts ("Task t1\\n (reviewer): ...") and the plan's records."""
    from loom_nb.swarm import Role, Task
    from loom_nb.swarm._plan import PlanError, check_plan
    from loom_nb.swarm._roles import RoleBook, RoleError

    with pytest.raises(PlanError, match="must be 1-32 letters"):
        check_plan([Task(id="t1\n", role="reviewer", prompt="look")], ["reviewer"], max_tasks=4)
    with pytest.raises(RoleError, match="must be lower-case"):
        RoleBook().define(Role(name="scout\n", description="looks", system_prompt="You look."))


async def test_workspace_diff_of_a_path_in_a_sub_folder_scope_names_that_file(tmp_path: Path) -> None:
    """A run scoped to src/ gives its readers (the reviewer) the worktree's src/ as their scope: a path they
    name is relative to it, and the diff must be of src/a.py, not of the repository's a.py."""
    from loom_nb.tools import Scope, ToolContext, workspace_diff
    from loom_nb.workspace import Workspace

    root = git_project(tmp_path / "p", {"a.py": "top = 1\n", "src/a.py": "inner = 1\n"})
    ws = Workspace.create(root, "sub1", background=False)
    (ws.path / "src" / "a.py").write_text("inner = 2\n")
    (ws.path / "a.py").write_text("top = 2\n")
    ws.commit(None, "two edits", agent="implementer-1", role="implementer")
    ctx = ToolContext(scope=Scope(ws.path / "src"), project=ws.path, session_id="sub1", workspace=ws)
    out = await workspace_diff({"path": "a.py"}, ctx)
    assert out.startswith("1 file changed by the run's commits: src/a.py"), out
    assert "+inner = 2" in out and "top = 2" not in out


def test_a_test_run_killed_by_its_timeout_is_a_failing_run() -> None:
    """A run killed at its timeout (an implementer's change that loops forever) has exit_code None and no
    counts: it was taken for a pass, so the run's commits were kept (not reverted) and the board showed ✓."""
    from loom_nb.events import TestRun
    from loom_nb.notebook._board import TestOutcome
    from loom_nb.swarm import Task
    from loom_nb.swarm._crew import TaskResult
    from loom_nb.swarm._outcomes import failing_tests

    killed = TestRun(
        session_id="s", agent="tester-1", command="python -m pytest -q", exit_code=None, task="t2",
        summary="killed after 30 s (timeout); the whole process group was stopped",
    )  # fmt: skip
    result = TaskResult(task=Task(id="t2", role="tester", prompt="run them"), status="done", tests=[killed])
    assert failing_tests([result])
    assert not TestOutcome(exit_code=None, summary=killed.summary).ok
    assert TestOutcome(passed=3, exit_code=0).ok


async def test_a_stop_while_outcomes_wait_for_approval_reverts_the_unapproved_ones(project: Path) -> None:
    """approve-outcomes: a stop while a task's outcome waits for its human records it denied ("the run was
    stopped"); its commits must not stay on the branch for a merge nobody approved."""
    import asyncio

    def writer(turn: int, messages: list) -> Step:
        if turn == 0:
            return tool_call("file_write", path="a.py", content="x = 2\n")
        if turn == 1:
            return tool_call("complete_task", summary="wrote x = 2", files_changed=["a.py"])
        return "done"

    team = Team([task("t1", "implementer")], {"t1": writer})
    swarm = swarm_of(team, project, approve_outcomes=True)
    queue = swarm.gate.queue
    loop = asyncio.get_running_loop()
    queue.subscribe(lambda request, answer: loop.call_soon_threadsafe(swarm.stop) if answer is None else None)
    result = await asyncio.wait_for(swarm.run(), 60)
    assert result.status == "cancelled", result.error
    ws = swarm.workspace
    [edit] = [c for c in ws.commits() if c.agent]
    assert (ws.path / "a.py").read_text() == "x = 1\n", "the unapproved outcome is still on the branch"
    assert result.reverted == (edit.sha,)


def test_a_held_workspace_is_not_discarded_or_undone_from_outside_the_run(tmp_path: Path) -> None:
    """Merge is refused while a run holds its workspace; `%loom discard` (the newest session by default:
    the running one) removed the worktree under the working agents, and `%loom undo` reverted commits
    while they kept committing. The run itself (the instance that holds it) may still undo its commits."""
    from loom_nb.workspace import Workspace, WorkspaceError

    root = git_project(tmp_path / "p", {"a.py": "x = 1\n"})
    ws = Workspace.create(root, "s-run", background=False)
    ws.hold()
    (ws.path / "a.py").write_text("x = 2\n")
    ws.commit(None, "edit", agent="implementer-1", role="implementer")
    outside = Workspace.open(root, "s-run")
    with pytest.raises(WorkspaceError, match=r"session s-run is still running .* discard once it has ended"):
        outside.discard()
    with pytest.raises(WorkspaceError, match=r"session s-run is still running .* undo once it has ended"):
        outside.undo()
    assert ws.path.is_dir() and (ws.path / "a.py").read_text() == "x = 2\n"
    assert len(ws.undo()) == 1 and (ws.path / "a.py").read_text() == "x = 1\n"  # the run's own revert
    ws.release()
    outside.discard()
    assert not ws.path.exists()


def test_the_cli_progress_of_a_revised_plan_does_not_claim_a_missing_price(capsys: pytest.CaptureFixture[str]) -> None:
    """A revision's PlanMade carries no estimate (none is made for it): `loom-nb run` printed "estimated
    unknown (a price is missing)" for every revision, sending the user to look for a price that is there."""
    from loom_nb._cli import _progress
    from loom_nb.events import PlanMade
    from loom_nb.swarm import Task

    planned = (Task(id="t3", role="reviewer", prompt="review the rename").planned(),)
    _progress(PlanMade(session_id="s", agent="lead", tasks=planned, revision=1, reason="t1 failed"))
    err = capsys.readouterr().err
    assert err.startswith("plan revised (t1 failed): 1 task(s)") and "price" not in err
    assert "  t3 reviewer: review the rename" in err


async def test_an_ask_to_the_lead_is_refused_at_once_not_waited_out(project: Path) -> None:
    """The ask tool names "lead" as an addressee, but the lead only reads its letters between its own turns
    (revising, answering) and has no tool to reply: an ask to it always waited out its whole timeout (up
    to 10 minutes of a specialist's time). It is refused at once, saying what to do instead."""
    import time

    seen: list[str] = []

    def reviewer(turn: int, messages: list) -> Step:
        if turn == 0:
            return tool_call("ask", to="lead", question="should I also review the docs?", timeout_s=3)
        if turn == 1:
            seen.append(messages[-1].parts[0].content)
            return tool_call("complete_task", summary="reviewed")
        return "done"

    team = Team([task("t1", "reviewer")], {"t1": reviewer})
    started = time.monotonic()
    result = await swarm_of(team, project).run()
    assert result.status == "done", result.error
    [said] = seen
    assert "send_message" in said and "open_questions" in said and "did not answer" not in said, said
    assert time.monotonic() - started < 3, "the ask waited out its timeout"


async def test_the_lead_cannot_re_plan_a_failing_task_forever(project: Path) -> None:
    """Each failed task asks the lead to revise; a lead that answers every failure with a new task that
    fails again re-planned without end (no budget set: no cap at all). Revisions are bounded."""
    import json

    from tests.swarm.test_crew import crashes

    revisions = 0

    def revise(prompt: str) -> str:
        nonlocal revisions
        if revisions >= 30:  # only so that the test ends on a run that never stops by itself
            return "KEEP"
        revisions += 1
        return json.dumps({"tasks": [{"id": f"r{revisions}", "role": "reviewer", "prompt": "try again"}]})

    fails = crashes(10_000, lambda turn, messages: "never")
    behaviours = {"t1": fails, **{f"r{i}": fails for i in range(1, 31)}}
    team = Team([task("t1", "reviewer")], behaviours, revise=revise)
    swarm = swarm_of(team, project, max_tasks=4)
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "done", result.error
    adopted = [e for e in log.of_kind("plan_made") if e.revision]
    assert len(adopted) <= 4, f"{len(adopted)} revisions adopted"
    assert any(e.code == "revisions_spent" for e in log.of_kind("warning"))


async def test_a_letter_to_the_lead_reaches_its_final_answer(project: Path) -> None:
    """Specialists write to the lead; what it has not read at a revision is read when it answers. The crew's
    close() closed every live name, the lead's too, which moved its unread letters out of its mailbox
    before the swarm drained it: the answer never saw them."""

    def reviewer(turn: int, messages: list) -> Step:
        if turn == 0:
            return tool_call("send_message", to="lead", text="the docs still describe the old behaviour")
        if turn == 1:
            return tool_call("complete_task", summary="reviewed")
        return "done"

    team = Team([task("t1", "reviewer")], {"t1": reviewer})
    result = await swarm_of(team, project).run()
    assert result.status == "done", result.error
    answer_prompt = team.lead_prompts[-1]
    assert "the docs still describe the old behaviour" in answer_prompt, answer_prompt[-600:]
