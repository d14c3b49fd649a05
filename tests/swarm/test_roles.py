"""Roles as data: the built-ins, versions on redefinition, refusals that name the fix, .loom.toml
[roles.NAME] tables, and what a running swarm does with roles (versions per spawn, tools outside
the role refused with the role that has them)."""

import re
from dataclasses import replace

import pytest

import loom_nb
from loom_nb.events import EventLog
from loom_nb.models import ScriptedModel, tool_call
from loom_nb.swarm import BUILTIN_ROLES, Dep, Role, RoleBook, RoleError, Swarm, Task, define_role, roles, tool_catalog
from loom_nb.swarm._roles import _builtin

SCOUT = Role(
    name="scout",
    description="looks around and reports",
    system_prompt="You scout. At most {limit} iterations.",
    tools=("file_read", "complete_task"),
    model="weak",
    max_iterations=4,
)


@pytest.fixture
def book() -> RoleBook:
    return roles.copy()


@pytest.fixture
def process_roles():
    """Restore the process-wide roles after a test that defines some."""
    saved = dict(roles._roles)
    yield roles
    with roles._lock:
        roles._roles.clear()
        roles._roles.update(saved)


# the built-ins ---------------------------------------------------------------------------------


def test_the_six_built_in_roles():
    assert sorted(BUILTIN_ROLES) == ["architect", "implementer", "lead", "researcher", "reviewer", "tester"]
    assert [BUILTIN_ROLES[n].model for n in ("architect", "implementer", "researcher", "tester")] == [
        "strong",
        "default",
        "weak",
        "weak",
    ]
    assert BUILTIN_ROLES["lead"].tools == () and not BUILTIN_ROLES["lead"].writes
    # only the implementer edits; everyone with a task ends it with complete_task
    assert [n for n, r in BUILTIN_ROLES.items() if r.writes] == ["implementer"] + (
        ["tester"] if "run_tests" in BUILTIN_ROLES["tester"].tools else []  # it runs commands
    )
    for name in ("architect", "implementer", "tester", "reviewer"):
        assert "complete_task" in BUILTIN_ROLES[name].tools
    assert {"file_write", "file_edit"} <= set(BUILTIN_ROLES["implementer"].tools)
    assert "decision_log" in BUILTIN_ROLES["architect"].tools
    assert not {"file_write", "file_edit", "shell"} & set(BUILTIN_ROLES["architect"].tools)
    assert "{limit}" in BUILTIN_ROLES["researcher"].system_prompt


def test_every_built_in_role_s_declared_tools_exist():
    catalog = tool_catalog()
    missing = {r.name: [t for t in r.tools if t not in catalog] for r in _builtin().values()}
    assert {n: m for n, m in missing.items() if m} == {}
    assert {n: r.tools for n, r in BUILTIN_ROLES.items()} == {n: r.tools for n, r in _builtin().items()}


# defining --------------------------------------------------------------------------------------


def test_define_and_redefine_bump_the_version(book):
    first = book.define(SCOUT)
    assert first.version == 1 and not first.writes
    second = book.define(replace(SCOUT, max_iterations=8))
    assert second.version == 2 and book["scout"].max_iterations == 8
    assert book.define(replace(SCOUT, tools=("file_read", "file_write"))).writes  # computed, not declared
    before = book["reviewer"].version
    assert book.define(replace(book["reviewer"], max_iterations=3)).version == before + 1
    book.reset("reviewer")
    assert book["reviewer"].max_iterations == BUILTIN_ROLES["reviewer"].max_iterations
    assert book["reviewer"].version == before + 2
    assert "scout" in book and "scout" not in roles  # a copy's definitions stay in the copy


