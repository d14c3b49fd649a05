"""The offline researcher, architect, tester and reviewer: each reads through its tools, records
through decision_log, and finishes with what its completion says."""

from __future__ import annotations

import re

from ._intents import Intent
from ._messages import ToolResultPart
from ._offline_code import find_signature
from ._offline_hands import MAX_FILES
from ._offline_state import TEST_NAME, Calls, Conversation, Done, call, cid, content_rows, read_whole, word_pattern

__all__ = ["architect", "check_tests", "diff_files", "failed_run", "research", "review"]

MAX_FINDINGS = 5
DEFAULT_FIX_ROUNDS = 2


# researcher ------------------------------------------------------------------------------------

_DEFINES = r"^\s*(?:async\s+def|def|class)\s+{name}\b|^\s*{name}\s*(?::[^=]*)?=[^=]"


def _kind_of(path: str, text: str, symbol: str) -> str:
    """What a line that names the symbol is: its definition, an import, a test, a doc, or a use."""
    if re.match(_DEFINES.format(name=re.escape(symbol)), text):
        return "definition"
    if re.match(r"\s*(?:from\s+\S+\s+)?import\b", text):
        return "import"
    if re.search(r"(^|/)tests?/|(^|/)test_|_test\.py$|conftest\.py$", path):
        return "test"
    if not path.endswith((".py", ".pyi")):
        return "doc"
    return "reference"


def research(conv: Conversation, intent: Intent, tools: set[str]) -> Calls | Done:
    """Every whole-word use of the symbol, grouped and cited path:line; for add_test, its signature."""
    if "content_search" not in tools:
        return Done(summary="I was not offered content_search, so I could not search.")
    if not conv.done(cid("find")):
        return (call("find", "content_search", pattern=word_pattern(intent.symbol), max_results=500),)
    rows = content_rows(conv.ok(cid("find")))
    defs = [(p, n) for p, n, t in rows if _kind_of(p, t, intent.symbol) == "definition" and p.endswith(".py")]
    def_files = list(dict.fromkeys(p for p, _ in defs))[:3]
    whole: dict[str, dict[int, str]] = {}
    if "file_read" in tools and intent.kind == "add_test":  # the signature needs the whole definition
        read = read_whole(conv, "def_", def_files)
        if isinstance(read, tuple):
            return read
        whole = read
    elif "file_read" in tools and defs and not conv.done(cid("read_0")):
        return tuple(
            call(f"read_{k}", "file_read", path=p, offset=max(1, n - 2), limit=25) for k, (p, n) in enumerate(defs[:3])
        )
    if not rows:
        return Done(summary=f"No whole-word use of `{intent.symbol}` was found in the project.")
    groups: dict[str, list[str]] = {}
    for p, n, t in rows:
        groups.setdefault(_kind_of(p, t, intent.symbol), []).append(f"{p}:{n} (`{' '.join(t.split())[:90]}`)")
    files = list(dict.fromkeys(p for p, _, _ in rows))
    lines = [f"`{intent.symbol}` occurs as a whole word {len(rows)} time(s) in {len(files)} file(s)."]
    names = {"definition": "Defined", "import": "Imported", "test": "In tests", "doc": "In docs", "reference": "Used"}
    for kind in ("definition", "import", "reference", "test", "doc"):
        if kind in groups:
            shown = groups[kind][:12]
            more = f" and {len(groups[kind]) - 12} more" if len(groups[kind]) > 12 else ""
            lines.append(f"{names[kind]}: " + "; ".join(shown) + more)
    for path, lines_read in whole.items():
        if lines_read:
            sig = find_signature(path, lines_read, intent)
            if sig is not None:
                lines.append(
                    f"Signature ({sig.path}:{sig.line}): parameters {', '.join(sig.parameters) or 'none'}; "
                    f"required {', '.join(sig.required) or 'none'}; "
                    f"{'async; ' if sig.is_async else ''}{'has doctests' if sig.doctest else 'no doctests'}."
                )
    return Done(summary="\n".join(lines))


# architect -------------------------------------------------------------------------------------


def _options(intent: Intent) -> list[tuple[str, str]]:
    if intent.kind == "add_test":
        return [
            (
                "Test results with invented inputs",
                "the offline model cannot know the right results; such a test would assert guesses",
            ),
            ("Add doctests to the function instead", "it changes the source the user asked to be tested"),
        ]
    opts = [
        (
            f"Replace the text `{intent.symbol}` everywhere",
            "it would also change longer words (address for add) and prose",
        ),
        (
            f"Keep `{intent.symbol}` as a deprecated alias of `{intent.new}`",
            "the intent asks for a rename; an alias is an API decision for a human",
        ),
    ]
    if intent.owner:
        opts.insert(0, (f"Rename every `.{intent.symbol}` attribute", "it would rename other classes' members too"))
    return opts


