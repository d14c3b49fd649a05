"""How a run's changes are settled at its end: tests that still fail revert the run's commits; in
approve-outcomes mode a human approves each writing task's outcome (its diff, test results, the
decisions it implements, its cost) once, and a denied outcome's commits are reverted before any merge."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from ..permissions import ApprovalRequest
from ..permissions._policy import Decision
from ..workspace import WorkspaceError
from ._crew import TaskResult

if TYPE_CHECKING:
    from ._swarm import Swarm

__all__ = ["failing_tests", "last_test_run", "review_outcomes"]

OUTCOME_TOOL = "task_outcome"
PREVIEW_LIMIT = 60_000


def last_test_run(results: list[TaskResult]) -> Any:
    """The newest test run of the plan's testers (None when no tester ran the tests)."""
    runs = [t for r in results for t in r.tests]
    return max(runs, key=lambda t: t.ts) if runs else None


def failing_tests(results: list[TaskResult]) -> bool:
    """True when the last test run of the plan failed (after the fix rounds the tester had)."""
    run = last_test_run(results)
    if run is None:
        return False
    if run.exit_code is None:  # killed at its timeout: the tests did not pass (a change that loops forever)
        return True
    return bool(run.failed or run.errors or (run.exit_code != 0 and not run.passed))


async def review_outcomes(swarm: Swarm, results: list[TaskResult]) -> list[str]:
    """One approval per task that committed; returns the shas reverted because a human said no."""
    ws = swarm.workspace
    commits = await asyncio.to_thread(ws.commits)
    by_task: dict[str, list[Any]] = {}
    for c in commits:
        if c.task:
            by_task.setdefault(c.task, []).append(c)
    tests = last_test_run(results)
    decisions = [d for r in results for d in (r.completion.decisions if r.completion else ())]
    asks = []
    for r in results:
        mine = by_task.get(r.task.id)
        if not mine:
            continue
        diff = await asyncio.to_thread(_diff_of, ws, mine)
        files = sorted({f for c in mine for f in c.files})
        request = ApprovalRequest(
            id="",
            session_id=swarm.session_id,
            agent=r.agent,
            role=r.task.role,
            tool=OUTCOME_TOOL,
            arguments={
                "task": r.task.id,
                "title": r.task.title,
                "commits": [c.sha[:10] for c in mine],
                "files": files,
                "lines": f"+{sum(c.insertions for c in mine)} -{sum(c.deletions for c in mine)}",
                "tests": tests.summary if tests is not None else "no test run",
                "decisions": decisions[:10],
                "cost_usd": r.cost_usd,
            },
            cwd=str(ws.path),
            reason=r.completion.summary if r.completion else "",
            preview=diff[:PREVIEW_LIMIT],
            decision=Decision(
                action="ask",
                rule=None,
                explain="ask: approve-outcomes mode: a human approves each task's outcome before it can be merged",
                category="write",
                subject=r.task.id,
            ),
        )
        # Queued now, all of them: the human sees every outcome of the run at once (awaited one by one,
        # the second was asked only after the first was answered).
        asks.append((r, mine, asyncio.ensure_future(swarm.gate.queue.ask(request))))
    reverted: list[str] = []
    try:
        for r, mine, pending in asks:
            answer = await pending
            r.outcome = answer.action
            if answer.action != "allow":
                try:
                    reverted += await asyncio.to_thread(_revert, ws, mine)
                except WorkspaceError as exc:  # its lines were changed again later: kept, and said so
                    swarm.warn("revert_failed", f"the denied outcome of {r.task.id} was not reverted: {exc}")
    except asyncio.CancelledError:
        # A stop: what still waits is recorded denied ("the run was stopped"), so its commits go too: they
        # must not stay on the branch for a merge nobody approved.
        for _, _, pending in asks:
            pending.cancel()
        await asyncio.gather(*(p for _, _, p in asks), return_exceptions=True)
        undecided = [mine for r, mine, _ in asks if r.outcome != "allow" and mine[0].sha not in reverted]
        for mine in undecided:
            with contextlib.suppress(WorkspaceError):
                reverted += await asyncio.shield(asyncio.to_thread(_revert, ws, mine))
        swarm._reverted = reverted
        raise
    finally:
        for _, _, pending in asks:  # nothing is left waiting
            pending.cancel()
        await asyncio.gather(*(p for _, _, p in asks), return_exceptions=True)
    return reverted


def _diff_of(ws: Any, commits: list[Any]) -> str:
    return ws.show([c.sha for c in commits])


def _revert(ws: Any, commits: list[Any]) -> list[str]:
    """The task's commits reverted, newest first; on a conflict the ones already reverted are undone too
    (all or nothing: half of a task's outcome is no outcome anyone approved) and WorkspaceError raised."""
    done: list[str] = []
    head = ws._git("rev-parse", "HEAD").stdout.strip()
    try:
        for c in reversed(commits):
            ws.revert(c.sha)
            done.append(c.sha)
    except WorkspaceError:
        if done:
            ws._git("reset", "--hard", head)
        raise
    return [c.sha for c in commits]
