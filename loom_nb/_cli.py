"""The `loom-nb` command line: `loom-nb subagent "task" [more tasks] --scope lib/`, and the workspaces
runs leave behind: `loom-nb worktrees`, `diff`, `merge`, `undo`, `discard`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict

from ._safe import terminal  # model and file text: its escape sequences are shown, not obeyed

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loom-nb", description="LLM agent swarms, from a notebook or a shell.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("subagent", help="run read-only search sub-agents on a codebase and print their findings")
    p.add_argument("tasks", nargs="+", metavar="TASK", help="what to find (several tasks run in parallel)")
    p.add_argument("--project", default=".", help="project root (default: the current directory)")
    p.add_argument("--scope", default=None, help="directory inside the project to search (default: all of it)")
    p.add_argument(
        "--model",
        default=None,
        help="model string, e.g. anthropic:claude-haiku-4-5 or offline "
        "(default: [model] weak in .loom.toml, else offline without ANTHROPIC_API_KEY)",
    )
    p.add_argument("--max-concurrency", type=int, default=4, help="sub-agents running at once (default 4)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="print each tool call to stderr as it happens")

    r = sub.add_parser("run", help="run a swarm on an intent and print its answer (asks come to this terminal)")
    r.add_argument("intent", nargs="+", help="what you want done or found out")
    r.add_argument("--project", default=".", help="project root (default: the current directory)")
    r.add_argument("--scope", default=None)
    r.add_argument("--model", default=None, help="the lead's model (default: .loom.toml, else offline without a key)")
    r.add_argument("--weak", default=None, help="the researchers' model")
    r.add_argument("--max-agents", type=int, default=4)
    r.add_argument("--budget", type=float, default=None, help="USD cap (reserved before every call)")
    r.add_argument("--token-budget", type=int, default=None)
    r.add_argument(
        "--approve",
        choices=["ask", "auto", "deny"],
        default="ask",
        help="what a call the policy asks about becomes: a prompt here (ask; a deny without a terminal), "
        "allowed (auto; deny rules still apply), or denied",
    )
    r.add_argument("--approval-timeout", type=float, default=600.0, help="seconds before an unanswered ask is denied")
    r.add_argument("--strong", default=None, help="the strong tier's model (architects; default: the lead's)")
    r.add_argument("--max-tasks", type=int, default=8, help="most tasks the lead's plan may hold (default 8)")
    r.add_argument("--task-budget", type=float, default=None, help="USD cap per task")
    r.add_argument("--fix-rounds", type=int, default=None, help="rounds a tester may send failures back (default 2)")
    r.add_argument(
        "--approve-outcomes",
        action="store_true",
        help="writing roles edit freely in the run's worktree; you approve each task's outcome (diff, tests, cost)",
    )
    r.add_argument("--quiet", "-q", action="store_true", help="do not print the plan and task progress to stderr")

    w = sub.add_parser("worktrees", help="list the workspaces runs left in the project (stale ones: a killed kernel's)")
    w.add_argument("--project", default=".")
    w.add_argument("--clean", action="store_true", help="discard the stale ones (worktree and branch)")
    for name, text in (
        ("diff", "print a session's changes as a unified diff"),
        (
            "merge",
            "merge a session's branch into your current branch (refused if touched files are dirty or it conflicts)",
        ),
        ("undo", "revert loom's own commits of a session in its workspace"),
        ("discard", "remove a session's worktree and its branch"),
    ):
        c = sub.add_parser(name, help=text)
        c.add_argument("session", nargs="?", help="the session id (default: the newest workspace)")
        c.add_argument("--project", default=".")
        if name == "undo":
            c.add_argument("--last", type=int, default=None, help="only the newest N of loom's commits")
        if name in ("merge", "discard"):
            c.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    return parser


def _print_findings(findings: list, as_json: bool) -> None:
    if as_json:
        print(json.dumps([asdict(f) for f in findings], indent=2, default=str))
        return
    for i, f in enumerate(findings, 1):
        header = f"── sub-agent {i}/{len(findings)}: {terminal(f.task)}"
        print(header)
        print(terminal(f.text.rstrip()))
        cost = "unknown" if f.cost_usd is None else f"${f.cost_usd:.4f}"
        flags = " · PARTIAL (iteration limit)" if f.partial and not f.error else ""
        flags += f" · FAILED: {terminal(f.error)}" if f.error else ""
        print(
            f"[{f.model} · {f.iterations} iterations · {f.usage.input_tokens + f.usage.cache_read_tokens:,} in /"
            f" {f.usage.output_tokens:,} out tokens · {cost} · {len(f.evidence)} evidence lines verified ·"
            f" {f.elapsed_s:.2f} s{flags}]"
        )
        print()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "subagent":
        return _subagent(args)
    if args.command == "run":
        return _run(args)
    return _workspace_command(args)


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from .config import ConfigError
    from .models import ModelError, UnknownModel
    from .swarm import Swarm
    from .tools import ToolError

    prompt = args.approve == "ask" and sys.stdin.isatty()
    if args.approve == "ask" and not prompt:
        print("loom-nb: no terminal to ask on: calls the policy asks about are denied", file=sys.stderr)
    try:
        swarm = Swarm(
            " ".join(args.intent),
            project=args.project,
            scope=args.scope,
            model=args.model,
            weak=args.weak,
            max_agents=args.max_agents,
            budget_usd=args.budget,
            token_budget=args.token_budget,
            approve="queue" if prompt else ("allow" if args.approve == "auto" else "deny"),
            approval_timeout=args.approval_timeout,
            strong=args.strong,
            max_tasks=args.max_tasks,
            task_budget_usd=args.task_budget,
            fix_rounds=args.fix_rounds,
            approve_outcomes=args.approve_outcomes,
        )
    except (ConfigError, ModelError, UnknownModel, ToolError, ValueError) as exc:
        print(f"loom-nb: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        swarm.bus.subscribe(_progress)
    if prompt:
        from ._approve_prompt import TerminalApprovals

        TerminalApprovals(swarm.gate.queue).start()
    try:
        result = asyncio.run(swarm.run())
    except KeyboardInterrupt:
        print("loom-nb: interrupted", file=sys.stderr)
        return 130
    print(terminal(result.text or f"[{result.status}] {result.error or ''}"))
    print(
        f"[session {result.session_id} · {result.status}"
        + (f": {terminal(result.error)}" if result.error else "")
        + "]"
    )
    return 0 if result.status == "done" else 1


def _progress(event: object) -> None:
    """The plan with its estimate, then each task's end, on stderr (the answer goes to stdout)."""
    from ._safe import terminal
    from .events import PlanMade, TaskStatus

    if isinstance(event, PlanMade):
        cost = "unknown (a price is missing)" if event.estimate_usd is None else f"${event.estimate_usd:.4f}"
        head = "plan" if not event.revision else f"plan revised ({terminal(event.reason)})"
        if event.revision:  # a revision is not estimated: no price is missing
            lines = [f"{head}: {len(event.tasks)} task(s)"]
        else:
            lines = [f"{head}: {len(event.tasks)} task(s), estimated {cost} ({event.estimate_basis})"]
        for t in event.tasks:
            after = ", ".join(d for d, _ in t.deps)
            lines.append(f"  {t.id} {t.role}: {terminal(t.title)}" + (f" (after {after})" if after else ""))
        print("\n".join(lines), file=sys.stderr, flush=True)
    elif isinstance(event, TaskStatus) and event.status != "running":
        said = event.summary.splitlines()[0] if event.summary else (event.error or "")
        print(f"  {event.task} {event.status}: {terminal(said[:160])}", file=sys.stderr, flush=True)