def architect(conv: Conversation, intent: Intent, tools: set[str]) -> Calls | Done:
    """The researcher's reading, then a decision with its confidence and the rejected options (edge
    'rejected') in the graph, and concrete steps for the implementer."""
    found = research(conv, intent, tools)
    if isinstance(found, tuple):
        return found
    rows = content_rows(conv.ok(cid("find")))
    files = list(dict.fromkeys(p for p, _, _ in rows))
    x = f"`{intent.qualified}`"
    if intent.kind == "rename":
        title = f"Rename {x} to `{intent.new}` with whole-word edits in {len(files)} file(s)"
        steps = [
            f"{k}. In {path}: replace `{intent.symbol}` with `{intent.new}` where it is a name "
            f"({sum(1 for p, _, _ in rows if p == path)} line(s)); prose only where it shows the name as code."
            for k, path in enumerate(files[:MAX_FILES], 1)
        ]
        confidence = 60 if intent.owner else 85
    else:
        defs = [p for p, _, t in rows if _kind_of(p, t, intent.symbol) == "definition"]
        title = f"Test {x} from its signature and doctests in a new test file beside the tests"
        steps = [
            f"1. Read the definition of {x} ({', '.join(defs[:3]) or 'not found'}).",
            "2. Write a new test file in the tests folder, named like the others, importing it as they do.",
            "3. Check its parameters, whether it is async, its doctests, and a call when it needs no arguments.",
        ]
        confidence = 75 if defs else 30
    if not files:
        confidence = 20
    description = "\n".join(steps) or "No use was found."
    if "decision_log" in tools:
        if not conv.done(cid("decision")):
            return (
                call(
                    "decision",
                    "decision_log",
                    node_type="decision",
                    title=title,
                    description=description,
                    confidence=confidence,
                ),
            )
        logged = re.search(r"#(\d+)", conv.ok(cid("decision")) or "")
        if logged:
            for k, (option, why) in enumerate(_options(intent)):
                key = f"option_{k}"
                if not conv.done(cid(key)):
                    return (
                        call(
                            key,
                            "decision_log",
                            node_type="option",
                            title=option,
                            description=f"Rejected: {why}.",
                            confidence=max(5, 100 - confidence - 10 * (k + 1)),
                            parent_id=int(logged.group(1)),
                            edge_type="rejected",
                        ),
                    )
    rejected = [f"rejected: {o} ({why})" for o, why in _options(intent)]
    return Done(
        summary=f"Decision ({confidence}% confident): {title}.\nSteps for the implementer:\n{description}\n"
        + "\n".join(rejected),
        decisions=(title, *rejected),
    )


# tester ----------------------------------------------------------------------------------------

_FAILED = re.compile(r"\b[1-9]\d* (?:failed|errors?)\b|\bfailed \(exit code|\bkilled after\b")
"""A run's first line that says it did not pass: pytest's counts, another command's exit code, a timeout."""


def failed_run(result: ToolResultPart) -> bool:
    """Whether a run_tests result says the tests did not pass (or could not run)."""
    first = result.content.strip().splitlines()[0] if result.content.strip() else ""
    return result.is_error or bool(_FAILED.search(first))


def check_tests(conv: Conversation, intent: Intent, tools: set[str]) -> Calls | Done:
    """run_tests; while they fail and rounds are left, ask the implementer named in the prompt, then again."""
    if "run_tests" not in tools:
        return Done(summary="I was not offered run_tests, so the tests were not run.", test_results="not run")
    rounds_m = re.search(r"^Fix rounds: (\d+)$", conv.task, re.M)
    rounds = int(rounds_m.group(1)) if rounds_m else DEFAULT_FIX_ROUNDS
    who_m = re.search(r"^Implementer: `([^`\n]+)`$", conv.task, re.M)
    implementer = who_m.group(1) if who_m else ""
    r = 0
    asked: list[str] = []
    while True:
        run = cid(f"run_{r}")
        if run not in conv.results:
            return (call(f"run_{r}", "run_tests", reason=f"check the change for: {intent.qualified}"),)
        result = conv.results[run]
        summary = result.content.strip().splitlines()[0] if result.content.strip() else "(no output)"
        if not failed_run(result) or result.is_error:  # a run that could not start is no failure to fix
            break
        if r >= rounds or not implementer or "ask" not in tools or conv.error(cid(f"ask_{r - 1}")):
            break
        ask = cid(f"ask_{r}")
        if ask not in conv.results:
            question = f"The tests fail after your change (round {r + 1} of {rounds}):\n{result.content[:3000]}"
            return (call(f"ask_{r}", "ask", to=implementer, question=question),)
        asked.append(implementer)
        r += 1
    state = "failing" if failed_run(result) else "passing"
    lines = [f"Tests {state} after {r + 1} run(s): {summary}"]
    if asked:
        lines.append(f"Asked {implementer} to fix failures {len(asked)} time(s).")
    if failed_run(result):
        lines.append(result.content.strip()[:1500])
    return Done(summary="\n".join(lines), test_results=summary, open_questions=(summary,) if failed_run(result) else ())


