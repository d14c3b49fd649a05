"""The lead's plan: tasks with typed dependencies, checked before anything runs, and the scheduler
that says which tasks are ready.

Dependencies: `blocks` (the dependent waits for it), `requires_output` (waits, and gets its output),
`informs` (does not wait, but gets its output if it is done by then). A failed or cancelled task
skips the tasks that wait for it (transitively); the lead may re-plan them.
Scheduling is O(tasks + dependencies): a 1,000-task plan is scheduled in a few milliseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..events import DependencyKind, PlannedTask

__all__ = ["DEP_KINDS", "Dep", "PlanError", "Scheduler", "Task", "check_plan", "parse_plan"]

DEP_KINDS: tuple[str, ...] = ("blocks", "informs", "requires_output")
_WAITS = frozenset({"blocks", "requires_output"})
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class PlanError(ValueError):
    """A plan that cannot run: every problem, one per line, so the model (or user) can fix them all."""


@dataclass(frozen=True, kw_only=True)
class Dep:
    task: str
    kind: DependencyKind = "blocks"


@dataclass(frozen=True, kw_only=True)
class Task:
    """One piece of the lead's plan: which role does what, done when `acceptance` holds."""

    role: str
    prompt: str
    id: str = ""
    acceptance: str = ""
    deps: tuple[Dep, ...] = ()
    title: str = ""

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", _title(self.prompt))

    def planned(self) -> PlannedTask:
        return PlannedTask(
            id=self.id,
            role=self.role,
            prompt=self.prompt,
            acceptance=self.acceptance,
            deps=tuple((d.task, d.kind) for d in self.deps),
            title=self.title,
        )

    def after(self) -> str:
        """Its dependencies in words ("after t1, t2; informed by t3")."""
        waits = [d.task for d in self.deps if d.kind in _WAITS]
        informs = [d.task for d in self.deps if d.kind == "informs"]
        parts = []
        if waits:
            parts.append("after " + ", ".join(waits))
        if informs:
            parts.append("informed by " + ", ".join(informs))
        return "; ".join(parts)


def _title(prompt: str) -> str:
    first = prompt.strip().splitlines()[0] if prompt.strip() else ""
    return first if len(first) <= 80 else first[:79] + "…"


def number(tasks: Sequence[Task]) -> list[Task]:
    """Give tasks without an id one (t1, t2, ...), skipping ids already taken."""
    taken = {t.id for t in tasks if t.id}
    out, n = [], 0
    for t in tasks:
        if t.id:
            out.append(t)
            continue
        n += 1
        while f"t{n}" in taken:
            n += 1
        taken.add(f"t{n}")
        out.append(replace(t, id=f"t{n}"))
    return out


def check_plan(tasks: Sequence[Task], roles: Iterable[str], *, max_tasks: int) -> None:
    """Raise PlanError naming every problem: no tasks, too many, a duplicate or malformed id, an unknown
    role (or the lead), a dependency on an unknown task or of an unknown kind, a cycle."""
    known = set(roles) - {"lead"}
    problems: list[str] = []
    if not tasks:
        problems.append("the plan has no tasks")
    if len(tasks) > max_tasks:
        problems.append(f"the plan has {len(tasks)} tasks; at most {max_tasks} are allowed: merge some")
    ids: set[str] = set()
    for t in tasks:
        if not isinstance(t.id, str) or not _ID.fullmatch(t.id):
            problems.append(f"task id {t.id!r} must be 1-32 letters, digits, '.', '_' or '-'")
        if t.id in ids:
            problems.append(f"task id {t.id!r} is used twice")
        ids.add(t.id)
        if t.role == "lead":
            problems.append(f"task {t.id}: the lead never takes a task; give it to one of {', '.join(sorted(known))}")
        elif t.role not in known:
            problems.append(f"task {t.id}: unknown role {t.role!r}; the roles are {', '.join(sorted(known))}")
        if not t.prompt.strip():
            problems.append(f"task {t.id}: empty prompt")
    for t in tasks:
        for d in t.deps:
            if d.kind not in DEP_KINDS:
                problems.append(f"task {t.id}: dependency kind {d.kind!r} is not one of {', '.join(DEP_KINDS)}")
            if d.task == t.id:
                problems.append(f"task {t.id} depends on itself")
            elif d.task not in ids:
                problems.append(f"task {t.id} depends on unknown task {d.task!r}")
    cycle = _cycle(tasks)
    if cycle:
        problems.append("the dependencies form a cycle: " + " -> ".join(cycle))
    if problems:
        raise PlanError("\n".join(problems))


