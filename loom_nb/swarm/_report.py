"""The facts of a coding run, as the lead's answer states them: each task with its outcome, the
commits, the decisions, the test results, and what was reverted. The offline lead answers with
these; a model lead is given them to write its answer from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._crew import TaskResult

__all__ = ["report"]


def report(intent: str, results: Sequence[TaskResult], workspace: Any, reverted: Sequence[str]) -> str:
    lines = [f"Request: {intent.strip()}", "", "Tasks:"]
    for r in results:
        cost = "" if r.cost_usd is None else f", ${r.cost_usd:.4f}"
        lines.append(f"- {r.task.id} {r.task.role} ({r.agent or 'no agent'}): {r.status}{cost}: {r.task.title}")
        if r.completion is not None and r.status == "done":
            summary = r.completion.summary.strip().splitlines()
            lines += [f"    {s}" for s in summary[:6]]
        elif r.error:
            lines.append(f"    {r.error}")
    commits = workspace.commits() if workspace is not None else []
    if commits:
        lines += ["", f"Commits ({len(commits)}, branch {workspace.branch}):"]
        for c in commits:
            lines.append(
                f"- {c.sha[:7]} {c.message.splitlines()[0]} [{c.task or '-'} {c.agent}] +{c.insertions} -{c.deletions}"
            )
    decisions = [(r.task.id, d) for r in results if r.completion is not None for d in r.completion.decisions]
    if decisions:
        lines += ["", "Decisions:"] + [f"- {d} ({t})" for t, d in decisions]
    runs = [t for r in results for t in r.tests]
    if runs:
        lines += ["", "Test runs:"]
        for t in sorted(runs, key=lambda t: t.ts):
            lines.append(f"- round {t.round} ({t.task or '-'}, {t.agent}): {t.summary or t.command}")
            lines += [f"    failing: {f}" for f in t.failing[:10]]
    if reverted:
        lines += [
            "",
            f"The tests still failed (or an outcome was denied): {len(reverted)} commit"
            f"{'s' * (len(reverted) != 1)} reverted ({', '.join(s[:7] for s in reverted)})."
            " Nothing to merge from them.",
        ]
    elif commits:
        stat = workspace.changed_files()
        lines += [
            "",
            f"Changed files: {', '.join(stat[:20])}" + (" ..." if len(stat) > 20 else ""),
            f"See the diff with %loom diff {workspace.session_id}; merge it with %loom merge {workspace.session_id}.",
        ]
    return "\n".join(lines)