# reviewer --------------------------------------------------------------------------------------


def diff_files(diff: str) -> dict[str, tuple[list[str], list[str]]]:
    """(added lines, removed lines) per file of a unified git diff; headers are read only between a
    "diff --git" line and the first hunk, so a changed line that starts "++" is never taken for one."""
    files: dict[str, tuple[list[str], list[str]]] = {}
    current: tuple[list[str], list[str]] | None = None
    header = False
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            header, current = True, None
        elif header and line.startswith("+++ "):
            name = line[4:].strip()
            if name != "/dev/null":
                current = files.setdefault(name[2:] if name.startswith("b/") else name, ([], []))
        elif header and line.startswith("--- "):
            name = line[4:].strip()  # a deleted file names itself only here
            if name != "/dev/null":
                current = files.setdefault(name[2:] if name.startswith("a/") else name, ([], []))
        elif line.startswith("@@"):
            header = False
        elif current is None or header:
            continue
        elif line.startswith("+"):
            current[0].append(line[1:])
        elif line.startswith("-"):
            current[1].append(line[1:])
    return files


def review(conv: Conversation, intent: Intent, tools: set[str]) -> Calls | Done:
    """Read the diff (workspace_diff; without it only the leftover search below) and, for a rename, search
    the whole tree for leftovers of the old name the diff cannot show (files nobody edited)."""
    if "workspace_diff" in tools and not conv.done(cid("diff")):
        return (call("diff", "workspace_diff"),)
    scan = intent.kind == "rename" and not intent.owner and "content_search" in tools
    if scan and not conv.done(cid("left")):  # an owner's member (Stock.remove) shares its name with others
        return (call("left", "content_search", pattern=word_pattern(intent.symbol), glob="*.py", max_results=200),)
    files = diff_files(conv.ok(cid("diff")) or "")
    word = re.compile(rf"(?<!\w){re.escape(intent.symbol)}(?!\w)")
    findings: list[str] = []
    if "workspace_diff" not in tools:
        findings.append("No workspace_diff tool was offered: the diff was not read.")
    elif conv.ok(cid("diff")) is None:
        findings.append(f"The diff could not be read: {(conv.error(cid('diff')) or '').strip()[:160]}")
    elif not files:
        findings.append("The diff is empty: this run changed no file.")
    for path, (added, _removed) in files.items():
        if intent.kind == "rename":
            new_word = re.compile(rf"(?<!\w){re.escape(intent.new or '')}(?!\w)")
            left = [a for a in added if word.search(a.split("#", 1)[0]) and path.endswith(".py")]
            if left:
                shown = " ".join(left[0].split())[:100]
                findings.append(f"{path}: an added line still has `{intent.symbol}`: `{shown}`")
            unrelated = [a for a in added if a.strip() and not new_word.search(a)]
            if unrelated:
                findings.append(
                    f"{path}: {len(unrelated)} added line(s) do not name `{intent.new}` (unrelated change?)"
                )
        elif TEST_NAME.search(path):
            imports = any(re.search(rf"\bimport\b.*\b{re.escape(intent.owner or intent.symbol)}\b", a) for a in added)
            findings.append(
                f"{path}: new test file, {len(added)} line(s)"
                + ("" if imports else f"; it does not import `{intent.owner or intent.symbol}`")
            )
        else:
            findings.append(f"{path}: changed although the intent only adds a test")
    code = [(p, n, t) for p, n, t in content_rows(conv.ok(cid("left"))) if word.search(t.split("#", 1)[0])]
    untouched = sorted({p for p, _, _ in code} - set(files))
    if untouched:
        findings.append(f"`{intent.symbol}` is still used in file(s) the run did not change: {', '.join(untouched)}")
    if files and intent.kind == "rename" and not findings:
        findings.append(
            f"The diff renames `{intent.symbol}` to `{intent.new}` in {len(files)} file(s) and nothing else."
        )
    findings = findings[:MAX_FINDINGS]
    if "decision_log" in tools:
        for k, finding in enumerate(findings):
            key = f"finding_{k}"
            if not conv.done(cid(key)):
                return (call(key, "decision_log", node_type="observation", title=finding[:200], confidence=70),)
    return Done(summary="Review of the diff:\n" + "\n".join(f"- {f}" for f in findings), decisions=tuple(findings))
