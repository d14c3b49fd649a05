"""run_tests: the project's test command in the run's worktree, its results read for the model.

The command is `.loom.toml [test] command`, else pytest when the project has tests (see
`config.detect_test_command`), run as `<the interpreter that runs loom> -m pytest -q`: the kernel's
own Python, whose packages the notebook already uses. It runs like `shell` (own process group,
timeout, scrubbed environment, bubblewrap where it works, a ShellRun with the full output) and is
decided by the policy as that command: a rule on `python -m pytest` applies to run_tests too.

For pytest, the results come from a JUnit XML file written outside the worktree (a directory the
sandbox may write) and no cache or bytecode is written in it, so `git status` stays as the agents
left it. Any other command's outcome is its exit code. Each run is a TestRun event.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from ._base import Tool, ToolContext, ToolError
from ._shell import emit_shell_run, head_and_tail, run_command, sandbox_status
from ._write import _require_workspace

if TYPE_CHECKING:
    from ..config import TestConfig

__all__ = ["Failure", "TestResults", "parse_junit", "run_tests", "shown_command"]

MAX_JUNIT_BYTES = 20 * 1024 * 1024
"""A larger results file is not read (an error result): no test suite needs it, a hostile one might."""
MAX_FAILURE_CHARS = 4096
"""What the model reads of the failures (messages and traceback tails), in all."""
TRACEBACK_LINES = 12
MAX_LIST_CHARS = 2048
"""What the model reads of the failing ids."""

_rounds: weakref.WeakKeyDictionary[Any, Counter[tuple[str, str]]] = weakref.WeakKeyDictionary()
"""Per workspace (one per run): how many times each (agent, task) ran the tests."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Failure:
    """One failing or erroring test."""

    id: str
    """A pytest node id (tests/test_x.py::TestK::test_y[1])."""
    kind: str
    """"failure" or "error" (a fixture, a collection or a setup that broke)."""
    message: str
    details: str
    """The traceback pytest printed for it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class TestResults:
    """What a JUnit XML file says."""

    __test__ = False  # not a pytest test class
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failures: tuple[Failure, ...] = field(default=())

    @property
    def failing(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.id for f in self.failures))


def parse_junit(path: Path, root: Path) -> TestResults:
    """Counts and failing node ids from pytest's JUnit XML; ValueError (one line) when the file is
    missing, too large or not JUnit XML. expat expands no external entities; the size cap bounds the rest."""
    try:
        size = path.stat().st_size
    except OSError:
        raise ValueError("the test run wrote no results file") from None
    if size > MAX_JUNIT_BYTES:
        raise ValueError(f"the results file is {size:,} bytes (more than {MAX_JUNIT_BYTES:,}); not read")
    try:
        tree = ElementTree.parse(path)
    except ElementTree.ParseError as exc:
        raise ValueError(f"the results file is not valid XML ({exc})") from None
    except OSError as exc:
        raise ValueError(f"the results file cannot be read ({exc.strerror or exc})") from None
    top = tree.getroot()
    if top.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"the results file is not JUnit XML (its root is <{top.tag[:40]}>)")
    counts = Counter[str]()
    failures = []
    for case in top.iter("testcase"):
        outcome = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        kind = "passed" if outcome is None else outcome.tag
        if kind in ("failure", "error"):
            failures.append(
                Failure(
                    id=node_id(case.get("classname", ""), case.get("name", ""), case.get("file"), root),
                    kind=kind,
                    message=outcome.get("message", "") if outcome is not None else "",
                    details=(outcome.text or "") if outcome is not None else "",
                )
            )
        counts[kind] += 1
    return TestResults(
        passed=counts["passed"],
        failed=counts["failure"],
        errors=counts["error"],
        skipped=counts["skipped"],
        failures=tuple(failures),
    )


def node_id(classname: str, name: str, file: str | None, root: Path) -> str:
    """pytest's node id from JUnit's dotted classname (tests.test_x.TestK) and name: the longest dotted
    prefix that is a file under `root` is the module, the rest are classes. A collection error has
    no classname and the module as its name."""
    if not classname:  # a module that failed to collect: name is tests.test_x
        module = name.replace(".", "/") + ".py"
        return module if (root / module).is_file() else name
    parts = classname.split(".")
    if file:
        module_parts = len(Path(file).with_suffix("").parts)
        return "::".join([Path(file).as_posix(), *parts[module_parts:], name])
    for cut in range(len(parts), 0, -1):
        module = "/".join(parts[:cut]) + ".py"
        if (root / module).is_file():
            return "::".join([module, *parts[cut:], name])
    return "::".join([classname, name])


def _summary(results: TestResults, seconds: float) -> str:
    counts = f"{results.passed} passed, {results.failed} failed, {results.errors} errors"
    if results.skipped:
        counts += f", {results.skipped} skipped"
    shown = ", ".join(results.failing[:3]) + (
        f" and {len(results.failing) - 3} more" if len(results.failing) > 3 else ""
    )
    return _one_line(f"{counts} in {seconds:.1f} s" + (f" ({shown})" if shown else ""))


def _short(test_id: str, limit: int = 300) -> str:
    """A test id as the model reads it (parameter ids can be any length; the event keeps them whole)."""
    return test_id if len(test_id) <= limit else f"{test_id[:limit]}...[{len(test_id) - limit:,} characters cut]"


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)[:500]


def _failure_report(results: TestResults) -> str:
    """Each failure's message and the tail of its traceback, at most MAX_FAILURE_CHARS in all."""
    parts: list[str] = []
    used = 0
    for i, failure in enumerate(results.failures):
        tail = failure.details.rstrip().splitlines()[-TRACEBACK_LINES:]
        block = "\n".join([f"--- {_short(failure.id)} ({failure.kind}): {failure.message.strip()[:500]}", *tail])
        if used + len(block) > MAX_FAILURE_CHARS:
            room = MAX_FAILURE_CHARS - used
            if room > 200:
                parts.append(block[:room])
            left = len(results.failures) - i
            parts.append(
                f"[cut: the report is kept under {MAX_FAILURE_CHARS:,} characters; {left} of "
                f"{len(results.failures)} failures not shown in full. Run run_tests with paths to see one]"
            )
            break
        parts.append(block)
        used += len(block) + 1
    return "\n".join(parts)


