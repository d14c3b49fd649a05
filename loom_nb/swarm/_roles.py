"""Roles as data: what a lead can hand work to, and how agents of each kind are made.

A `Role` is a plain frozen record (name, description the lead reads, system prompt, tool names,
model tier, limits, permission preset, restart policy). The `RoleBook` holds the roles a run may use:
the built-in six, then the project's `.loom.toml [roles.NAME]` tables, then what the user defines in
Python or with a `%%loom_role NAME` cell. Defining a role again makes a new version: the next spawn
uses it, agents already running keep theirs, and each agent records the version it was made from.
A role that names an unknown tool or model is refused when it is defined, with the fix.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from ..config import ConfigError, read_toml
from ..tools import Tool

__all__ = [
    "BUILTIN_ROLES",
    "ROLES",
    "Role",
    "RoleBook",
    "RoleError",
    "define_role",
    "roles",
    "tool_catalog",
]

Tier = Literal["strong", "default", "weak"]
TIERS: tuple[str, ...] = ("strong", "default", "weak")
RestartPolicy = Literal["permanent", "transient", "temporary"]
RESTARTS: tuple[str, ...] = ("permanent", "transient", "temporary")
PRESETS: tuple[str, ...] = ("strict", "balanced", "autonomous")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class RoleError(ConfigError):
    """A role that cannot be used: the message names the fix."""


@dataclass(frozen=True, kw_only=True)
class Role:
    """How agents of one kind are made. Build one, then `loom_nb.define_role(role)`."""

    name: str
    description: str
    """One line the lead reads to decide which role gets a task."""
    system_prompt: str
    """Its agents' instructions; `{limit}` is replaced by max_iterations."""
    tools: tuple[str, ...] = ("file_read", "file_search", "content_search", "directory_list")
    """Tool names (`loom_nb.swarm.tool_catalog()` lists them). A call to any other tool is refused."""
    model: str = "default"
    """A tier of the run's models (strong, default, weak) or an explicit model string."""
    max_iterations: int = 12
    budget_usd: float | None = None
    """A cap per agent of this role (on top of the run's budget)."""
    token_budget: int | None = None
    preset: str | None = None
    """Permission preset for its agents (None: the run's)."""
    restart: RestartPolicy = "transient"
    """permanent: always restarted; transient: restarted after a crash; temporary: never."""
    max_restarts: int = 2
    """Restarts allowed (within 60 s) before the lead is told and re-plans."""
    writes: bool = False
    """Its agents change the workspace (the run then makes one)."""
    version: int = 0
    """Set by the RoleBook: 1 for the first definition, +1 for each redefinition."""

    def __post_init__(self) -> None:
        if not isinstance(self.tools, tuple):
            object.__setattr__(self, "tools", tuple(self.tools))

    def tier(self) -> str | None:
        return self.model if self.model in TIERS else None


def tool_catalog() -> dict[str, Tool]:
    """Every tool a role may name, by name (the tools layer's and the swarm's own)."""
    from .. import tools as t
    from ._team import TEAM_TOOLS

    catalog: dict[str, Tool] = {}
    for tool in (*t.READ_ONLY_TOOLS, *t.HANDS_TOOLS, t.decision_log, t.decision_query, *_optional_tools()):
        catalog[tool.name] = tool
    for tool in TEAM_TOOLS():
        catalog[tool.name] = tool
    return catalog


def _optional_tools() -> tuple[Tool, ...]:
    """Tools that live in modules landing separately (tests, the diff for reviewers)."""
    from .. import tools as t

    return tuple(getattr(t, name) for name in ("run_tests", "workspace_diff") if hasattr(t, name))


