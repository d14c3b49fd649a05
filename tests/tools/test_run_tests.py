"""run_tests and workspace_diff: a real git repository, a real worktree, a real pytest suite run in a
real subprocess (in bubblewrap where it works), its JUnit XML read back."""

import asyncio
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from loom_nb.agents import Agent
from loom_nb.config import ConfigError, load_config
from loom_nb.events import EventBus, EventLog
from loom_nb.models import ScriptedModel, tool_call
from loom_nb.permissions import PermissionGate, Policy, PolicyError, Rule
from loom_nb.tools import Scope, ToolContext, ToolError, parse_junit, run_tests, workspace_diff
from loom_nb.tools._preview import preview
from loom_nb.workspace import Workspace
from tests.gitrepo import git, git_project
from tests.tools.test_shell import processes_running

APP = "def add(a, b):\n    return a + b\n\n\ndef halve(n):\n    return n // 2\n"
PASSING = (
    "from app import add, halve\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
    "def test_halve():\n    assert halve(4) == 2\n"
)
FAILING = (
    "import pytest\nfrom app import add\n\n\nclass TestAdd:\n    def test_wrong(self):\n"
    "        assert add(1, 1) == 3, 'one and one make two'\n\n\n"
    "@pytest.mark.parametrize('n', [1, 2])\ndef test_param(n):\n    assert n == 1\n\n\n"
    "@pytest.mark.skip(reason='later')\ndef test_later():\n    pass\n"
)


def context(root: Path, session: str = "rt1", agent: str = "tester-1", task: str = "t-tests") -> ToolContext:
    ws = Workspace.create(root, session, background=False)
    return ToolContext(
        scope=Scope(ws.path),
        project=root,
        session_id=session,
        agent=agent,
        role="tester",
        task=task,
        bus=EventBus(),
        workspace=ws,
    )


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    return git_project(tmp_path / "project", {"app.py": APP, **files})


def status(ctx: ToolContext) -> str:
    """Everything git sees in the worktree, ignored files included."""
    assert ctx.workspace is not None
    return git(ctx.workspace.path, "status", "--porcelain", "--ignored", "--untracked-files=all")


async def test_a_passing_suite_is_counted_and_recorded(tmp_path: Path) -> None:
    ctx = context(project(tmp_path, {"tests/test_app.py": PASSING}))
    log = EventLog(ctx.bus)
    out = await run_tests({}, ctx)
    assert out.startswith("tests (round 1, `python -m pytest -q`): 2 passed, 0 failed, 0 errors in ")
    (run,) = log.of_kind("test_run")
    assert (run.passed, run.failed, run.errors, run.skipped, run.failing) == (2, 0, 0, 0, ())
    assert run.exit_code == 0 and run.command == "python -m pytest -q" and run.task == "t-tests" and run.round == 1
    assert run.agent == "tester-1" and run.session_id == "rt1" and run.summary.startswith("2 passed, 0 failed")
    (shell_run,) = log.of_kind("shell_run")  # the full output and what really ran, as for `shell`
    assert shell_run.command.startswith(sys.executable) and "--junitxml=" in shell_run.command
    assert "2 passed" in shell_run.output


async def test_failures_give_node_ids_messages_and_traceback_tails(tmp_path: Path) -> None:
    ctx = context(project(tmp_path, {"tests/test_app.py": PASSING, "tests/test_bad.py": FAILING}))
    log = EventLog(ctx.bus)
    out = await run_tests({}, ctx)
    (run,) = log.of_kind("test_run")
    assert (run.passed, run.failed, run.errors, run.skipped) == (3, 2, 0, 1)
    assert run.failing == ("tests/test_bad.py::TestAdd::test_wrong", "tests/test_bad.py::test_param[2]")
    assert run.exit_code == 1
    assert (
        "3 passed, 2 failed, 0 errors, 1 skipped" in run.summary
        and "tests/test_bad.py::TestAdd::test_wrong" in run.summary
    )
    assert "failing:\n  tests/test_bad.py::TestAdd::test_wrong\n  tests/test_bad.py::test_param[2]\n" in out
    assert "--- tests/test_bad.py::TestAdd::test_wrong (failure): AssertionError: one and one make two" in out
    assert "tests/test_bad.py:7: AssertionError" in out  # the tail of its traceback


