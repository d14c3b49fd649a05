"""Loom's sub_agent: a temporary read-only searcher with the weak model and four tools.

Python: `loom_nb.sub_agent(task, scope=None, project=".")` (or `await loom_nb.asub_agent(...)`
inside a running loop); several at once with `sub_agents([...], max_concurrency=4)`, each a
temporary child of a DynamicSupervisor.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import load_config
from ..events import EventBus
from ..models import get_model
from ..models._base import Model
from ..models._messages import Usage
from ..runtime import DynamicSupervisor, Registry, supervised_map
from ..tools import READ_ONLY_TOOLS, Scope, ScopeError, Tool, ToolContext, ToolError
from ..tools._scope import directory, show_path
from ._loop import Agent

__all__ = ["Evidence", "Findings", "asub_agent", "asub_agents", "sub_agent", "sub_agent_tool", "sub_agents"]

MAX_ITERATIONS = 10

SYSTEM_PROMPT = """You are a read-only research sub-agent working inside a codebase.
Your tools can search and read files only: file_search (find files by glob), content_search
(regex over file contents), file_read (read lines), directory_list (see the layout). You cannot
change anything. Paths are relative to the scope root.

Work quickly: search, read the most relevant places, then answer. You have at most {limit}
iterations. Answer with the findings first, then the evidence as one `path:line: what it shows`
per line, citing only lines you have read."""

_counter = itertools.count(1)
_EVIDENCE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.\w+):(\d+)")


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """A file:line the answer cites, checked against the file."""

    path: str
    """Relative to the project root (what a user opens from there), with forward slashes."""
    line: int
    text: str
    """The line as it is in the file now."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text.strip()}"

    @property
    def citation(self) -> str:
        """`path:line`, as answers cite it."""
        return f"{self.path}:{self.line}"


