"""%loom and %%loom: thin over the Python API (Swarm, SwarmRunner, open_graph, sub_agent).

Settings come from the project's .loom.toml, then `%config LoomMagics.<name> = ...`, then the
options on the line. User errors are UsageErrors (a short message, no traceback); bugs keep theirs.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import os
import shlex
import string
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_cell_magic, magics_class
from traitlets import Bool, Float, Int, Unicode

__all__ = ["LoomMagics", "interpolate"]

HELP = """%%loom [options]          the cell body is the intent: the lead plans, specialists do the work
%loom [options] <intent>  the same on one line

options: --model M  --weak M  --project DIR  --scope DIR  --budget USD  --token-budget N  --max-agents N  --background
         --session NAME  --db PATH  --offline  --out NAME   ({name} in the intent is the variable name)
         --preset strict|balanced|autonomous  --approval-timeout S   (permissions over .loom.toml)
         --max-tasks N  --strong M  --task-budget USD  --role-budget ROLE=USD (repeat)  --fix-rounds N
         --approve-outcomes   (writing roles edit freely in the worktree; you approve each task's outcome)
         --no-revise          (the lead keeps its first plan)

%%loom_role NAME [--extends ROLE] [--description TEXT] [--tools a,b] [--model M|strong|default|weak]
         [--max-iterations N] [--budget USD] [--token-budget N] [--preset P] [--restart R]
                          define or redefine a role; the body is its system prompt (empty: kept)
%loom roles               the roles and their versions;  %loom tasks|messages|tests [session]: the plan, the
                          messages and the test runs of a session (the newest by default)

%loom status              running sessions of this kernel
%loom agents [session]    a DataFrame of the agents: role, model, status, current tool, tokens, cost
%loom stop [session]      stop a running session (the newest by default)
%loom sessions            every recorded session of the project
%loom graph [session]     draw the decision graph (of the newest session by default)
%loom costs [--by agent|model|role|session] [--session S]
          sessions, graph and costs show the newest session's project, or --project DIR / --db PATH
One word after %loom is a sub-command, never an intent: an intent takes a few words.
%loom approvals [session]            the run's approval requests, pending first
%loom approve ID|all [--always] [--session S]   allow (--always: a rule for the rest of the run)
%loom deny ID|all [--message TEXT] [--always] [--session S]   deny, with a message the agent reads
%loom diff [session]      the session's changes (its workspace: a git worktree on loom/<session>)
%loom merge [session]     merge them into your branch (refused if touched files are dirty or it conflicts)
%loom undo [session] [--last N]   revert loom's own commits;  %loom discard [session]: worktree and branch
%loom worktrees [--clean] the project's loom workspaces; --clean discards those of killed kernels
%loom sql "select ..."    any SQL over the recorded tables
%loom models              the configured models, and whether each key is set
%loom subagent "task" [--scope DIR]   one read-only search sub-agent
%loom log                 loom's own log records (kept here, not printed into cells)
%loom help                this text"""


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%loom: {message} (see %loom help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or HELP)


def _run_parser() -> _Parser:
    p = _Parser(prog="%%loom", add_help=False)
    p.add_argument("--model")
    p.add_argument("--weak")
    p.add_argument("--project")
    p.add_argument("--scope")
    p.add_argument("--budget", type=float)
    p.add_argument("--token-budget", type=int, dest="token_budget")
    p.add_argument("--max-agents", type=int, dest="max_agents")
    p.add_argument("--background", action="store_true")
    p.add_argument("--session")
    p.add_argument("--db")
    p.add_argument("--offline", action="store_true")
    p.add_argument("--out")
    p.add_argument("--preset", choices=["strict", "balanced", "autonomous"])
    p.add_argument("--approval-timeout", type=float, dest="approval_timeout")
    p.add_argument("--max-tasks", type=int, dest="max_tasks")
    p.add_argument("--strong")
    p.add_argument("--task-budget", type=float, dest="task_budget")
    p.add_argument("--role-budget", action="append", dest="role_budget", default=[])
    p.add_argument("--fix-rounds", type=int, dest="fix_rounds")
    p.add_argument("--approve-outcomes", action="store_true", dest="approve_outcomes")
    p.add_argument("--no-revise", action="store_true", dest="no_revise")
    return p


class _Namespace(Mapping[str, Any]):
    def __init__(self, ns: Mapping[str, Any]) -> None:
        self.ns = ns

    def __getitem__(self, key: str) -> Any:
        if key not in self.ns:
            raise UsageError(
                f"{{{key}}} in the intent names no variable of the notebook; define {key}, or write "
                f"{{{{{key}}}}} for literal braces"
            )
        return self.ns[key]

    def __iter__(self) -> Any:
        return iter(self.ns)

    def __len__(self) -> int:
        return len(self.ns)


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """`{name}` becomes the notebook variable's value; `{{` and `}}` are literal braces."""
    try:
        return string.Formatter().vformat(text, (), _Namespace(namespace))
    except (ValueError, IndexError) as exc:
        raise UsageError(f"the intent has unmatched braces ({exc}); write {{{{ and }}}} for literal ones") from None


@magics_class
class LoomMagics(Magics):
    """`%config LoomMagics.model = "anthropic:claude-sonnet-4-5"` and so on (see each trait)."""

    model = Unicode(None, allow_none=True, help="Model for the lead (over .loom.toml [model] default).").tag(
        config=True
    )
    weak = Unicode(None, allow_none=True, help="Model for researchers (over .loom.toml [model] weak).").tag(config=True)
    project = Unicode(".", help="Project root: where .loom.toml and .loom/loom.duckdb live.").tag(config=True)
    budget = Float(None, allow_none=True, help="Stop a session once it has cost this many USD.").tag(config=True)
    token_budget = Int(None, allow_none=True, help="Cap a session's tokens (for models with no known price).").tag(
        config=True
    )
    max_agents = Int(4, help="Agents working at once in a session.").tag(config=True)
    db = Unicode(None, allow_none=True, help="The graph file (default <project>/.loom/loom.duckdb).").tag(config=True)
    offline = Bool(False, help="Use the offline model for everything (no key, no network).").tag(config=True)
    preset = Unicode(
        None, allow_none=True, help="Permission preset: strict, balanced or autonomous (over .loom.toml)."
    ).tag(config=True)
    approval_timeout = Float(600.0, help="Seconds before an unanswered approval request is denied.").tag(config=True)
    strong = Unicode(None, allow_none=True, help="Model for the strong tier (architects; default: the lead's).").tag(
        config=True
    )
    max_tasks = Int(8, help="Most tasks the lead's plan may hold.").tag(config=True)
    approve_outcomes = Bool(False, help="Approve each writing task's outcome instead of each edit.").tag(config=True)

    def __init__(self, shell: Any = None, runner: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._runner = runner
        self._commands: dict[str, Callable[[list[str]], Any]] = {
            "status": self._status,
            "agents": self._agents,
            "stop": self._stop,
            "sessions": self._sessions,
            "graph": self._graph,
            "costs": self._costs,
            "sql": self._sql,
            "models": self._models,
            "subagent": self._subagent,
            "log": self._log,
            "help": self._help,
            "approvals": self._approvals,
            "roles": self._roles,
            "tasks": functools.partial(self._session_table, "tasks"),
            "messages": functools.partial(self._session_table, "messages"),
            "tests": functools.partial(self._session_table, "tests"),
            "diff": functools.partial(self._workspace, "diff"),
            "merge": functools.partial(self._workspace, "merge"),
            "undo": functools.partial(self._workspace, "undo"),
            "discard": functools.partial(self._workspace, "discard"),
            "worktrees": self._worktrees,
            "approve": self._approve,
            "deny": self._deny,
        }

    @property
    def runner(self) -> Any:
        if self._runner is None:
            from ._runner import default_runner

            self._runner = default_runner()
        return self._runner

    @line_cell_magic
    def loom(self, line: str, cell: str | None = None) -> Any:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%loom: {exc} (check the quotes)") from None
        if cell is None and words and words[0] in self._commands:
            from ..graph import GraphError

            try:
                return self._commands[words[0]](words[1:])
            except GraphError as exc:  # a damaged or unwritable graph file: which one, and what to do
                raise UsageError(f"%loom {words[0]}: {exc}") from None
        if cell is None:
            # %loom [options] <intent>: options first, the rest is the intent
            options: list[str] = []
            i = 0
            while i < len(words) and words[i].startswith("--"):
                options.append(words[i])
                takes_value = words[i] not in _FLAGS and "=" not in words[i]
                if takes_value and i + 1 < len(words):
                    options.append(words[i + 1])
                    i += 1
                i += 1
            args = _run_parser().parse_args(options)
            intent = " ".join(words[i:])
        else:
            args = _run_parser().parse_args(words)
            intent = cell
        if not intent.strip():
            raise UsageError("%%loom needs an intent: write what you want found out in the cell body")
        if len(intent.split()) == 1:  # a mistyped sub-command must never start a (paid) run
            raise self._one_word(intent.strip())
        if cell is not None:  # IPython already expanded {name} on the line itself, not in the body
            intent = interpolate(intent, self.shell.user_ns if self.shell else {})
        return self._run(intent, args)

    def _one_word(self, word: str) -> UsageError:
        near = difflib.get_close_matches(word.lower(), self._commands, n=1, cutoff=0.6)
        if near:
            return UsageError(f"%loom: unknown sub-command {word!r}; did you mean {near[0]!r}? (%loom help lists them)")
        return UsageError(
            f"%loom: unknown sub-command {word!r}, and one word is too short an intent: ask in a few words "
            "(%loom help lists the sub-commands)"
        )

    # the run ------------------------------------------------------------------------------

    def _settings(self, args: argparse.Namespace) -> dict[str, Any]:
        offline = args.offline or self.offline
        return {
            "project": args.project or self.project,
            "scope": args.scope,
            "model": "offline" if offline else (args.model or self.model),
            "weak": "offline" if offline else (args.weak or self.weak),
            "budget_usd": args.budget if args.budget is not None else self.budget,
            "token_budget": args.token_budget if args.token_budget is not None else self.token_budget,
            "max_agents": args.max_agents if args.max_agents is not None else self.max_agents,
            "session": args.session,
            "db": args.db or self.db,
            "preset": args.preset or self.preset,
            "approval_timeout": args.approval_timeout if args.approval_timeout is not None else self.approval_timeout,
            "strong": "offline" if offline else (args.strong or self.strong),
            "max_tasks": args.max_tasks if args.max_tasks is not None else self.max_tasks,
            "task_budget_usd": args.task_budget,
            "role_budgets": _role_budgets(args.role_budget),
            "fix_rounds": args.fix_rounds,
            "approve_outcomes": args.approve_outcomes or self.approve_outcomes,
            "revise": not args.no_revise,
        }

    def _run(self, intent: str, args: argparse.Namespace) -> Any:
        from ..swarm import Swarm

        settings = self._settings(args)
        try:
            swarm = Swarm(intent, **settings)
        except Exception as exc:
            raise _usage(exc) from None
        live = self._live_view_available()
        shown: list[Any] = []

        def started(handle: Any) -> None:
            if self.shell is not None:  # bound at once: an interrupted run's handle is there to look at
                self.shell.user_ns[args.out or "_loom"] = handle
            if live:
                from ._view import start_live_view

                shown.append(start_live_view(handle))

        if args.background:
            handle = self.runner.submit(swarm)
            started(handle)
        else:
            try:
                handle = self.runner.run_foreground(swarm, on_submit=started)
            finally:
                # The final redraw and summary go out from this cell, so front ends (and nbclient, nbval)
                # file them under it; the swarm thread's own last redraw may come after the cell ended.
                for view in shown:
                    view.finish()
        return handle

    def _live_view_available(self) -> bool:
        """Widgets need a kernel (a front end may render them); a terminal IPython gets the handle."""
        if self.shell is None or getattr(self.shell, "kernel", None) is None:
            return False
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return False
        return True

    # sub-commands -------------------------------------------------------------------------

    def _latest(self, session: str | None, *, running_only: bool = False) -> Any:
        handles = self.runner.running() if running_only else list(self.runner.handles.values())
        if session is not None:
            handle = self.runner.handles.get(session)
            if handle is None:
                raise UsageError(f"%loom: no session {session!r} in this kernel; %loom status lists them")
            return handle
        if not handles:
            raise UsageError(
                "%loom: no session is running in this kernel"
                if running_only
                else "%loom: no session has run in this kernel yet"
            )
        return handles[-1]

    def _status(self, words: list[str]) -> Any:
        import pandas as pd

        from ..tools import sandbox_status

        rows = [
            {
                "session": h.session_id,
                "status": h.status,
                "agents": len(h.tracker.rows()),
                "tokens": h.swarm.meter.usage.total_tokens,
                "cost_usd": h.swarm.meter.cost,
                "budget_warning": h.swarm.budget_warning.message if h.swarm.budget_warning else None,
                "approvals_pending": len(h.swarm.gate.queue.pending()),
                "tasks": _tasks_done(h),
                "estimate_usd": h.swarm.estimate_usd,
                "preset": h.swarm.policy.preset,
                "shell_sandbox": sandbox_status().detail,
                "intent": h.swarm.intent[:60],
            }
            for h in self.runner.handles.values()
        ]
        columns = [
            "session",
            "status",
            "agents",
            "tokens",
            "cost_usd",
            "budget_warning",
            "approvals_pending",
            "tasks",
            "estimate_usd",
            "preset",
            "shell_sandbox",
            "intent",
        ]
        return pd.DataFrame(rows, columns=columns)

    def _agents(self, words: list[str]) -> Any:
        return self._latest(words[0] if words else None).agents()

    def _stop(self, words: list[str]) -> str:
        handle = self._latest(words[0] if words else None, running_only=not words)
        handle.stop("stopped with %loom stop")
        handle.wait(timeout=10, raise_errors=False)
        return f"session {handle.session_id}: {handle.status}"

    def _workspace_project(self, session: str | None) -> Any:
        if session is not None and session in self.runner.handles:
            return self.runner.handles[session].swarm.root
        if session is None and self.runner.handles:
            return list(self.runner.handles.values())[-1].swarm.root
        return self.project

    def _workspace(self, action: str, words: list[str]) -> Any:
        """diff, merge, undo, discard of a session's workspace (the newest session's by default)."""
        from ..workspace import GitError, Workspace, WorkspaceError

        p = _Parser(prog=f"%loom {action}", add_help=False)
        p.add_argument("session", nargs="?")
        p.add_argument("--project")
        if action == "undo":
            p.add_argument("--last", type=int)
        args = p.parse_args(words)
        project = args.project or self._workspace_project(args.session)
        try:
            ws = Workspace.open_newest(project, args.session)
            session = ws.session_id
            if action == "diff":
                from ._diff import DiffView

                return DiffView(ws.diff(), title=f"session {session} ({ws.branch})")
            if action == "undo":
                undone = ws.undo(last=args.last)
                return f"session {session}: reverted {len(undone)} commit(s) of loom's"
            if action == "merge":
                return f"session {session}: merged into your branch as {ws.merge()[:10]}"
            ws.discard()
            return f"session {session}: worktree and branch {ws.branch} removed"
        except (WorkspaceError, GitError) as exc:
            raise UsageError(f"%loom {action}: {exc}") from None

    def _worktrees(self, words: list[str]) -> Any:
        import pandas as pd

        from ..workspace import Workspace

        p = _Parser(prog="%loom worktrees", add_help=False)
        p.add_argument("--clean", action="store_true")
        p.add_argument("--project")
        args = p.parse_args(words)
        project = args.project or self._workspace_project(None)
        if args.clean:
            Workspace.discard_stale(project)
        infos = Workspace.list(project)
        columns = ["session_id", "branch", "commits", "live", "stale", "path"]
        return pd.DataFrame([{c: getattr(i, c) for c in columns} for i in infos], columns=columns)

    def _approvals(self, words: list[str]) -> Any:
        return self._latest(words[0] if words else None).approvals()

    def _answer(self, action: str, words: list[str]) -> str:
        p = _Parser(prog=f"%loom {action}", add_help=False)
        p.add_argument("request", help="a request id from %loom approvals, or all")
        p.add_argument("--always", action="store_true")
        p.add_argument("--session")
        if action == "deny":
            p.add_argument("--message", default="")
        args = p.parse_args(words)
        handle = self._latest(args.session)
        from ..permissions import NoSuchApproval

        try:
            if action == "approve":
                answers = handle.approve(args.request, always=args.always, by="cell")
            else:
                answers = handle.deny(args.request, message=args.message, always=args.always, by="cell")
        except NoSuchApproval as exc:
            raise UsageError(f"%loom {action}: {exc}; %loom approvals lists them") from None
        if not answers:
            return f"session {handle.session_id}: nothing pending"
        said = [f"{a.request_id} {a.action}" + (f" always ({a.rule.describe()})" if a.rule else "") for a in answers]
        return f"session {handle.session_id}: " + "; ".join(said)

    def _approve(self, words: list[str]) -> str:
        return self._answer("approve", words)

    def _deny(self, words: list[str]) -> str:
        return self._answer("deny", words)

    def _open_graph(self, project: str | None = None, db: str | None = None) -> Any:
        """--db, else --project, else the newest session this kernel ran, else the configured
        project: the graph, and says which one it is (a user must never read another project's
        numbers without knowing)."""
        from ..graph import open_graph

        try:
            if db or project:
                graph = open_graph(db) if db else open_graph(project=project)  # type: ignore[arg-type]
            elif self.runner.handles:
                graph = list(self.runner.handles.values())[-1].graph
            else:
                graph = open_graph(self.db) if self.db else open_graph(project=self.project)
        except FileNotFoundError as exc:
            where = getattr(exc, "path", None) or exc
            raise UsageError(
                f"%loom: no loom graph at {where} yet: run a session first (%%loom <intent>), or point "
                "%config LoomMagics.project (or LoomMagics.db) at a project that has one"
            ) from None
        path = graph.store.path
        root = path.parent.parent if path.parent.name == ".loom" else path.parent
        print(f"project {root} · graph {path}")
        return graph

    def _graph_args(self, prog: str, words: list[str], extra: Callable[[_Parser], None] | None = None) -> Any:
        p = _Parser(prog=prog, add_help=False)
        p.add_argument("--project")
        p.add_argument("--db")
        if extra is not None:
            extra(p)
        args = p.parse_args(words)
        return args, self._open_graph(args.project, args.db)

    @staticmethod
    def _tag(frame: Any, graph: Any) -> Any:
        frame.attrs["db"] = str(graph.store.path)
        return frame

    def _sessions(self, words: list[str]) -> Any:
        _, graph = self._graph_args("%loom sessions", words)
        return self._tag(graph.sessions(), graph)

    def _graph(self, words: list[str]) -> Any:
        args, graph = self._graph_args("%loom graph", words, lambda p: p.add_argument("session", nargs="?"))
        session = args.session
        if session is None:  # the newest session, not every session of the project piled up
            ids = graph.sessions()["id"].tolist()
            if not ids:
                raise UsageError(f"%loom graph: no session is recorded in {graph.store.path} yet")
            session = ids[-1]
            print(f"session {session} (the newest; %loom graph <session> draws another)")
        return graph.show(session)

    def _costs(self, words: list[str]) -> Any:
        def extra(p: _Parser) -> None:
            p.add_argument("--by", default="agent", choices=["agent", "model", "role", "session"])
            p.add_argument("--session")

        args, graph = self._graph_args("%loom costs", words, extra)
        return self._tag(graph.costs(by=args.by, session=args.session), graph)

    def _sql(self, words: list[str]) -> Any:
        if not words:
            raise UsageError('%loom sql needs a query: %loom sql "select * from sessions"')
        try:
            return self._open_graph().sql(" ".join(words))
        except UsageError:
            raise
        except Exception as exc:
            raise UsageError(f"%loom sql: {exc}") from None

    def _models(self, words: list[str]) -> Any:
        import pandas as pd

        from ..config import load_config
        from ..models import parse_model_string

        config = load_config(self.project)
        rows = []
        for use, configured, trait in (
            ("lead", config.default_model, self.model),
            ("weak", config.weak_model, self.weak),
        ):
            name = "offline" if self.offline else (trait or configured)
            try:
                spec = parse_model_string(name)
            except ValueError as exc:
                raise _usage(exc) from None
            env = _key_variable(spec.provider, spec.litellm_name)
            rows.append(
                {
                    "use": use,
                    "model": spec.name,
                    "key variable": env or "(none needed)",
                    "key set": "✓" if env is None or os.environ.get(env) else "✗",
                }
            )
        return pd.DataFrame(rows)

    def _subagent(self, words: list[str]) -> Any:
        p = _Parser(prog="%loom subagent", add_help=False)
        p.add_argument("task")
        p.add_argument("--scope")
        p.add_argument("--model")
        args = p.parse_args(words)
        import asyncio

        from ..agents import asub_agent

        model = "offline" if self.offline else (args.model or self.weak)
        future = asyncio.run_coroutine_threadsafe(
            asub_agent(args.task, args.scope, self.project, model), self.runner.loop
        )
        try:
            return future.result()
        except KeyboardInterrupt:  # Kernel > Interrupt: the sub-agent must not go on working unseen
            from ._runner import Interrupted

            future.cancel()
            raise Interrupted("loom sub-agent cancelled by interrupt") from None
        except Exception as exc:
            raise _usage(exc) from None

    # roles and plans -----------------------------------------------------------------------

    @cell_magic
    def loom_role(self, line: str, cell: str) -> Any:
        """%%loom_role NAME [options]: the body is the role's system prompt. The next spawn of the role
        uses the new definition; agents already running keep theirs (each records its role version)."""
        from ..swarm import roles
        from ..swarm._roles import RoleError, role_from_table

        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"%%loom_role: {exc} (check the quotes)") from None
        p = _Parser(prog="%%loom_role", add_help=False)
        p.add_argument("name")
        p.add_argument("--extends")
        p.add_argument("--description")
        p.add_argument("--tools")
        p.add_argument("--model")
        p.add_argument("--max-iterations", type=int, dest="max_iterations")
        p.add_argument("--budget", type=float, dest="budget_usd")
        p.add_argument("--token-budget", type=int, dest="token_budget")
        p.add_argument("--preset")
        p.add_argument("--restart")
        p.add_argument("--max-restarts", type=int, dest="max_restarts")
        args = p.parse_args(words)
        values: dict[str, Any] = {
            k: v for k, v in vars(args).items() if v is not None and k not in ("name", "tools", "extends")
        }
        if args.extends:
            values["extends"] = args.extends
        if args.tools is not None:
            values["tools"] = [t.strip() for t in args.tools.split(",") if t.strip()]
        body = cell.strip()
        if body:
            values["system_prompt"] = body
        try:
            role = roles.define(role_from_table(args.name, values, roles, where=f"%%loom_role {args.name}"))
        except RoleError as exc:
            raise UsageError(str(exc)) from None
        print(
            f"role {role.name} v{role.version}: {role.description} | tools: {', '.join(role.tools) or 'none'} | "
            f"model: {role.model}" + (" | writes" if role.writes else "") + " (running agents keep their version)"
        )
        return None

    def _roles(self, words: list[str]) -> Any:
        from ..swarm import roles

        p = _Parser(prog="%loom roles", add_help=False)
        p.add_argument("--project")
        args = p.parse_args(words)
        try:
            book = roles.with_project(args.project or self.project)
        except ValueError as exc:
            raise UsageError(f"%loom roles: {exc}") from None
        return book.frame()

    def _session_table(self, table: str, words: list[str]) -> Any:
        args, graph = self._graph_args(f"%loom {table}", words, lambda p: p.add_argument("session", nargs="?"))
        session = args.session
        if session is None:
            ids = graph.sessions()["id"].tolist()
            if not ids:
                raise UsageError(f"%loom {table}: no session is recorded in {graph.store.path} yet")
            session = ids[-1]
        reader = getattr(graph, table, None)
        if reader is None:
            raise UsageError(f"%loom {table}: this graph has no {table} table yet")
        return self._tag(reader(session=session), graph)

    def _log(self, words: list[str]) -> None:
        from ._log import LOG

        print("\n".join(LOG.lines()) or "(no log records)")

    def _help(self, words: list[str]) -> None:
        print(HELP)


def _tasks_done(handle: Any) -> str:
    """ "3/5 done" (with "1 failed" and the like) for the plan of a run, "" before it has one."""
    board = handle.tracker.board()
    if not board.planned:
        return ""
    counts: dict[str, int] = {}
    for t in board.tasks:
        counts[t.status] = counts.get(t.status, 0) + 1
    said = f"{counts.get('done', 0)}/{len(board.tasks)} done"
    others = [f"{n} {s}" for s, n in sorted(counts.items()) if s not in ("done", "pending") and n]
    return ", ".join([said, *others])


_FLAGS = frozenset({"--background", "--offline", "--approve-outcomes", "--no-revise"})
"""%loom options that take no value."""


def _role_budgets(items: list[str]) -> dict[str, float] | None:
    """--role-budget implementer=0.5 (repeatable) -> {"implementer": 0.5}."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise UsageError(f"--role-budget takes ROLE=USD, like --role-budget implementer=0.50; got {item!r}")
    return out or None


def _key_variable(provider: str, litellm_name: str) -> str | None:
    """The environment variable holding the provider's key (never its value)."""
    if provider in ("offline", "ollama", "ollama_chat", "hosted_vllm", "vllm", "lm_studio", "llamafile"):
        return None
    if provider == "anthropic":
        return "ANTHROPIC_API_KEY"
    from ..models._litellm import import_litellm

    missing = import_litellm().validate_environment(model=litellm_name).get("missing_keys") or []
    return missing[0] if missing else f"{provider.upper()}_API_KEY"


def _usage(exc: Exception) -> Exception:
    """User errors become UsageErrors (no traceback); anything else is a bug and keeps its own."""
    from ..config import ConfigError
    from ..models import ModelError, UnknownModel
    from ..tools import ToolError

    if isinstance(exc, ConfigError | ModelError | UnknownModel | ToolError | ValueError):
        return UsageError(f"%loom: {exc}")
    return exc