def _check(role: Role) -> Role:
    """Refuse what cannot work, saying how to fix it."""
    where = f"role {role.name!r}"
    if not isinstance(role.name, str) or not _NAME.fullmatch(role.name):
        raise RoleError(
            f"role name {role.name!r} must be lower-case letters, digits, - or _ (at most 32), like 'security-reviewer'"
        )
    for key in ("description", "system_prompt", "model"):
        if not isinstance(getattr(role, key), str):
            raise RoleError(f"{where}: {key} must be a string; got {getattr(role, key)!r}")
    if not role.description.strip():
        raise RoleError(f"{where} needs a description: one line that tells the lead what it is for")
    if role.name != "lead" and not role.system_prompt.strip():
        raise RoleError(f"{where} needs a system prompt (the cell body of %%loom_role, or system_prompt=...)")
    catalog = tool_catalog()
    for name in role.tools:
        if name not in catalog:
            close = difflib.get_close_matches(name, sorted(catalog), n=2, cutoff=0.6)
            hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
            raise RoleError(f"{where} names an unknown tool {name!r}: {hint}the tools are {', '.join(sorted(catalog))}")
    if role.model not in TIERS:
        from ..models import parse_model_string

        try:
            parse_model_string(role.model)
        except ValueError as exc:
            raise RoleError(f"{where}: {exc} (or use a tier: strong, default, weak)") from None
    if _not_int(role.max_iterations) or not 1 <= role.max_iterations <= 200:
        raise RoleError(f"{where}: max_iterations must be 1..200; got {role.max_iterations!r}")
    if role.budget_usd is not None and (_not_number(role.budget_usd) or not role.budget_usd > 0):
        raise RoleError(f"{where}: budget_usd must be > 0 (or None); got {role.budget_usd!r}")
    if role.token_budget is not None and (_not_int(role.token_budget) or not role.token_budget > 0):
        raise RoleError(f"{where}: token_budget must be > 0 (or None); got {role.token_budget!r}")
    if role.preset is not None and role.preset not in PRESETS:
        raise RoleError(f"{where}: unknown preset {role.preset!r}; use {', '.join(PRESETS)}")
    if role.restart not in RESTARTS:
        raise RoleError(f"{where}: restart must be one of {', '.join(RESTARTS)}; got {role.restart!r}")
    if _not_int(role.max_restarts) or role.max_restarts < 0:
        raise RoleError(f"{where}: max_restarts must be an int >= 0; got {role.max_restarts!r}")
    writes = any(catalog[n].permission in ("write", "execute") for n in role.tools)
    return replace(role, writes=writes)