async def test_only_the_paths_given_run_and_rounds_count_per_agent_and_task(tmp_path: Path) -> None:
    ctx = context(project(tmp_path, {"tests/test_app.py": PASSING, "tests/test_bad.py": FAILING}))
    log = EventLog(ctx.bus)
    first = await run_tests({"paths": ["tests/test_app.py"]}, ctx)
    assert "round 1, `python -m pytest -q tests/test_app.py`" in first and "2 passed, 0 failed" in first
    second = await run_tests({"paths": ["tests/test_bad.py::TestAdd::test_wrong"], "reason": "after the fix"}, ctx)
    assert "round 2" in second and "0 passed, 1 failed" in second
    other = ToolContext(**{**{f: getattr(ctx, f) for f in ctx.__slots__}, "agent": "tester-2"})
    third = await run_tests({"paths": ["tests/test_app.py::test_add"]}, other)
    assert "round 1" in third and "1 passed" in third
    assert [(r.agent, r.task, r.round) for r in log.of_kind("test_run")] == [
        ("tester-1", "t-tests", 1),
        ("tester-1", "t-tests", 2),
        ("tester-2", "t-tests", 1),
    ]
    with pytest.raises(ToolError, match="outside the scope"):
        await run_tests({"paths": ["../outside.py"]}, ctx)
    with pytest.raises(ToolError, match=r"does not exist|not found|no such"):
        await run_tests({"paths": ["tests/test_missing.py"]}, ctx)


async def test_a_collection_error_is_an_error_with_the_module_as_its_id(tmp_path: Path) -> None:
    broken = "import nowhere_to_be_found\n\n\ndef test_never():\n    pass\n"
    ctx = context(project(tmp_path, {"tests/test_app.py": PASSING, "tests/test_broken.py": broken}))
    log = EventLog(ctx.bus)
    out = await run_tests({}, ctx)
    (run,) = log.of_kind("test_run")
    assert run.errors == 1 and run.failing == ("tests/test_broken.py",) and run.exit_code == 2
    assert "--- tests/test_broken.py (error)" in out and "nowhere_to_be_found" in out


async def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = "61.9753"  # a sleep nothing else on the machine runs
    slow = (
        "import subprocess, time\n\n\ndef test_slow():\n"
        f"    subprocess.Popen(['sleep', '{marker}'])\n    time.sleep(60)\n"
    )
    root = project(tmp_path, {"tests/test_slow.py": slow, ".loom.toml": "[test]\ntimeout = 2\n"})
    ctx = context(root)
    log = EventLog(ctx.bus)
    started = time.monotonic()
    out = await run_tests({}, ctx)
    assert time.monotonic() - started < 30
    assert "killed after 2 s (timeout); the whole process group was stopped" in out
    assert processes_running(f"sleep\x00{marker}") == []  # the test's own child went with it
    (run,) = log.of_kind("test_run")
    assert run.exit_code is None and run.summary.startswith("killed after 2 s")
    assert log.of_kind("shell_run")[0].killed == "timeout"


async def test_the_named_command_runs_with_the_paths_and_is_read_as_pytest(tmp_path: Path) -> None:
    toml = f'[test]\ncommand = "{sys.executable} -m pytest -q -k add"\nfix_rounds = 3\n'
    root = project(tmp_path, {"tests/test_app.py": PASSING, ".loom.toml": toml})
    assert load_config(root).test.fix_rounds == 3
    ctx = context(root)
    log = EventLog(ctx.bus)
    out = await run_tests({"paths": ["tests/test_app.py"]}, ctx)
    (run,) = log.of_kind("test_run")
    assert run.command == f"{sys.executable} -m pytest -q -k add tests/test_app.py"
    assert (run.passed, run.failed) == (1, 0) and "1 passed, 0 failed" in out  # -k add: test_halve deselected


