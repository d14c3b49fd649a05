"""Plans: check_plan names every problem at once, parse_plan reads what models send, the scheduler
honours the dependency kinds, and the lead gets exactly one fix turn for a plan that cannot run."""

import pytest

from loom_nb.events import EventLog
from loom_nb.models import Response, ScriptedModel, TextPart, Usage
from loom_nb.swarm import Dep, PlanError, Scheduler, Swarm, Task, check_plan, parse_plan

ROLES = ["lead", "researcher", "architect", "implementer", "tester", "reviewer"]


def t(id: str, role: str = "researcher", *deps: tuple[str, str] | str, prompt: str = "") -> Task:
    return Task(
        id=id,
        role=role,
        prompt=prompt or f"do {id}",
        deps=tuple(Dep(task=d) if isinstance(d, str) else Dep(task=d[0], kind=d[1]) for d in deps),  # type: ignore[arg-type]
    )


# check_plan ------------------------------------------------------------------------------------


def problems(tasks: list[Task], max_tasks: int = 10) -> list[str]:
    with pytest.raises(PlanError) as info:
        check_plan(tasks, ROLES, max_tasks=max_tasks)
    return str(info.value).splitlines()


def test_a_good_plan_passes():
    check_plan([t("a"), t("b", "architect", ("a", "requires_output")), t("c", "implementer", "b")], ROLES, max_tasks=3)


def test_every_problem_is_named_at_once():
    tasks = [
        t("a", "wizard"),
        t("b", "lead"),
        t("a", "researcher"),
        t("c", "researcher", "ghost"),
        t("d", "researcher", "d"),
        t("e", "researcher", "f"),
        t("f", "researcher", ("e", "informs")),
    ]
    found = problems(tasks, max_tasks=5)
    assert found[0] == "the plan has 7 tasks; at most 5 are allowed: merge some"
    assert "task a: unknown role 'wizard'; the roles are architect, implementer, researcher, reviewer, tester" in found
    assert any(p.startswith("task b: the lead never takes a task") for p in found)
    assert "task id 'a' is used twice" in found
    assert "task c depends on unknown task 'ghost'" in found
    assert "task d depends on itself" in found
    # informs counts for cycles too: e waits on f, f is informed by e
    assert found[-1] == "the dependencies form a cycle: e -> f -> e"
    assert len(found) == 7


def test_a_longer_cycle_is_shown_from_where_it_closes():
    tasks = [t("a"), t("b", "researcher", "a", "d"), t("c", "researcher", "b"), t("d", "researcher", "c")]
    assert problems(tasks) == ["the dependencies form a cycle: b -> d -> c -> b"]


def test_no_tasks_bad_ids_empty_prompts_and_dependency_kinds():
    assert problems([]) == ["the plan has no tasks"]
    found = problems([Task(id="has space", role="researcher", prompt=" "), t("b", "researcher", ("has space", "soon"))])
    assert found == [
        "task id 'has space' must be 1-32 letters, digits, '.', '_' or '-'",
        "task has space: empty prompt",
        "task b: dependency kind 'soon' is not one of blocks, informs, requires_output",
    ]


# parse_plan ------------------------------------------------------------------------------------


def test_fenced_json_with_words_around_it():
    text = """Here is my plan:
```json
{"tasks": [
  {"id": "r1", "role": "researcher", "prompt": "Find the session store", "acceptance": "cites lines"},
  {"id": "a1", "role": "architect", "prompt": "Decide", "deps": [{"task": "r1", "kind": "requires_output"}]}
]}
```
Shall I go on?"""
    tasks = parse_plan(text)
    assert [(x.id, x.role, x.acceptance) for x in tasks] == [
        ("r1", "researcher", "cites lines"),
        ("a1", "architect", ""),
    ]
    assert tasks[1].deps == (Dep(task="r1", kind="requires_output"),)
    assert tasks[0].title == "Find the session store"