def _test_paths(args: dict[str, Any], ctx: ToolContext) -> list[str]:
    """The paths or node ids given, each inside the worktree (checked by the scope), workspace-relative."""
    out = []
    for given in args.get("paths") or []:
        if not isinstance(given, str) or not given.strip():
            raise ToolError("run_tests: paths must be test files, folders or node ids (tests/test_x.py::test_y)")
        file_part, sep, rest = given.partition("::")
        resolved = ctx.scope.resolve(file_part, must_exist=True)
        rel = ctx.scope.relative(resolved)
        if any(part.casefold() == ".git" for part in Path(rel).parts):
            raise ToolError(f"{given!r} is inside .git; name a test file or folder")
        rel = rel if not rel.startswith("-") else f"./{rel}"  # never read as an option
        out.append(rel + sep + rest)
    return out


def _config(ctx: ToolContext) -> TestConfig:
    from ..config import ConfigError, load_config

    try:
        return load_config(ctx.project).test
    except ConfigError as exc:
        raise ToolError(str(exc)) from None


def shown_command(arguments: dict[str, Any], ctx: ToolContext) -> str:
    """The command a run_tests call runs, as the policy decides it (an approval's preview)."""
    from ..config import command_for_tests

    paths = arguments.get("paths") or []
    return command_for_tests(_config(ctx).command, [p for p in paths if isinstance(p, str)])