def _cycle(tasks: Sequence[Task]) -> list[str]:
    """One cycle among the tasks' dependencies (all kinds: informs too), as ids, or []."""
    edges = {t.id: [d.task for d in t.deps if d.task != t.id] for t in tasks}
    state: dict[str, int] = {}
    for root in edges:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            nexts = edges.get(node, [])
            if i < len(nexts):
                stack.append((node, i + 1))
                nxt = nexts[i]
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if not state.get(nxt) and nxt in edges:
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return []


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_MAX_STARTS = 64
"""Places a plan's JSON may start at that parse_plan tries (bounds the work on a long garbled reply)."""


def _looks_like_plan(value: Any) -> bool:
    if isinstance(value, dict):
        return "tasks" in value
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def parse_plan(text: str) -> list[Task]:
    """Tasks from the lead model's reply: a JSON object {"tasks": [...]} (or a bare list), maybe in
    a fence. Each task: id, role, prompt, acceptance, title, deps: [{"task": id, "kind": ...}] or ids."""
    body = text.strip()
    fenced = _FENCE.search(body)
    if fenced:
        body = fenced.group(1).strip()
    starts = [i for i, c in enumerate(body) if c in "{["][:_MAX_STARTS]
    if not starts:
        raise PlanError('the plan must be JSON: {"tasks": [{"id": "t1", "role": ..., "prompt": ..., "deps": []}]}')
    # Prose before the JSON may hold a bracket ("Plan [draft 2]: {...}"): the first value that looks like
    # a plan wins; else what the first place holds is judged (its problem named, or its JSON error).
    decoder = json.JSONDecoder()
    first: Any = None
    data: Any = None
    for n, start in enumerate(starts):
        try:
            value, _ = decoder.raw_decode(body, start)
        except json.JSONDecodeError as exc:
            first = exc if n == 0 else first
            continue
        if _looks_like_plan(value):
            data = value
            break
        first = value if n == 0 else first
    else:
        if isinstance(first, json.JSONDecodeError):
            where = first.pos - starts[0]
            raise PlanError(f"the plan is not valid JSON ({first.msg} at character {where})") from None
        data = first
    items = data.get("tasks") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise PlanError('the plan must hold a list under "tasks"')
    tasks = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise PlanError(f"task {i} must be an object with role and prompt")
        deps = []
        for d in item.get("deps") or []:
            if isinstance(d, str):
                deps.append(Dep(task=d))
            elif isinstance(d, dict) and isinstance(d.get("task"), str):
                deps.append(Dep(task=d["task"], kind=d.get("kind", "blocks")))
            else:
                raise PlanError(f'task {i}: each dependency is a task id or {{"task": id, "kind": "blocks"}}')
        tasks.append(
            Task(
                id=str(item.get("id") or ""),
                role=str(item.get("role") or ""),
                prompt=str(item.get("prompt") or ""),
                acceptance=str(item.get("acceptance") or ""),
                title=str(item.get("title") or ""),
                deps=tuple(deps),
            )
        )
    return number(tasks)


TaskState = Literal["pending", "running", "done", "failed", "cancelled", "skipped"]
ENDED: frozenset[str] = frozenset({"done", "failed", "cancelled", "skipped"})