def test_a_bare_list_with_deps_as_strings_and_missing_ids():
    tasks = parse_plan(
        '[{"role": "researcher", "prompt": "x"}, {"id": "t1", "role": "architect", "prompt": "y"},'
        ' {"role": "implementer", "prompt": "z", "deps": ["t1", "t2"]}]'
    )
    # ids are given in order, skipping ids the model used itself
    assert [x.id for x in tasks] == ["t2", "t1", "t3"]
    assert tasks[2].deps == (Dep(task="t1", kind="blocks"), Dep(task="t2", kind="blocks"))


def test_a_bracket_in_the_prose_before_the_json_does_not_hide_the_plan():
    tasks = parse_plan('Plan [draft 2]: {"tasks": [{"id": "t1", "role": "researcher", "prompt": "look"}]}')
    assert [x.id for x in tasks] == ["t1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("I think we should first look around.", "the plan must be JSON"),
        ('{"tasks": [{"id": "t1", ', "the plan is not valid JSON"),
        ('Plan: {"tasks": [{"id": "t1", "role": "researcher", "prompt": "x"}, {"id"', "the plan is not valid JSON"),
        ('{"steps": []}', 'the plan must hold a list under "tasks"'),
        ('{"tasks": ["research it"]}', "task 1 must be an object with role and prompt"),
        ('{"tasks": [{"role": "researcher", "prompt": "x", "deps": [3]}]}', "task 1: each dependency is a task id"),
    ],
)
def test_garbage_is_a_plan_error_that_says_what_to_send(text, message):
    with pytest.raises(PlanError, match="^" + message.replace("[", r"\[").replace("(", r"\(")):
        parse_plan(text)


# Scheduler -------------------------------------------------------------------------------------


def ids(tasks: list[Task]) -> list[str]:
    return [x.id for x in tasks]


def test_blocks_and_requires_output_wait_informs_does_not():
    s = Scheduler(
        [
            t("a"),
            t("b", "researcher", ("a", "blocks")),
            t("c", "researcher", ("a", "requires_output")),
            t("d", "researcher", ("a", "informs")),
        ]
    )
    assert ids(s.ready()) == ["a", "d"]
    assert s.ready() == []  # each returned once
    s.start("a")
    s.start("d")
    assert s.inputs("d") == []  # a is not done yet: d gets nothing, and does not wait
    s.finish("d", "d's output")
    assert s.ready() == []
    assert s.finish("a", "a's output") == ["b", "c"]
    assert ids(s.ready()) == ["b", "c"]
    # requires_output passes the output; blocks does not
    assert [(x.id, out) for x, out in s.inputs("c")] == [("a", "a's output")]
    assert s.inputs("b") == []


def test_informs_passes_the_output_when_it_is_done_by_then():
    s = Scheduler([t("a"), t("b"), t("c", "researcher", ("a", "informs"), ("b", "blocks"))])
    assert ids(s.ready()) == ["a", "b"]
    s.start("a")
    s.start("b")
    s.finish("a", "from a")
    s.finish("b", "from b")
    assert [(x.id, out) for x, out in s.inputs("c")] == [("a", "from a")]


def test_fail_skips_dependents_transitively_but_not_the_informed():
    s = Scheduler(
        [
            t("a"),
            t("b", "researcher", "a"),
            t("c", "researcher", ("b", "requires_output")),
            t("d", "researcher", ("a", "informs")),
            t("e"),
        ]
    )
    assert ids(s.ready()) == ["a", "d", "e"]
    s.start("a")
    assert sorted(s.fail("a")) == ["b", "c"]
    assert s.state == {"a": "failed", "b": "skipped", "c": "skipped", "d": "pending", "e": "pending"}
    assert not s.finished
    for x in ("d", "e"):
        s.start(x)
        s.finish(x, "")
    assert s.finished and s.counts() == {"failed": 1, "skipped": 2, "done": 2}


def test_a_long_chain_fails_without_recursion_limits():
    n = 5_000
    s = Scheduler([t("t0"), *(t(f"t{i}", "researcher", f"t{i - 1}") for i in range(1, n))])
    assert ids(s.ready()) == ["t0"]
    s.start("t0")
    assert len(s.fail("t0")) == n - 1
    assert s.finished