def _workspace_command(args: argparse.Namespace) -> int:
    from .workspace import GitError, Workspace, WorkspaceError

    try:
        if args.command == "worktrees":
            infos = Workspace.list(args.project)
            if not infos:
                print("no loom workspaces in this project")
            for info in infos:
                state = "stale (its process died)" if info.stale else ("running" if info.live else "finished")
                print(f"{info.session_id}  {info.branch}  {info.commits} commit(s)  {state}  {info.path}")
            if args.clean:
                for session in Workspace.discard_stale(args.project):
                    print(f"discarded {session}")
            return 0
        ws = Workspace.open_newest(args.project, args.session)
        session = ws.session_id
        if args.command == "diff":
            sys.stdout.write(terminal(ws.diff()))
            return 0
        if args.command == "undo":
            undone = ws.undo(last=args.last)
            print(f"reverted {len(undone)} commit(s) of session {session}" + "".join(
                f"\n  {c.sha[:10]} {terminal(c.message)}" for c in undone))  # fmt: skip
            return 0
        if not args.yes and not _confirm(f"{args.command} session {session} ({ws.branch})?"):
            print("nothing done")
            return 1
        if args.command == "merge":
            print(f"merged session {session}: {ws.merge()[:10]}")
        else:
            ws.discard()
            print(f"discarded session {session}: worktree and branch {ws.branch} removed")
        return 0
    except (WorkspaceError, GitError) as exc:
        print(f"loom-nb: error: {exc}", file=sys.stderr)
        return 2


def _confirm(question: str) -> bool:
    """A yes/no from the terminal; without one (a pipe, CI), no."""
    if not sys.stdin.isatty():
        print(f"{question} (no terminal to ask: pass --yes)", file=sys.stderr)
        return False
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _subagent(args: argparse.Namespace) -> int:
    from .agents._sub_agent import sub_agents
    from .config import ConfigError
    from .events import EventBus, ToolCallEvent
    from .models import ModelError, UnknownModel
    from .tools import ToolError

    bus = EventBus()
    if args.verbose:

        def show(event: object) -> None:
            if isinstance(event, ToolCallEvent):
                print(
                    f"  {event.agent}: {terminal(event.tool)}({terminal(event.args_summary)}) {event.outcome} "
                    f"{event.duration_s * 1000:.0f} ms",
                    file=sys.stderr,
                )

        bus.subscribe(show)
    try:
        findings = sub_agents(
            args.tasks,
            scope=args.scope,
            project=args.project,
            model=args.model,
            max_concurrency=args.max_concurrency,
            bus=bus,
        )
    except (ConfigError, ModelError, UnknownModel, ToolError, ValueError) as exc:
        print(f"loom-nb: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("loom-nb: interrupted", file=sys.stderr)
        return 130
    _print_findings(findings, args.json)
    return 1 if any(f.error for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