async def test_another_command_is_read_by_its_exit_code(tmp_path: Path) -> None:
    script = "echo checking\n[ -f ok ] && exit 0\necho 'no ok file' >&2\nexit 3\n"
    root = project(tmp_path, {"check.sh": script, ".loom.toml": '[test]\ncommand = "bash check.sh"\n'})
    ctx = context(root)
    log = EventLog(ctx.bus)
    out = await run_tests({}, ctx)
    assert "failed (exit code 3 in " in out and "`bash check.sh` is not pytest, so only its exit code is read" in out
    assert "no ok file" in out  # a failing run shows its output
    (ctx.workspace.path / "ok").write_text("")
    out = await run_tests({}, ctx)
    assert "round 2" in out and "passed (exit code 0 in " in out and "checking" not in out
    assert [(r.exit_code, r.passed, r.failed) for r in log.of_kind("test_run")] == [(3, 0, 0), (0, 0, 0)]
    with pytest.raises(ToolError, match=re.escape("`bash check.sh` is not pytest and takes no paths")):
        await run_tests({"paths": ["check.sh"]}, ctx)


async def test_no_test_command_found_says_how_to_set_one(tmp_path: Path) -> None:
    ctx = context(project(tmp_path, {"README.md": "# no tests here\n"}))
    with pytest.raises(ToolError, match=r"no test command found.*set one in .loom.toml, like \[test\] command ="):
        await run_tests({}, ctx)
    bare = ToolContext(scope=ctx.scope, project=ctx.project)
    with pytest.raises(ToolError, match="this run has no workspace"):
        await run_tests({}, bare)


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ("test = 3", "[test] must be a table"),
        ("[test]\ncomand = 'pytest'", "[test] has unknown key 'comand'; it takes command, timeout, fix_rounds"),
        ("[test]\ncommand = ''", "[test] command must be one command line"),
        ("[test]\ncommand = 'pytest \"unclosed'", "does not split into words"),
        ("[test]\ntimeout = 601", "timeout must be a whole number of seconds from 1 to 600; got 601"),
        ("[test]\ntimeout = true", "timeout must be a whole number of seconds"),
        ("[test]\nfix_rounds = -1", "fix_rounds must be a whole number of rounds from 0 to 20"),
    ],
)
def test_a_malformed_test_table_is_one_line_at_load(tmp_path: Path, table: str, said: str) -> None:
    (tmp_path / ".loom.toml").write_text(table + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert said in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(PolicyError, match="test"):
        Policy.load(tmp_path)
    ctx = ToolContext(scope=Scope(tmp_path), project=tmp_path, workspace=None)
    assert said in preview("run_tests", {}, ctx)  # an approval's preview says it too, never raises


def results_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("loom-tests-*"))