class Scheduler:
    """Which tasks may start: `ready()` -> tasks whose waiting dependencies are done, in plan order.

    `start(id)`, `finish(id, output)`, `fail(id)` move a task on; a failed task skips what waits on it.
    `revise(tasks)` replaces the pending part of the plan (running and ended tasks stay as they are).
    """

    def __init__(self, tasks: Sequence[Task]) -> None:
        self.tasks: dict[str, Task] = {}
        self.state: dict[str, TaskState] = {}
        self.outputs: dict[str, str] = {}
        self._load(tasks)

    def _load(self, tasks: Sequence[Task]) -> None:
        self._waiting: dict[str, int] = {}
        self._dependents: dict[str, list[str]] = {}
        for t in tasks:
            self.tasks[t.id] = t
            self.state.setdefault(t.id, "pending")
        for t in tasks:
            if self.state[t.id] != "pending":
                continue
            n = 0
            for d in t.deps:
                if d.kind in _WAITS:
                    self._dependents.setdefault(d.task, []).append(t.id)
                    if self.state.get(d.task) != "done":
                        n += 1
            self._waiting[t.id] = n
        self._ready = [t.id for t in tasks if self.state[t.id] == "pending" and self._waiting[t.id] == 0]
        for t in tasks:  # waiting on something that already failed: skipped at once
            if self.state[t.id] == "pending" and any(
                d.kind in _WAITS and self.state.get(d.task) in ("failed", "cancelled", "skipped") for d in t.deps
            ):
                self._skip(t.id)

    def ready(self) -> list[Task]:
        """Tasks that may start now (each returned once; call start() for those you start)."""
        out = [self.tasks[i] for i in self._ready if self.state[i] == "pending"]
        self._ready = []
        return out

    def start(self, task_id: str) -> None:
        self.state[task_id] = "running"

    def finish(self, task_id: str, output: str) -> list[str]:
        """Mark done; returns the ids that became ready."""
        self.state[task_id] = "done"
        self.outputs[task_id] = output
        became = []
        for dep in self._dependents.get(task_id, ()):
            if self.state.get(dep) != "pending":
                continue
            self._waiting[dep] -= 1
            if self._waiting[dep] == 0:
                became.append(dep)
        self._ready.extend(became)
        return became

    def fail(self, task_id: str, state: TaskState = "failed") -> list[str]:
        """Mark failed (or cancelled); returns the ids skipped because they waited on it."""
        self.state[task_id] = state
        skipped: list[str] = []
        for dep in self._dependents.get(task_id, ()):
            skipped += self._skip(dep)
        return skipped

    def _skip(self, task_id: str) -> list[str]:
        """Skip a pending task and, transitively, what waits on it (a loop: a chain of thousands of
        tasks must not hit the recursion limit)."""
        out: list[str] = []
        stack = [task_id]
        while stack:
            i = stack.pop()
            if self.state.get(i) != "pending":
                continue
            self.state[i] = "skipped"
            out.append(i)
            stack.extend(reversed(self._dependents.get(i, ())))
        return out

    def inputs(self, task_id: str) -> list[tuple[Task, str]]:
        """The outputs a task gets: of its requires_output and informs dependencies that are done."""
        task = self.tasks[task_id]
        return [
            (self.tasks[d.task], self.outputs[d.task])
            for d in task.deps
            if d.kind in ("requires_output", "informs") and d.task in self.outputs
        ]

    @property
    def finished(self) -> bool:
        return all(s in ENDED for s in self.state.values())

    @property
    def running(self) -> list[str]:
        return [i for i, s in self.state.items() if s == "running"]

    def revise(self, tasks: Sequence[Task]) -> list[str]:
        """Replace the pending tasks with `tasks` (ids of running or ended tasks keep their state).
        Returns the ids of pending tasks the revision dropped (now cancelled)."""
        new_ids = {t.id for t in tasks}
        dropped = [i for i, s in self.state.items() if s == "pending" and i not in new_ids]
        for i in dropped:
            self.state[i] = "cancelled"
        kept = [t for i, t in self.tasks.items() if self.state[i] != "pending" and i not in new_ids]
        self._load([*kept, *tasks])
        return dropped

    def counts(self) -> Mapping[str, int]:
        out: dict[str, int] = {}
        for s in self.state.values():
            out[s] = out.get(s, 0) + 1
        return out


def tasks_from(items: Iterable[Mapping[str, Any]]) -> list[Task]:
    """Tasks from plain dicts (the offline lead's steps; users' own plans)."""
    out = []
    for item in items:
        deps = tuple(
            Dep(task=d[0], kind=d[1]) if isinstance(d, tuple | list) else Dep(task=str(d)) for d in item.get("deps", ())
        )
        out.append(
            Task(
                id=str(item.get("id", "")),
                role=str(item["role"]),
                prompt=str(item["prompt"]),
                acceptance=str(item.get("acceptance", "")),
                title=str(item.get("title", "")),
                deps=deps,
            )
        )
    return number(out)