def test_revise_drops_pending_tasks_and_keeps_what_ran():
    s = Scheduler([t("a"), t("b"), t("c", "researcher", "a"), t("d", "researcher", "c")])
    assert ids(s.ready()) == ["a", "b"]
    s.start("a")
    s.start("b")
    s.finish("a", "A")
    assert ids(s.ready()) == ["c"]  # ready, not started yet
    # the lead replaces the pending part: c gets a new prompt, d is dropped, e waits on b (running) and a (done)
    dropped = s.revise([t("c", prompt="do c better"), t("e", "researcher", "a", "b")])
    assert dropped == ["d"]
    assert s.state == {"a": "done", "b": "running", "c": "pending", "d": "cancelled", "e": "pending"}
    assert [(x.id, x.prompt) for x in s.ready()] == [("c", "do c better")]
    s.start("c")
    s.finish("c", "C")
    assert s.ready() == []
    assert s.finish("b", "B") == ["e"]
    assert ids(s.ready()) == ["e"]


def test_a_revised_task_waiting_on_a_failed_one_is_skipped_at_once():
    s = Scheduler([t("a"), t("b")])
    s.ready()
    s.start("a")
    s.fail("a")
    s.revise([t("c", "researcher", "a"), t("d", "researcher", "c"), t("e")])
    assert s.state == {"a": "failed", "b": "cancelled", "c": "skipped", "d": "skipped", "e": "pending"}
    assert ids(s.ready()) == ["e"]


def test_a_revision_hands_back_a_ready_task_that_was_not_started_yet():
    """The crew must not start it twice (tests/swarm/test_crew.py checks that it does not)."""
    s = Scheduler([t("a"), t("b")])
    assert ids(s.ready()) == ["a", "b"]
    s.start("a")
    s.revise([t("b", prompt="do b better")])
    assert [(x.id, x.prompt) for x in s.ready()] == [("b", "do b better")]


# the lead's one fix ----------------------------------------------------------------------------

GOOD = '{"tasks": [{"id": "t1", "role": "researcher", "prompt": "where is x set?"}]}'
BAD = '{"tasks": [{"id": "t1", "role": "wizard", "prompt": "where is x set?"}]}'


def lead_of(plans: list[str], seen: list[str]) -> ScriptedModel:
    """Answers each planning turn with the next of `plans` (recording the last prompt), then answers."""

    def fn(messages, tools):
        last = messages[-1].text
        seen.append(last)
        if last.startswith("Request:"):
            return "the answer"
        text = plans.pop(0)
        return Response(parts=(TextPart(text=text),), usage=Usage(input_tokens=5), model="scripted:lead", cost_usd=0.0)

    return ScriptedModel(fn, name="scripted:lead")


async def test_a_plan_with_an_unknown_role_gets_exactly_one_fix_turn(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    seen: list[str] = []
    swarm = Swarm(
        "Where is x set?",
        project=tmp_path,
        model=lead_of([BAD, GOOD], seen),
        weak=ScriptedModel(["x is set in a.py:1"]),
        record=False,
    )
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "done", result.error
    assert seen[0] == "Where is x set?"
    assert seen[1].startswith("The plan cannot run:\ntask t1: unknown role 'wizard'; the roles are ")
    assert "Send the whole corrected plan, as JSON only." in seen[1]
    assert len([s for s in seen if not s.startswith("Request:")]) == 2
    (plan,) = log.of_kind("plan_made")
    assert [(x.id, x.role) for x in plan.tasks] == [("t1", "researcher")]
    assert [r.status for r in result.tasks] == ["done"]


async def test_a_second_bad_plan_fails_the_run_saying_why(tmp_path):
    seen: list[str] = []
    swarm = Swarm("Where is x set?", project=tmp_path, model=lead_of([BAD, BAD, GOOD], seen), record=False)
    log = EventLog(swarm.bus)
    result = await swarm.run()
    assert result.status == "failed"
    assert result.error == (
        "PlanError: the lead's plan could not run, even after one fix: task t1: unknown role 'wizard'; "
        "the roles are architect, implementer, researcher, reviewer, tester"
    )
    assert len(seen) == 2  # the plan, one fix; no third try, no specialist
    assert log.of_kind("plan_made") == [] and log.of_kind("task_status") == []
    assert [e.status for e in log.of_kind("session_ended")] == ["failed"]