def _not_int(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


def _not_number(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int | float)


class RoleBook:
    """The roles a run may use, by name, with versions. Thread-safe: a `%%loom_role` cell may
    redefine a role while a run on the swarm thread spawns agents from it.

    A book may have a parent (a run's book over the process's `loom_nb.roles`): it looks a role up in
    its own definitions first, then in the parent's as they are now, so a role redefined in the
    process during a run reaches that run's next spawn (unless the project's own table defines it)."""

    def __init__(self, roles: Mapping[str, Role] | None = None, *, parent: RoleBook | None = None) -> None:
        self._lock = threading.Lock()
        self._roles: dict[str, Role] = dict(roles or {})
        self.parent = parent

    def _lookup(self, name: str) -> Role | None:
        with self._lock:
            role = self._roles.get(name)
        if role is None and self.parent is not None:
            return self.parent._lookup(name)
        return role

    def _all(self) -> dict[str, Role]:
        merged = self.parent._all() if self.parent is not None else {}
        with self._lock:
            merged.update(self._roles)
        return merged

    def define(self, role: Role) -> Role:
        """Add or replace a role; returns it with its version. Raises RoleError with the fix."""
        checked = _check(role)
        with self._lock:
            old = self._roles.get(checked.name)
            if old is None and self.parent is not None:
                old = self.parent._lookup(checked.name)
            checked = replace(checked, version=(old.version if old else 0) + 1)
            self._roles[checked.name] = checked
        return checked

    def get(self, name: str) -> Role:
        role = self._lookup(name)
        if role is None:
            raise RoleError(f"no role {name!r}; the roles are {', '.join(self.names())}")
        return role

    def __getitem__(self, name: str) -> Role:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name) is not None

    def __iter__(self) -> Iterator[Role]:
        return iter(list(self._all().values()))

    def __len__(self) -> int:
        return len(self._all())

    def names(self) -> list[str]:
        return sorted(self._all())

    def values(self) -> list[Role]:
        return list(self)

    def copy(self) -> RoleBook:
        with self._lock:
            return RoleBook(self._roles, parent=self.parent)

    def reset(self, name: str | None = None) -> None:
        """Back to the built-in definition (of one role, or all), as a new version."""
        for role in BUILTIN_ROLES.values():
            if name is None or role.name == name:
                self.define(replace(role, version=0))
        if name is None:
            with self._lock:
                for extra in [n for n in self._roles if n not in BUILTIN_ROLES]:
                    del self._roles[extra]

    def with_project(self, project: str | Path) -> RoleBook:
        """A book over this one with the project's `.loom.toml [roles.NAME]` tables defined in it (this
        book's later redefinitions still show through for the roles the project does not define)."""
        book = RoleBook(parent=self)
        path = Path(project) / ".loom.toml"
        table = read_toml(path).get("roles", {})
        if not isinstance(table, dict):
            raise RoleError(f"{path}: [roles] must hold one table per role, like [roles.reviewer]")
        for name, entry in table.items():
            book.define(role_from_table(name, entry, book, where=f"{path}: [roles.{name}]"))
        return book

    def describe(self) -> str:
        """One line per role, as the lead reads them."""
        return "\n".join(f"- {r.name}: {r.description} (tools: {', '.join(r.tools) or 'none'})" for r in self)

    def frame(self) -> Any:
        """The roles as a DataFrame (for `%loom roles`)."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "role": r.name,
                    "version": r.version,
                    "model": r.model,
                    "tools": ", ".join(r.tools),
                    "writes": r.writes,
                    "max_iterations": r.max_iterations,
                    "budget_usd": r.budget_usd,
                    "preset": r.preset,
                    "restart": r.restart,
                    "description": r.description,
                }
                for r in self
            ]
        )


_TABLE_KEYS = {f.name for f in fields(Role)} - {"name", "writes", "version"} | {"extends"}


def role_from_table(name: str, entry: Any, book: RoleBook, *, where: str) -> Role:
    """A role from a TOML table (or %%loom_role options): `extends` copies a defined role first."""
    if not isinstance(entry, dict):
        raise RoleError(f"{where} must be a table with description, system_prompt, tools, model, ...")
    unknown = sorted(set(entry) - _TABLE_KEYS)
    if unknown:
        raise RoleError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(_TABLE_KEYS))}")
    values = dict(entry)
    base_name = values.pop("extends", name if name in book else None)
    if base_name is not None and base_name not in book:
        raise RoleError(f"{where}: extends {base_name!r}, which is not a role; the roles are {', '.join(book.names())}")
    for key in ("tools",):
        if key in values and (
            not isinstance(values[key], list | tuple) or not all(isinstance(v, str) for v in values[key])
        ):
            raise RoleError(f'{where}: {key} must be a list of tool names, like ["file_read", "content_search"]')
    for key in ("description", "system_prompt", "model", "preset", "restart"):
        if key in values and not isinstance(values[key], str):
            raise RoleError(f"{where}: {key} must be a string; got {values[key]!r}")
    for key in ("max_iterations", "max_restarts", "token_budget"):
        if key in values and (isinstance(values[key], bool) or not isinstance(values[key], int)):
            raise RoleError(f"{where}: {key} must be an integer; got {values[key]!r}")
    if "budget_usd" in values and (
        isinstance(values["budget_usd"], bool) or not isinstance(values["budget_usd"], int | float)
    ):
        raise RoleError(f"{where}: budget_usd must be a number of USD; got {values['budget_usd']!r}")
    if "tools" in values:
        values["tools"] = tuple(values["tools"])
    if "budget_usd" in values:
        values["budget_usd"] = float(values["budget_usd"])
    if base_name is not None:
        return replace(book.get(base_name), name=name, version=0, **values)
    missing = [k for k in ("description", "system_prompt") if k not in values]
    if missing:
        said = {
            "description": "a description (one line the lead reads)",
            "system_prompt": "a system prompt (system_prompt = ..., or the body of a %%loom_role cell)",
        }
        raise RoleError(
            f"{where}: a new role needs {' and '.join(said[m] for m in missing)}, or extends = an existing role"
        )
    return Role(name=name, **values)


# the built-in roles ----------------------------------------------------------------------------

_READ = ("file_read", "file_search", "content_search", "directory_list")
_TALK = ("send_message", "ask", "broadcast")
_DONE = ("complete_task",)

LEAD_PROMPT = """You lead a team of specialists working on a codebase. You never edit files yourself:
you plan, dispatch, and answer."""

RESEARCHER_PROMPT = """You are a researcher in a swarm led by a lead agent. You get one research question
about the codebase. Your tools can search and read files only (file_search, content_search, file_read,
directory_list); paths are relative to the scope root.