def test_define_role_in_python_and_by_keywords(process_roles):
    made = define_role(SCOUT)
    assert loom_nb.roles["scout"] is made and made.version == 1
    sec = define_role(name="security", extends="reviewer", description="looks for injection and leaks")
    assert sec.version == 1 and sec.tools == BUILTIN_ROLES["reviewer"].tools
    assert sec.system_prompt == BUILTIN_ROLES["reviewer"].system_prompt
    with pytest.raises(TypeError, match="a Role or keyword values, not both"):
        define_role(SCOUT, name="x")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tools": ("file_reed",)}, "role 'scout' names an unknown tool 'file_reed': did you mean 'file_read'"),
        ({"tools": ("teleport",)}, "role 'scout' names an unknown tool 'teleport': the tools are "),
        ({"model": "gpt-4o"}, "role 'scout': model string 'gpt-4o' names no provider"),
        ({"model": "antropic:claude-haiku-4-5"}, "names an unknown provider 'antropic': did you mean 'anthropic'"),
        ({"preset": "yolo"}, "role 'scout': unknown preset 'yolo'; use strict, balanced, autonomous"),
        ({"restart": "always"}, "role 'scout': restart must be one of permanent, transient, temporary; got 'always'"),
        ({"max_restarts": -1}, "role 'scout': max_restarts must be an int >= 0; got -1"),
        ({"budget_usd": 0.0}, "role 'scout': budget_usd must be > 0 (or None); got 0.0"),
        ({"token_budget": -5}, "role 'scout': token_budget must be > 0 (or None); got -5"),
        ({"max_iterations": 0}, "role 'scout': max_iterations must be 1..200; got 0"),
        ({"name": "Scout Two"}, "role name 'Scout Two' must be lower-case letters"),
        ({"description": "  "}, "role 'scout' needs a description"),
        ({"system_prompt": ""}, "role 'scout' needs a system prompt"),
    ],
)
def test_a_role_that_cannot_work_is_refused_with_the_fix(book, change, message):
    with pytest.raises(RoleError) as info:
        book.define(replace(SCOUT, **change))
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert "scout" not in book  # nothing half-defined


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"budget_usd": "5"}, "budget_usd must be > 0 (or None); got '5'"),
        ({"max_restarts": 1.5}, "max_restarts must be an int >= 0; got 1.5"),
        ({"max_iterations": True}, "max_iterations must be 1..200; got True"),
        ({"description": 3}, "description must be a string; got 3"),
        ({"model": None}, "model must be a string; got None"),
    ],
)
def test_wrong_types_from_python_are_role_errors_too(book, change, message):
    with pytest.raises(RoleError, match=re.escape(message)):
        book.define(replace(SCOUT, **change))


# .loom.toml ------------------------------------------------------------------------------------


def test_loom_toml_roles_extend_redefine_and_add(tmp_path, book):
    (tmp_path / ".loom.toml").write_text(
        """
[roles.security]
extends = "reviewer"
description = "reviews the diff for injection and secrets"
budget_usd = 1
max_iterations = 6

[roles.tester]
max_iterations = 4

[roles.docs-writer]
description = "writes the docs of a change"
system_prompt = "You write docs."
tools = ["file_read", "file_write", "complete_task"]
model = "weak"
restart = "temporary"
"""
    )
    project = book.with_project(tmp_path)
    sec = project["security"]
    assert (sec.version, sec.max_iterations, sec.budget_usd, sec.tools) == (
        1,
        6,
        1.0,
        BUILTIN_ROLES["reviewer"].tools,
    )
    assert project["tester"].max_iterations == 4 and project["tester"].version == book["tester"].version + 1
    assert project["tester"].system_prompt == book["tester"].system_prompt  # the rest as it was
    docs = project["docs-writer"]
    assert docs.writes and docs.restart == "temporary" and docs.model == "weak"
    assert "security" not in book and book["tester"].max_iterations != 4  # the book it came from is untouched


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('roles = "all"', "[roles] must hold one table per role, like [roles.reviewer]"),
        ("[roles]\nscout = 3", "[roles.scout] must be a table with description, system_prompt, tools, model"),
        ('[roles.tester]\ntool = ["file_read"]', "[roles.tester]: unknown key 'tool'; the keys are "),
        (
            '[roles.tester]\ntools = "file_read"',
            '[roles.tester]: tools must be a list of tool names, like ["file_read"',
        ),
        ('[roles.tester]\nmax_iterations = "5"', "[roles.tester]: max_iterations must be an integer; got '5'"),
        ("[roles.tester]\nbudget_usd = true", "[roles.tester]: budget_usd must be a number of USD; got True"),
        ("[roles.tester]\nmodel = 4", "[roles.tester]: model must be a string; got 4"),
        ('[roles.scout]\ndescription = "x"', "[roles.scout]: a new role needs a system prompt (system_prompt = ..."),
        ('[roles.sec]\nextends = "ghost"', "[roles.sec]: extends 'ghost', which is not a role; the roles are "),
        ('[roles.tester]\ntools = ["file_reed"]', "role 'tester' names an unknown tool 'file_reed': did you mean"),
        ("[roles.tester\nx = 1", ".loom.toml"),
    ],
)
def test_a_malformed_roles_table_says_where_and_what(tmp_path, book, toml, message):
    (tmp_path / ".loom.toml").write_text(toml + "\n")
    with pytest.raises(RoleError if "roles.tester\n" not in toml else loom_nb.config.ConfigError) as info:
        book.with_project(tmp_path)
    assert message in str(info.value)
    assert str(tmp_path / ".loom.toml") in str(info.value) or "role 'tester'" in str(info.value)