async def test_nothing_lands_in_the_worktree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No junit file, no .pytest_cache, no __pycache__: `git status` is as the agents left it."""
    ctx = context(project(tmp_path, {"tests/test_app.py": PASSING, "tests/test_bad.py": FAILING}))
    private = tmp_path / "tmp"  # this test's own temporary folder: other processes' runs do not show in it
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    log = EventLog(ctx.bus)
    await run_tests({}, ctx)
    assert status(ctx) == ""
    assert log.of_kind("test_run") and results_folders() == set()  # it ran, and its results folder is removed


async def test_an_unreadable_results_file_is_an_error_result(tmp_path: Path) -> None:
    spoil = (
        "def pytest_unconfigure(config):\n    path = config.option.xmlpath\n"
        "    if path:\n        open(path, 'w').write('<testsuites><oops')\n"
    )
    ctx = context(project(tmp_path, {"tests/test_app.py": PASSING, "conftest.py": spoil}))
    log = EventLog(ctx.bus)
    with pytest.raises(ToolError, match="results unreadable: the results file is not valid XML"):
        await run_tests({}, ctx)
    (run,) = log.of_kind("test_run")  # recorded all the same
    assert run.exit_code == 0 and "results unreadable" in run.summary


def test_parse_junit_refuses_entity_bombs_huge_and_foreign_files(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    levels = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb.write_text(f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY l0 "ha">{levels}]><testsuites>&l9;</testsuites>')
    with pytest.raises(ValueError, match="not valid XML"):
        parse_junit(bomb, tmp_path)
    huge = tmp_path / "huge.xml"
    with open(huge, "wb") as f:
        f.truncate(21 * 1024 * 1024)
    with pytest.raises(ValueError, match="more than 20,971,520"):
        parse_junit(huge, tmp_path)
    foreign = tmp_path / "foreign.xml"
    foreign.write_text("<html><body>hi</body></html>")
    with pytest.raises(ValueError, match="not JUnit XML"):
        parse_junit(foreign, tmp_path)
    with pytest.raises(ValueError, match="wrote no results file"):
        parse_junit(tmp_path / "absent.xml", tmp_path)


HOSTILE = "<script>alert(1)</script> '; DROP TABLE test_runs; -- $(touch pwned) \x1b[31mred\x1b[0m &amp; ]]>"


async def test_hostile_names_and_messages_are_data(tmp_path: Path) -> None:
    hostile = (
        "import pytest\n\n\n"
        f"@pytest.mark.parametrize('x', [1], ids=[{HOSTILE!r}])\n"
        f"def test_evil(x):\n    assert x == 2, {HOSTILE!r}\n"
    )
    ctx = context(project(tmp_path, {"tests/test_evil.py": hostile}))
    log = EventLog(ctx.bus)
    out = await run_tests({}, ctx)
    (run,) = log.of_kind("test_run")
    (failing,) = run.failing
    assert failing.startswith("tests/test_evil.py::test_evil[") and "DROP TABLE" in failing
    assert "<script>alert(1)</script> '; DROP TABLE test_runs; -- $(touch pwned)" in out  # as text, unchanged
    assert status(ctx) == ""  # nothing ran: no pwned file
    assert "\n" not in run.summary and "\x1b" not in run.summary  # one printable line


# the policy ------------------------------------------------------------------------------------


def test_a_deny_rule_on_the_test_command_denies_run_tests() -> None:
    policy = Policy(rules=[Rule(action="deny", command="python -m pytest", reason="no tests here")])
    decision = policy.decide("run_tests", {"paths": ["tests/test_x.py"]}, category="execute")
    assert decision.action == "deny" and "python -m pytest" in decision.explain
    named = Policy(rules=[Rule(action="deny", command="make test")], test_command="make test")
    assert named.decide("run_tests", {}, category="execute").action == "deny"


def test_balanced_allows_the_named_test_command_and_asks_for_a_detected_one() -> None:
    named = Policy("balanced", test_command="python -m pytest -q")
    decision = named.decide("run_tests", {"paths": ["tests/test_x.py::test_y"]}, category="execute")
    assert decision.action == "allow" and "[test] command" in decision.explain
    detected = Policy("balanced").decide("run_tests", {}, category="execute")
    assert detected.action == "ask" and "set [test] command in .loom.toml to run it without asking" in detected.explain
    assert Policy("autonomous").decide("run_tests", {}, category="execute").action == "allow"
    strict = Policy("strict", test_command="python -m pytest -q").decide("run_tests", {}, category="execute")
    assert strict.action == "ask"
    outside = named.decide("run_tests", {"paths": ["../elsewhere/test_x.py"]}, category="execute")
    assert outside.action == "ask" and "outside the workspace" in outside.explain
    unclear = named.decide("run_tests", {"paths": "tests"}, category="execute")
    assert unclear.action == "ask" and unclear.unclear


def test_the_policy_reads_the_test_command_from_loom_toml(tmp_path: Path) -> None:
    (tmp_path / ".loom.toml").write_text(
        '[test]\ncommand = "python -m pytest -q"\n\n'
        '[[permissions.rules]]\naction = "deny"\ncommand = "python -m pytest -q -x"\n'
    )
    policy = Policy.load(tmp_path)
    assert policy.decide("run_tests", {}, category="execute").action == "allow"
    assert policy.decide("shell", {"command": "python -m pytest -q -x"}).action == "deny"
    assert Policy.load(tmp_path, preset="strict").decide("run_tests", {}, category="execute").action == "ask"


# workspace_diff --------------------------------------------------------------------------------


async def test_workspace_diff_shows_the_runs_commits(tmp_path: Path) -> None:
    ctx = context(project(tmp_path, {"lib/util.py": "x = 1\n"}))
    assert await workspace_diff({}, ctx) == "no changes yet: the run has committed nothing"
    ws = ctx.workspace
    (ws.path / "app.py").write_text(APP.replace("a + b", "b + a"))
    (ws.path / "lib" / "util.py").write_text("x = 2\n")
    ws.commit(None, "two edits", agent="implementer-1", role="implementer")
    (ws.path / "uncommitted.py").write_text("y = 1\n")  # not a commit: not in the run's diff
    out = await workspace_diff({}, ctx)
    assert out.startswith("2 files changed by the run's commits: app.py, lib/util.py\n")
    assert "-    return a + b\n+    return b + a" in out and "+x = 2" in out and "uncommitted" not in out
    one = await workspace_diff({"path": "lib"}, ctx)
    assert one.startswith("1 file changed by the run's commits: lib/util.py") and "app.py" not in one
    assert await workspace_diff({"path": "README.md"}, ctx) == (
        "no changes to README.md yet: the run has committed nothing there"
    )
    assert await workspace_diff({"path": "[a]*"}, ctx) == (  # a literal name, never a glob
        "no changes to [a]* yet: the run has committed nothing there"
    )
    with pytest.raises(ToolError, match="outside the scope"):
        await workspace_diff({"path": "../x"}, ctx)
    with pytest.raises(ToolError, match=re.escape("inside .git")):
        await workspace_diff({"path": ".git/config"}, ctx)
    with pytest.raises(ToolError, match="this run has no workspace"):
        await workspace_diff({}, ToolContext(scope=ctx.scope, project=ctx.project))


async def test_a_long_diff_is_cut_naming_the_files_not_shown(tmp_path: Path) -> None:
    ctx = context(project(tmp_path, {}))
    ws = ctx.workspace
    for i in range(6):
        (ws.path / f"big{i}.txt").write_text("".join(f"line {i}-{n}\n" for n in range(1500)))
    ws.commit(None, "big files", agent="implementer-1", role="implementer")
    out = await workspace_diff({}, ctx)
    assert len(out.encode()) < 22 * 1024
    assert "[cut: the diff is " in out and "Call workspace_diff with path= to read one file]" in out
    cut_note = out[out.index("[cut:") :]
    assert "big5.txt" in cut_note and "big0.txt" not in cut_note  # the first is whole, the rest named
    assert "line 0-1499" in out
    whole = await workspace_diff({"path": "big5.txt"}, ctx)
    assert "line 5-10" in whole and "[cut:" not in whole


async def test_a_stop_kills_the_run_and_records_it(tmp_path: Path) -> None:
    marker = "62.8642"
    slow = f"import subprocess\n\n\ndef test_slow():\n    subprocess.run(['sleep', '{marker}'])\n"
    ctx = context(project(tmp_path, {"tests/test_slow.py": slow}))
    log = EventLog(ctx.bus)
    task = asyncio.ensure_future(run_tests({}, ctx))
    async with asyncio.timeout(30):  # until the test's sleep runs: /proc offers no event to wait on
        while not processes_running(f"sleep\x00{marker}"):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_running(f"sleep\x00{marker}") == []
    (run,) = log.of_kind("shell_run")
    assert run.killed == "stopped" and log.of_kind("test_run") == []
    assert status(ctx) == ""


SAMPLE = Path(__file__).resolve().parents[2] / "notebooks" / "sample_project"


def sample_files() -> dict[str, str]:
    return {
        p.relative_to(SAMPLE).as_posix(): p.read_text()
        for p in SAMPLE.rglob("*")
        if p.is_file() and not {".loom", "__pycache__", ".pytest_cache"} & set(p.relative_to(SAMPLE).parts)
    }


async def test_the_sample_projects_suite_passes_in_a_workspace(tmp_path: Path) -> None:
    """The tutorials' workflow runs its tests there: every test file of it counts, all pass, offline."""
    files = sample_files()
    ctx = context(git_project(tmp_path / "sample", files))
    log = EventLog(ctx.bus)
    out = await run_tests({}, ctx)
    (run,) = log.of_kind("test_run")
    test_files = [name for name in files if name.startswith("tests/test_")]
    assert len(test_files) >= 3 and run.exit_code == 0 and run.failed == run.errors == 0
    assert run.passed >= 12 and f"{run.passed} passed, 0 failed" in out
    assert status(ctx) == ""