Search, read the most relevant places, then answer the question: findings first, then the evidence
as one `path:line: what it shows` per line, citing only lines you have read. You have at most {limit}
iterations."""

ARCHITECT_PROMPT = """You are the architect of a team that changes a codebase. Read what the task and the
researchers' findings point to, then decide how the change should be made. Record each decision with
decision_log (node_type "decision", your confidence 0-100) and the options you rejected (node_type
"option", linked with edge_type "rejected"), with the reason. Then call complete_task: the summary gives
the implementers concrete steps (which files, which edits, in which order) and the decisions you
recorded. You do not edit files. You have at most {limit} iterations."""

IMPLEMENTER_PROMPT = """You are an implementer. You edit the run's workspace (a git worktree of the
project): file_edit for exact replacements (the old text must match exactly and once, or use
replace_all), file_write for new files, file_move and file_delete. Every edit becomes a commit. Follow the
architect's steps; read before you edit. When a tester sends you failures, fix them and reply. Finish
with complete_task: summary, files_changed, decisions you made. You have at most {limit} iterations."""

TESTER_PROMPT = """You are the tester. Run the project's tests with run_tests. If they fail, send the
failures (test ids and messages) to the implementer with ask and run the tests again once it answers,
for at most the rounds your task allows. Finish with complete_task: test_results says what passed and
what failed. You do not edit files. You have at most {limit} iterations."""

REVIEWER_PROMPT = """You are the reviewer. Read the run's diff (workspace_diff) and the files around it,
and record each finding with decision_log (node_type "observation", with your confidence). Finish with
complete_task listing the findings; open_questions holds what a human should decide. You have at most
{limit} iterations."""


def _builtin() -> dict[str, Role]:
    roles = [
        Role(
            name="lead",
            description="plans the work, dispatches tasks, revises the plan and answers; never writes",
            system_prompt=LEAD_PROMPT,
            tools=(),
            model="default",
            max_iterations=1,
            restart="permanent",
        ),
        Role(
            name="researcher",
            description="searches and reads the code to answer one question, citing path:line",
            system_prompt=RESEARCHER_PROMPT,
            tools=_READ,  # its answer is its report: cited lines, checked against the files
            model="weak",
            max_iterations=10,
            restart="temporary",  # read-only and cheap: a crash is reported and the lead re-plans
        ),
        Role(
            name="architect",
            description="decides how a change is made, records decisions and rejected options, hands over steps",
            system_prompt=ARCHITECT_PROMPT,
            tools=(*_READ, "decision_log", "decision_query", *_TALK, *_DONE),
            model="strong",
            max_iterations=12,
        ),
        Role(
            name="implementer",
            description="edits files in the run's workspace, one commit per edit, and fixes failing tests",
            system_prompt=IMPLEMENTER_PROMPT,
            tools=(*_READ, "file_write", "file_edit", "file_delete", "file_move", "decision_log", *_TALK, *_DONE),
            model="default",
            max_iterations=25,
        ),
        Role(
            name="tester",
            description="runs the project's tests, reports results and sends failures to the implementer",
            system_prompt=TESTER_PROMPT,
            tools=(*_READ, "run_tests", *_TALK, *_DONE),
            model="weak",
            max_iterations=12,
        ),
        Role(
            name="reviewer",
            description="reads the run's diff and records findings (optional in plans)",
            system_prompt=REVIEWER_PROMPT,
            tools=(*_READ, "workspace_diff", "decision_log", *_TALK, *_DONE),
            model="default",
            max_iterations=10,
        ),
    ]
    return {r.name: r for r in roles}


BUILTIN_ROLES: dict[str, Role] = {}
"""The six roles every run starts from (filled at import, after the tool catalog can be read)."""
roles = RoleBook()
"""The process's roles: `loom_nb.roles.define(Role(...))`, `%%loom_role NAME`."""
ROLES = roles
"""Old name of `roles` (a mapping from role name to Role)."""


def define_role(role: Role | None = None, /, **values: Any) -> Role:
    """Define (or redefine) a role for later runs of this process: `define_role(Role(...))`, or
    `define_role(name="security", extends="reviewer", description=...)`."""
    if role is not None:
        if values:
            raise TypeError("define_role takes a Role or keyword values, not both")
        return roles.define(role)
    name = values.pop("name", None)
    if not isinstance(name, str):
        raise RoleError("define_role needs name='...'")
    return roles.define(role_from_table(name, values, roles, where=f"role {name!r}"))


def _install_builtins() -> None:
    known = tool_catalog()
    for role in _builtin().values():
        # Tools of modules not installed are left out here, and tests/swarm/test_roles.py fails then.
        defined = roles.define(replace(role, tools=tuple(n for n in role.tools if n in known)))
        BUILTIN_ROLES[defined.name] = defined


_install_builtins()