async def _run_tests(args: dict[str, Any], ctx: ToolContext) -> str:
    from ..config import command_for_tests, detect_test_command, is_pytest

    _require_workspace(ctx)
    assert ctx.workspace is not None
    config = _config(ctx)
    root = ctx.scope.root
    named = config.command
    if named is None and detect_test_command(root) is None:
        raise ToolError(
            "no test command found: this project has no pytest configuration, tests/ folder or test_*.py "
            'files; set one in .loom.toml, like [test] command = "make test"'
        )
    paths = _test_paths(args, ctx)
    pytest = named is None or is_pytest(named)
    if paths and not pytest:
        raise ToolError(
            f"the project's test command `{named}` is not pytest and takes no paths; call run_tests without paths"
        )
    shown = command_for_tests(named, paths)
    results_dir = tempfile.mkdtemp(prefix="loom-tests-")  # outside the worktree: never in its git status
    junit = Path(results_dir) / "junit.xml"
    extra = [*paths, f"--junitxml={junit}", "-o", "junit_family=xunit1", "-p", "no:cacheprovider"]
    if named is None:
        command = shlex.join([sys.executable, "-m", "pytest", "-q", *extra])
    elif pytest:
        command = f"{named} {shlex.join(extra)}"
    else:
        command = named
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # no __pycache__ in the worktree
    try:
        exit_code, raw, killed, seconds = await run_command(
            command,
            str(root),
            timeout=config.timeout,
            sandbox=sandbox_status().available,
            env=env,
            writable=[results_dir],
            on_stop=lambda raw, s: emit_shell_run(ctx, command, None, raw.decode(errors="replace"), "stopped", s),
        )
        output = raw.decode("utf-8", errors="replace")
        emit_shell_run(ctx, command, exit_code, output, killed, seconds)
        counter = _rounds.setdefault(ctx.workspace, Counter())
        counter[(ctx.agent, ctx.task)] += 1
        round_ = counter[(ctx.agent, ctx.task)]
        results, unreadable = TestResults(), ""
        if killed:
            summary = f"killed after {config.timeout} s (timeout); the whole process group was stopped"
        elif not pytest:
            summary = (
                f"{'passed' if exit_code == 0 else 'failed'} (exit code {exit_code} in {seconds:.1f} s; "
                f"`{named}` is not pytest, so only its exit code is read)"
            )
        else:
            try:
                results = parse_junit(junit, root)
                summary = _summary(results, seconds)
                if exit_code == 5:
                    summary = f"no tests collected (exit code 5) in {seconds:.1f} s"
            except ValueError as exc:
                unreadable = str(exc)
                summary = _one_line(f"exit code {exit_code} in {seconds:.1f} s; results unreadable: {exc}")
    finally:
        shutil.rmtree(results_dir, ignore_errors=True)
    _emit(ctx, shown, results, exit_code, seconds, round_, summary)
    head = f"tests (round {round_}, `{shown}`): {summary}"
    if unreadable:
        raise ToolError(f"{head}\n{head_and_tail(output)}" if output else head)
    if killed or not pytest or (exit_code not in (0, 5) and not results.failures):
        return f"{head}\n{head_and_tail(output)}" if output and exit_code != 0 else head
    if not results.failures:
        return head
    return f"{head}\n{_failing_list(results.failing)}\n{_failure_report(results)}"


def _failing_list(ids: tuple[str, ...]) -> str:
    """The failing ids, one a line, at most MAX_LIST_CHARS of them."""
    lines = ["failing:"]
    used = 0
    for n, test_id in enumerate(ids):
        line = f"  {_short(test_id)}"
        if used + len(line) > MAX_LIST_CHARS:
            lines.append(f"  [{len(ids) - n} more not listed; the TestRun event has them all]")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _emit(
    ctx: ToolContext,
    command: str,
    results: TestResults,
    exit_code: int | None,
    seconds: float,
    round_: int,
    summary: str,
) -> None:
    if ctx.bus is None:
        return
    from ..events import TestRun

    ctx.bus.emit(
        TestRun(
            session_id=ctx.session_id,
            agent=ctx.agent,
            command=command,
            passed=results.passed,
            failed=results.failed,
            errors=results.errors,
            skipped=results.skipped,
            failing=results.failing,
            exit_code=exit_code,
            duration_s=seconds,
            task=ctx.task,
            round=round_,
            summary=summary,
        )
    )


run_tests = Tool(
    name="run_tests",
    description=(
        "Run the project's tests in the workspace (its [test] command, else pytest) and read the results: "
        "counts, failing test ids, each failure's message and traceback tail. Give paths (files, folders or "
        "node ids like tests/test_x.py::test_y) to run only some."
    ),
    parameters={
        "type": "object",
        "properties": {
            "paths": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Test files, folders or pytest node ids inside the workspace (pytest only).",
            },
            "reason": {"type": "string", "description": "Why the tests run now (shown to a human asked to approve)."},
        },
    },
    fn=_run_tests,
    permission="execute",
)