@dataclass(frozen=True, kw_only=True)
class Findings:
    """What a sub-agent found."""

    task: str
    text: str
    """The answer as the model wrote it, but for its checked citations, which cite paths relative
    to the project root (the model sees paths relative to the scope)."""
    evidence: tuple[Evidence, ...] = ()
    """The file:line citations of the answer that really exist in the scope."""
    partial: bool = False
    """True when the iteration limit cut the search short (or it failed: see error)."""
    iterations: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    """None when the model's price is unknown."""
    model: str = ""
    scope: str = ""
    project: str = ""
    """The project root (absolute) that evidence paths are relative to."""
    elapsed_s: float = 0.0
    agent: str = ""
    session_id: str = ""
    error: str | None = None
    """Why the sub-agent failed (a model error after retries), if it did."""

    def __str__(self) -> str:
        return self.text

    def links(self, base: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """`path:line` -> a URL relative to `base` (default: the current directory, a notebook's),
        for each checked citation; built from the checked paths, never from the model's text."""
        return citation_links(self.evidence, self.project, base)

    def _repr_html_(self) -> str:
        """The answer as text, its checked citations as links that open the file (JupyterLab)."""
        from .._safe import CONTAINER_CLASS, escape, pre

        flag = " · failed: " + escape(self.error) if self.error else (" · partial" if self.partial else "")
        return (
            f'<div class="{CONTAINER_CLASS}"><b>{escape(self.agent or "sub-agent")}</b>: {escape(self.task)}'
            f"{flag}{pre(self.text, self.links())}</div>"
        )


def citation_links(
    evidence: Sequence[Evidence], project: str | os.PathLike[str], base: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """`path:line` -> relative URL from `base` to that line of the file, for checked evidence."""
    from .._safe import file_href

    if not project:
        return {}
    where = Path(base) if base is not None else Path.cwd()
    links = {}
    for ev in evidence:
        href = file_href(Path(project) / ev.path, ev.line, base=where)
        if href is not None:
            links[ev.citation] = href
    return links


def _resolve_scope(project: str | os.PathLike[str], scope: str | os.PathLike[str] | None) -> tuple[Path, Path]:
    """(project root, scope directory), or a one-line ScopeError that every face shows as a usage
    error, also for paths that cannot be resolved (symlink loop, name too long, NUL byte, FIFO)."""
    root = directory(project, "project ")
    if scope is None:
        return root, root
    target = directory(scope, "scope ", base=root)
    if not target.is_relative_to(root):
        raise ScopeError(
            f"scope {show_path(os.fspath(scope))} is outside the project {root}; give a directory inside it"
        )
    return root, target


def cite(text: str, scope: Scope, project: Path | None = None, *, limit: int = 50) -> tuple[str, tuple[Evidence, ...]]:
    """Check the file:line citations of `text` against the files of the scope; returns the text with
    each checked citation made relative to the project root (`decoder.py:20` -> `json/decoder.py:20`
    when the scope is json/), and the evidence. The model cites paths relative to the scope, as its
    tools show them; a path already relative to the project is understood too."""
    root = project if project is not None else scope.root
    found: dict[tuple[str, int], Evidence] = {}
    lines_cache: dict[Path, list[str]] = {}
    out: list[str] = []
    last = 0
    for m in _EVIDENCE.finditer(text):
        rel, number = m.group(1), int(m.group(2))
        path = _locate(rel, scope, root)
        if path is None or number < 1:
            continue
        if path not in lines_cache:
            try:
                lines_cache[path] = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
        lines = lines_cache[path]
        if number > len(lines):
            continue
        cited = path.relative_to(root).as_posix()
        out += [text[last : m.start(1)], cited]
        last = m.end(1)
        if (cited, number) not in found and len(found) < limit:
            found[(cited, number)] = Evidence(path=cited, line=number, text=lines[number - 1])
    out.append(text[last:])
    return "".join(out), tuple(found.values())


def _locate(rel: str, scope: Scope, root: Path) -> Path | None:
    """The file a cited path names: relative to the scope first, then to the project; inside the
    scope either way."""
    for base in (scope.root, root):
        try:
            path = scope.resolve(str(base / rel))
        except Exception:
            continue
        if path.is_file() and path.is_relative_to(root):
            return path
    return None


async def research(agent: Agent, task: str, scope: Scope) -> Findings:
    """Run the agent on the task; its answer, with the citations that really exist in the scope."""
    started = time.perf_counter()
    result = await agent.run(task)
    project = Path(agent.context.project) if agent.context.project else scope.root
    text, evidence = cite(result.text, scope, project)
    return Findings(
        task=task,
        text=text,
        evidence=evidence,
        partial=result.partial,
        iterations=result.iterations,
        usage=result.usage,
        cost_usd=result.cost_usd,
        model=result.model,
        scope=str(scope.root),
        project=str(project),
        elapsed_s=time.perf_counter() - started,
        agent=agent.name,
        session_id=agent.session_id,
    )


async def asub_agent(
    task: str,
    scope: str | os.PathLike[str] | None = None,
    project: str | os.PathLike[str] = ".",
    model: Model | str | None = None,
    *,
    bus: EventBus | None = None,
    session_id: str | None = None,
    name: str | None = None,
    parent: str | None = None,
    max_iterations: int = MAX_ITERATIONS,
) -> Findings:
    """Run one read-only sub-agent on `task` inside `scope` (default: the project root)."""
    if not task or not task.strip():
        raise ValueError("a sub-agent needs a task: say what to find")
    if not 1 <= max_iterations <= MAX_ITERATIONS:
        raise ValueError(f"a sub-agent runs 1 to {MAX_ITERATIONS} iterations; got {max_iterations}")
    root, target = _resolve_scope(project, scope)
    config = load_config(root)
    chosen = model if model is not None else config.weak_model
    scope_obj = Scope(target)
    agent = Agent(
        name=name or f"sub_agent-{next(_counter)}",
        role="sub_agent",
        model=get_model(chosen, prices=config.prices),
        tools=READ_ONLY_TOOLS,
        context=ToolContext(scope=scope_obj, project=root, session_id=session_id or uuid.uuid4().hex[:12]),
        system_prompt=SYSTEM_PROMPT.format(limit=max_iterations),
        max_iterations=max_iterations,
        bus=bus,
        parent=parent,
    )
    return await research(agent, task, scope_obj)


async def asub_agents(
    tasks: Sequence[str],
    scope: str | os.PathLike[str] | None = None,
    project: str | os.PathLike[str] = ".",
    model: Model | str | None = None,
    *,
    max_concurrency: int = 4,
    bus: EventBus | None = None,
    session_id: str | None = None,
    registry: Registry | None = None,
    timeout: float | None = None,
) -> list[Findings]:
    """Run sub-agents in parallel (at most max_concurrency at once), each a temporary child of a
    DynamicSupervisor registered as ("sub_agent", session_id, i). Results come in task order; a
    sub-agent that fails yields Findings with `error` set instead of failing the others."""
    root, target = _resolve_scope(project, scope)  # fail before anything starts
    config = load_config(root)
    chosen = get_model(model if model is not None else config.weak_model, prices=config.prices)
    sid = session_id or uuid.uuid4().hex[:12]
    bus = bus or EventBus()
    registry = registry if registry is not None else Registry()
    supervisor = DynamicSupervisor(registry=registry, name=("sub_agents", sid))
    await supervisor.start()

    async def run_one(indexed: tuple[int, str]) -> Findings:
        index, task = indexed
        return await asub_agent(
            task, target, root, chosen, bus=bus, session_id=sid, name=f"sub_agent-{index + 1}", parent="supervisor"
        )

    results: list[Findings] = []
    try:
        outcomes = await supervised_map(
            run_one,
            list(enumerate(tasks)),
            supervisor=supervisor,
            max_concurrency=max_concurrency,
            timeout=timeout,
            name=lambda i, item: ("sub_agent", sid, i),
        )
    finally:
        await supervisor.stop()
    for item in outcomes:
        if item.ok:
            results.append(item.value)  # type: ignore[arg-type]
        else:
            reason = item.reason
            error = "timed out" if reason == "timeout" else f"{type(reason).__name__}: {reason}"
            results.append(
                Findings(
                    task=item.item[1],
                    text=f"The sub-agent failed: {error}",
                    partial=True,
                    model=chosen.name,
                    scope=str(target),
                    project=str(root),
                    agent=f"sub_agent-{item.index + 1}",
                    session_id=sid,
                    error=error,
                )
            )
    return results


def _run_sync(coro_fn_name: str, coro: object) -> object:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # type: ignore[arg-type]
    coro.close()  # type: ignore[attr-defined]
    raise RuntimeError(
        f"{coro_fn_name}() cannot block inside a running event loop (a notebook cell, for example): "
        f"use `await loom_nb.a{coro_fn_name}(...)` there"
    )


def sub_agent(
    task: str,
    scope: str | os.PathLike[str] | None = None,
    project: str | os.PathLike[str] = ".",
    model: Model | str | None = None,
    **options: object,
) -> Findings:
    """Blocking form of asub_agent, for scripts and the terminal."""
    return _run_sync("sub_agent", asub_agent(task, scope, project, model, **options))  # type: ignore[return-value,arg-type]


def sub_agents(
    tasks: Sequence[str],
    scope: str | os.PathLike[str] | None = None,
    project: str | os.PathLike[str] = ".",
    model: Model | str | None = None,
    **options: object,
) -> list[Findings]:
    """Blocking form of asub_agents."""
    return _run_sync("sub_agents", asub_agents(tasks, scope, project, model, **options))  # type: ignore[return-value,arg-type]


async def _sub_agent_tool(args: dict[str, object], ctx: ToolContext) -> str:
    try:
        findings = await asub_agent(
            str(args["task"]),
            scope=str(args["scope"]) if args.get("scope") else None,
            project=ctx.project,
            bus=ctx.bus,
            session_id=ctx.session_id or None,
            parent=ctx.agent or None,
        )
    except ScopeError as exc:
        raise ToolError(str(exc)) from None
    head = "PARTIAL (the sub-agent hit its iteration limit): " if findings.partial else ""
    cost = "unknown" if findings.cost_usd is None else f"${findings.cost_usd:.4f}"
    footer = (
        f"[{findings.agent} · {findings.model} · {findings.iterations} iterations · {cost} · "
        f"{len(findings.evidence)} cited lines verified]"
    )
    return f"{head}{findings.text.rstrip()}\n{footer}"


sub_agent_tool = Tool(
    name="sub_agent",
    description=(
        "Delegate a focused search to a read-only sub-agent (the weak model, file and content search, "
        "file reads, at most 10 iterations). Give it one precise question; optionally a scope directory "
        "inside the project. It answers with findings and file:line evidence."
    ),
    parameters={
        "type": "object",
        "properties": {
            "task": {"type": "string", "description": "What to find out, as one precise question."},
            "scope": {"type": "string", "description": "Directory inside the project to search (default: all)."},
        },
        "required": ["task"],
    },
    fn=_sub_agent_tool,
    permission="read",
)
"""The tool a lead agent uses to spawn sub-agents (it runs them in its own session and names itself
their parent)."""