# through the agent loop and the permission gate ------------------------------------------------


def agent_with(ctx: ToolContext, model: ScriptedModel, gate: PermissionGate) -> Agent:
    return Agent(name="tester-1", role="tester", model=model, tools=[run_tests], context=ctx, bus=ctx.bus, gate=gate)


async def test_the_gate_asks_with_the_command_as_preview_then_runs_it(tmp_path: Path) -> None:
    ctx = context(project(tmp_path, {"tests/test_app.py": PASSING}))
    gate = PermissionGate(Policy.load(ctx.project), bus=ctx.bus, session_id=ctx.session_id)
    asked = threading.Event()
    gate.queue.subscribe(lambda request, answer: answer is None and asked.set())
    seen = {}

    def human() -> None:  # an approval card's click, on another thread
        asked.wait(20)
        (request,) = gate.queue.pending()
        seen["preview"], seen["explain"] = request.preview, request.decision.explain
        gate.queue.answer(request.id, "allow", by="widget")

    thread = threading.Thread(target=human)
    thread.start()
    model = ScriptedModel([tool_call("run_tests", paths=["tests/test_app.py"], reason="check the fix"), "tested"])
    result = await asyncio.wait_for(agent_with(ctx, model, gate).run("run the tests"), 60)
    thread.join()
    assert seen["preview"] == "$ python -m pytest -q tests/test_app.py"
    assert "set [test] command in .loom.toml to run it without asking" in seen["explain"]
    ran = result.messages[2].tool_results[0]
    assert not ran.is_error and "2 passed, 0 failed" in ran.content