async def test_a_bad_roles_table_stops_a_swarm_before_it_starts(tmp_path):
    (tmp_path / ".loom.toml").write_text('[roles.tester]\ntools = ["file_reed"]\n')
    with pytest.raises(RoleError, match="did you mean 'file_read'"):
        Swarm("x y z", project=tmp_path, record=False)


# a running swarm -------------------------------------------------------------------------------


def scout_model(on_first_turn=None) -> ScriptedModel:
    """A specialist that reads a.py, then completes its task; `on_first_turn(task_id)` runs as it starts."""

    async def fn(messages, tools):
        task = messages[0].text.split()[1]
        turns = sum(1 for m in messages if m.role == "assistant")
        if turns == 0:
            if on_first_turn is not None:
                await on_first_turn(task)
            return tool_call("file_read", path="a.py")
        if turns == 1:
            return tool_call("complete_task", summary=f"{task} read a.py")
        return "done"

    return ScriptedModel(fn, name="scripted:scout")


async def test_a_redefinition_mid_run_reaches_the_next_spawn_only(tmp_path, book):
    """t1's scout keeps version 1 (and its tools) to its end; t2, spawned after, is made from version 2."""
    (tmp_path / "a.py").write_text("x = 1\n")
    book.define(SCOUT)
    swarm: Swarm

    async def redefine(task: str) -> None:
        if task == "t1":  # as a %%loom_role cell would, while t1 works
            swarm.book.define(replace(SCOUT, tools=("file_read", "content_search", "complete_task")))

    model = scout_model(redefine)
    swarm = Swarm(
        "scout twice",
        project=tmp_path,
        model=ScriptedModel(["the answer"]),
        weak=model,
        roles=book,
        plan=[
            Task(id="t1", role="scout", prompt="look"),
            Task(id="t2", role="scout", prompt="look again", deps=(Dep(task="t1"),)),
        ],
        record=False,
    )
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "done", result.error
    spawned = {e.agent: (e.role_version, e.task) for e in log.of_kind("agent_spawned") if e.role == "scout"}
    assert spawned == {"scout-1": (1, "t1"), "scout-2": (2, "t2")}
    tools_seen = {messages[0].text.split()[1]: sorted(t.name for t in tools) for messages, tools, _ in model.requests}
    assert tools_seen == {
        "t1": ["complete_task", "file_read"],
        "t2": ["complete_task", "content_search", "file_read"],
    }


async def test_a_tool_outside_the_role_is_refused_naming_the_role_that_has_it(tmp_path, book):
    (tmp_path / "a.py").write_text("x = 1\n")
    book.define(SCOUT)
    results: list[str] = []

    def fn(messages, tools):
        turns = sum(1 for m in messages if m.role == "assistant")
        if messages[0].text.startswith("Task t1"):  # the architect: done at once
            return tool_call("complete_task", summary="decided") if turns == 0 else "ok"
        if turns == 0:
            return tool_call("decision_log", node_type="decision", title="use a dict")
        if turns == 1:
            results.append(messages[-1].parts[0].content)
            return tool_call("complete_task", summary="could not log")
        return "ok"

    model = ScriptedModel(fn)
    swarm = Swarm(
        "x y z",
        project=tmp_path,
        model=ScriptedModel(["the answer"]),
        strong=model,
        weak=model,
        roles=book,
        plan=[
            Task(id="t1", role="architect", prompt="decide"),
            Task(id="t2", role="scout", prompt="log it", deps=(Dep(task="t1"),)),
        ],
        record=False,
    )
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "done", result.error
    assert results == [
        "tool 'decision_log' is not available to this agent (role scout); it may use only complete_task, "
        "file_read. Nothing was run. Role architect or implementer or reviewer has it: ask architect-1 with "
        "send_message."
    ]
    (refused,) = [e for e in log.of_kind("tool_call") if e.tool == "decision_log"]
    assert refused.outcome == "refused" and refused.agent == "scout-1"


async def test_a_process_wide_redefinition_mid_run_reaches_the_run_s_next_spawn(tmp_path, process_roles):
    (tmp_path / "a.py").write_text("x = 1\n")
    define_role(SCOUT)

    async def redefine(task: str) -> None:
        if task == "t1":  # a %%loom_role cell, run while t1 works
            define_role(replace(SCOUT, tools=("file_read", "content_search", "complete_task")))

    swarm = Swarm(
        "scout twice",
        project=tmp_path,
        model=ScriptedModel(["the answer"]),
        weak=scout_model(redefine),
        plan=[
            Task(id="t1", role="scout", prompt="look"),
            Task(id="t2", role="scout", prompt="look again", deps=(Dep(task="t1"),)),
        ],
        record=False,
    )
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "done", result.error
    spawned = {e.agent: e.role_version for e in log.of_kind("agent_spawned") if e.role == "scout"}
    assert spawned == {"scout-1": 1, "scout-2": 2}