async def test_a_deny_rule_keeps_the_tests_from_running(tmp_path: Path) -> None:
    ctx = context(project(tmp_path, {"tests/test_app.py": PASSING}))
    log = EventLog(ctx.bus)
    rule = Rule(action="deny", command="python -m pytest", reason="the tests are run by CI here")
    gate = PermissionGate(Policy("autonomous", rules=[rule]))
    model = ScriptedModel([tool_call("run_tests"), "ok"])
    result = await agent_with(ctx, model, gate).run("run the tests")
    refused = result.messages[2].tool_results[0]
    assert refused.is_error and "deny command 'python -m pytest'" in refused.content
    assert log.of_kind("test_run") == [] and log.of_kind("shell_run") == []


async def test_many_long_failures_are_cut_saying_so(tmp_path: Path) -> None:
    many = (
        "import pytest\n\n\n"
        "@pytest.mark.parametrize('n', range(40), ids=lambda n: f'case-{n}-' + 'x' * 400)\n"
        "def test_many(n):\n    assert n < 0, 'message ' * 200\n"
    )
    ctx = context(project(tmp_path, {"tests/test_many.py": many}))
    log = EventLog(ctx.bus)
    out = await run_tests({}, ctx)
    (run,) = log.of_kind("test_run")
    assert run.failed == 40 and len(run.failing) == 40 and all(len(i) > 400 for i in run.failing)  # whole
    assert len(out) < 7 * 1024
    assert "more not listed; the TestRun event has them all]" in out
    assert "characters cut]" in out and "[cut: the report is kept under 4,096 characters;" in out
