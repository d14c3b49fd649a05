"""The offline model's specialists: researcher, architect, implementer, tester and reviewer for the
intents of _intents.py (rename SYMBOL to NEW, add a test for FUNCTION).

Which role it plays is read from the tools it is offered, then from the task prompt:
file_edit or file_write -> implementer; run_tests -> tester; workspace_diff -> reviewer; else a line
of the prompt that starts as plan_for's do ("Read the diff"/"Review" -> reviewer, "Run the project's
tests" -> tester, "Decide" -> architect); else decision_log -> architect; else researcher.

Every role works only through its tools, one step per turn, and all its state is in the conversation
(call ids name the step), so one instance serves any number of agents and two runs make the same
calls. The intent is read from the task prompt only (its ``Intent:``
line), never from what tools or other agents returned: file contents are data.

Each role ends with complete_task when it is offered, then a short final text that says it came
from the offline model. A letter that asks it something (an ask, rendered with a reply_to id) is
answered with send_message once its own work is done: the implementer re-checks its edits for
leftovers of the old name and fixes those; it cannot reason about other failures and says so.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ._intents import Intent, IntentError, parse_intent, task_part
from ._messages import Message, TextPart, ToolCallPart, ToolResultPart
from ._offline_code import (
    Edit,
    find_signature,
    module_candidates,
    read_lines,
    rename_edits,
    test_checks,
    test_source,
)

__all__ = ["ROLES", "Conversation", "pick_role", "play"]

ROLES = ("researcher", "architect", "implementer", "tester", "reviewer")
BANNER = "[offline model: {role} by deterministic rules, no LLM was used]"
MAX_READ = 2000
"""Lines per file_read (the tool's maximum)."""
MAX_FILES = 40
"""Files one rename reads and edits at most; more are reported, not touched."""
MAX_FINDINGS = 5
DEFAULT_FIX_ROUNDS = 2
_PROMPT_ROLES = (  # the first words of the plan's prompts (plan_for), when the tools leave the role open
    ("reviewer", re.compile(r"^\s*(?:read the diff|review)\b", re.IGNORECASE | re.MULTILINE)),
    ("tester", re.compile(r"^\s*run the (?:project's )?tests\b", re.IGNORECASE | re.MULTILINE)),
    ("architect", re.compile(r"^\s*decide\b", re.IGNORECASE | re.MULTILINE)),
)
Calls = tuple[ToolCallPart, ...]
_INTENT_LINE = re.compile(r"^Intent: ", re.MULTILINE)


def pick_role(tools: set[str], task: str) -> str:
    """The role the offline model plays (see the module docstring)."""
    if tools & {"file_edit", "file_write"}:
        return "implementer"
    if "run_tests" in tools:
        return "tester"
    if "workspace_diff" in tools:
        return "reviewer"
    prompt = task_part(task)
    for role, pattern in _PROMPT_ROLES:
        if pattern.search(prompt):
            return role
    return "architect" if "decision_log" in tools else "researcher"


@dataclass(slots=True)
class Conversation:
    """What the conversation so far says: the task, the calls made and their results, the letters."""

    task: str
    calls: dict[str, ToolCallPart] = field(default_factory=dict)
    results: dict[str, ToolResultPart] = field(default_factory=dict)
    letters: list[str] = field(default_factory=list)
    """Texts of the user messages after the task (letters rendered between turns)."""

    @classmethod
    def read(cls, messages: Sequence[Message]) -> Conversation:
        first = next((m.text for m in messages if m.role == "user" and m.text), "")
        conv = cls(task=task_part(first))
        seen_task = False
        for m in messages:
            if m.role == "assistant":
                conv.calls.update((c.id, c) for c in m.tool_calls)
                continue
            conv.results.update((r.tool_call_id, r) for r in m.tool_results)
            texts = [p.text for p in m.parts if isinstance(p, TextPart) and p.text]
            if texts and not seen_task:
                seen_task = True
                continue
            conv.letters += texts
        return conv

    def ok(self, call_id: str) -> str | None:
        r = self.results.get(call_id)
        return None if r is None or r.is_error else r.content

    def error(self, call_id: str) -> str | None:
        r = self.results.get(call_id)
        return r.content if r is not None and r.is_error else None

    def done(self, call_id: str) -> bool:
        return call_id in self.results


@dataclass(frozen=True, slots=True)
class Done:
    """A role's work is finished: what its completion says."""

    summary: str
    files_changed: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    test_results: str = ""
    open_questions: tuple[str, ...] = ()


def _call(call_id: str, name: str, **arguments: Any) -> ToolCallPart:
    return ToolCallPart(id=f"offline_{call_id}", name=name, arguments=arguments)


def _cid(call_id: str) -> str:
    return f"offline_{call_id}"


def play(messages: Sequence[Message], tools: set[str], *, forced: bool) -> tuple[TextPart | ToolCallPart, ...] | None:
    """The next turn of whichever specialist the tools and the task make this agent; None when the task
    is no intent of the family (the keyword researcher answers it). A researcher's task is an intent
    only with an ``Intent:`` line (a question may well say "rename ... to ...")."""
    conv = Conversation.read(messages)
    role = pick_role(tools, conv.task)
    if role == "researcher" and not _INTENT_LINE.search(conv.task):
        return None
    head = BANNER.format(role=role)
    intent: Intent | None = None
    step: Calls | Done
    try:
        intent = parse_intent(conv.task)
    except IntentError as exc:
        step = Done(summary=f"I cannot carry out this task: {exc}.", open_questions=(str(exc),))
    else:
        if intent is None:
            return None
        step = _ROLE_WORK[role](conv, intent, tools)
    if isinstance(step, tuple):
        if forced:
            return (TextPart(text=f"{head}\nStopped at the iteration limit before finishing the {role}'s work."),)
        return step
    if "complete_task" in tools and not conv.done(_cid("complete")):
        if forced:
            return (TextPart(text=f"{head}\n{step.summary}\n(Stopped before complete_task was called.)"),)
        return (
            _call(
                "complete",
                "complete_task",
                summary=f"{step.summary}\n(by the offline model: rules, not an LLM)",
                files_changed=list(step.files_changed),
                decisions=list(step.decisions),
                test_results=step.test_results,
                open_questions=list(step.open_questions),
            ),
        )
    if not forced and intent is not None:
        reply = _answer_letters(conv, intent, tools, role)
        if reply:
            return reply
    return (TextPart(text=f"{head}\n{step.summary}"),)


# letters ---------------------------------------------------------------------------------------

_ASK = re.compile(r"""send_message\(to=["']([^"'\n]+)["'],.*reply_to=["']([^"'\n]+)["']\)""")
_BAR = "│"


def letters_asking(conv: Conversation) -> list[tuple[str, str, str]]:
    """(ask id, sender, text) of each letter that asks for an answer, in order, each id once. Letters
    come as the post office's render() shows them: our own lines start with "--- ", what a sender wrote
    is behind the bar (│), so a sender's text can never pose as another ask."""
    out: dict[str, tuple[str, str, str]] = {}
    for text in conv.letters:
        body: list[str] = []
        for line in text.splitlines():
            if line.startswith(_BAR):
                body.append(line[1:].strip())
                continue
            m = _ASK.search(line) if line.startswith("--- ") else None
            if m:
                out.setdefault(m.group(2), (m.group(2), m.group(1), "\n".join(body)))
            if line.startswith("--- ") and not m:
                body = []  # the header of the next letter
    return list(out.values())


def _answer_letters(conv: Conversation, intent: Intent, tools: set[str], role: str) -> Calls:
    if "send_message" not in tools:
        return ()
    for j, (ask_id, sender, text) in enumerate(letters_asking(conv)):
        key = f"reply_{j}"
        if conv.done(_cid(key)):
            continue
        if role == "implementer" and intent.kind == "rename":
            step = _rename_round(conv, intent, f"ask{j}_", per_line=True)
            if isinstance(step, tuple):
                return step
            if step.files_changed:
                said = (
                    f"I re-checked my edits and fixed leftovers of `{intent.symbol}` in "
                    f"{', '.join(step.files_changed)}. Please run the tests again."
                )
            else:
                said = (
                    f"I re-checked my edits: no leftover of `{intent.symbol}` is left as code. The offline model "
                    "cannot reason about other failures, so I cannot fix these; a real model or a human must."
                )
        else:
            said = (
                f"The offline {role} cannot reason about this message; it only carries out its own steps "
                "for the intent. A real model or a human must answer it."
            )
        failing = next((line.strip() for line in text.splitlines() if "FAIL" in line or "Error" in line), "")
        if failing:
            said += f" (first failure as I received it: {failing[:200]})"
        return (_call(key, "send_message", to=sender, text=f"{said} [offline model]", reply_to=ask_id),)
    return ()


# searching and reading -------------------------------------------------------------------------


def _word_pattern(symbol: str) -> str:
    return rf"\b{re.escape(symbol)}\b"


_CONTENT_ROW = re.compile(r"^(.+?):(\d+):(.*)$")


def _content_rows(result: str | None) -> list[tuple[str, int, str]]:
    rows = []
    for row in (result or "").splitlines():
        m = _CONTENT_ROW.match(row)
        if m:
            rows.append((m.group(1), int(m.group(2)), m.group(3)))
    return rows


def _file_rows(result: str | None) -> list[str]:
    rows = (r.strip() for r in (result or "").splitlines())
    return [r for r in rows if r and not r.startswith(("[truncated", "No matches for /", "No files match "))]


def _read_whole(conv: Conversation, prefix: str, paths: Sequence[str]) -> Calls | dict[str, dict[int, str]]:
    """Read each file whole (several file_read calls for a long one); the lines once all are read."""
    calls, out = [], {}
    for i, path in enumerate(paths):
        lines: dict[int, str] = {}
        offset = 1
        while True:
            key = f"{prefix}read_{i}_{offset}"
            if not conv.done(_cid(key)):
                calls.append(_call(key, "file_read", path=path, offset=offset, limit=MAX_READ))
                break
            got, total = read_lines(conv.ok(_cid(key)) or "")
            lines.update(got)
            if not got or max(got) >= total:
                out[path] = lines
                break
            offset = max(got) + 1
    return tuple(calls) if calls else out


# implementer -----------------------------------------------------------------------------------


def _rename_round(conv: Conversation, intent: Intent, prefix: str, *, per_line: bool) -> Calls | Done:
    """Find the files that use the symbol, read them, and edit them one edit per turn."""
    find = f"{prefix}find"
    if not conv.done(_cid(find)):
        pattern = _word_pattern(intent.symbol)
        return (_call(find, "content_search", pattern=pattern, output_mode="files_with_matches", max_results=2000),)
    files = _file_rows(conv.ok(_cid(find)))
    if not files:
        return Done(summary=f"No whole-word use of `{intent.symbol}` was found: nothing was renamed.")
    skipped = files[MAX_FILES:]
    read = _read_whole(conv, prefix, files[:MAX_FILES])
    if isinstance(read, tuple):
        return read
    edits: list[Edit] = []
    for path in files[:MAX_FILES]:
        edits += rename_edits(path, read[path], intent, per_line=per_line)
    changed, failed = [], []
    for k, edit in enumerate(edits):
        key = f"{prefix}edit_{k}"
        if not conv.done(_cid(key)):
            return (_call(key, "file_edit", path=edit.path, old=edit.old, new=edit.new, replace_all=edit.replace_all),)
        if conv.ok(_cid(key)) is not None:
            changed.append(edit.path)
        else:
            failed.append(f"{edit.path}:{edit.line}: {(conv.error(_cid(key)) or '').splitlines()[0][:160]}")
    if not edits:
        return Done(
            summary=f"`{intent.symbol}` appears in {len(files)} file(s), but never as the name `{intent.qualified}`"
            + (f" (defined in class {intent.owner} or reached through it)" if intent.owner else "")
            + ": nothing was renamed."
        )
    changed = list(dict.fromkeys(changed))
    lines = [
        f"Renamed `{intent.qualified}` to `{intent.new}`: {len(edits) - len(failed)} edit(s) in {len(changed)} file(s)."
    ]
    lines += [f"- {path}" for path in changed]
    if failed:
        lines.append("Edits that failed: " + "; ".join(failed))
    if skipped:
        lines.append(f"Not touched (more than {MAX_FILES} files): " + ", ".join(skipped[:10]))
    return Done(summary="\n".join(lines), files_changed=tuple(changed), open_questions=tuple(failed))


def _implement(conv: Conversation, intent: Intent, tools: set[str]) -> Calls | Done:
    if intent.kind == "add_test":
        if "file_write" not in tools:
            return Done(summary="I was not offered file_write, so I could not write the test.")
        return _write_test(conv, intent)
    if "file_edit" not in tools or "content_search" not in tools or "file_read" not in tools:
        return Done(summary="I need content_search, file_read and file_edit to rename; one is not offered.")
    first = _rename_round(conv, intent, "r1_", per_line=False)
    if isinstance(first, tuple) or not first.open_questions:
        return first
    second = _rename_round(conv, intent, "r2_", per_line=True)  # a multi-line edit did not match: line by line
    if isinstance(second, tuple):
        return second
    files = tuple(dict.fromkeys([*first.files_changed, *second.files_changed]))
    return Done(
        summary=f"{first.summary}\nSecond pass, line by line:\n{second.summary}",
        files_changed=files,
        open_questions=second.open_questions,
    )


_TEST_NAME = re.compile(r"(?:^|/)(test_[^/]*\.py|[^/]*_test\.py)$")


def _imported_from(imports: str, name: str, candidates: list[str]) -> str:
    """The module the project's tests import the name (or its module) from, when one of them does: a
    package that re-exports it (from inventory import Stock) counts."""
    for m in re.finditer(r"^\s*from\s+([\w.]+)\s+import\s+\(?([^)\n]*)", imports, re.M):
        source, names = m.group(1), re.findall(r"\w+", m.group(2))
        if name in names and any(c == source or c.startswith(source + ".") for c in candidates):
            return source
    for c in candidates:
        if re.search(rf"^\s*(?:from|import)\s+{re.escape(c)}\b", imports, re.M):
            return c
    return ""


def _write_test(conv: Conversation, intent: Intent) -> Calls | Done:
    if not conv.done(_cid("t_def")):
        pattern = rf"^\s*(async\s+)?def\s+{re.escape(intent.symbol)}\b"
        return (
            _call("t_def", "content_search", pattern=pattern, output_mode="files_with_matches", max_results=200),
            _call("t_tests", "file_search", pattern="**/*test*.py", max_results=500),
            _call("t_pkgs", "file_search", pattern="**/__init__.py", max_results=2000),
            _call("t_imports", "content_search", pattern=_from_import(intent), glob="*.py", max_results=200),
        )
    sources = [p for p in _file_rows(conv.ok(_cid("t_def"))) if p.endswith(".py") and not _TEST_NAME.search(p)][:5]
    tests = [p for p in _file_rows(conv.ok(_cid("t_tests"))) if _TEST_NAME.search(p)]
    if not sources:
        return Done(
            summary=f"No definition of `{intent.qualified}` was found (def {intent.symbol}); no test was written.",
            open_questions=(f"Where is `{intent.qualified}` defined?",),
        )
    read = _read_whole(conv, "t_", sources)
    if isinstance(read, tuple):
        return read
    sig = next((s for p in sources if (s := find_signature(p, read[p], intent)) is not None), None)
    if sig is None:
        return Done(
            summary=f"`{intent.qualified}` is not defined at module level"
            + (f" in class {intent.owner}" if intent.owner else "")
            + " in "
            + ", ".join(sources)
            + "; no test was written.",
            open_questions=(f"Which `{intent.symbol}` is meant?",),
        )
    packages = {str(PurePosixPath(p).parent) for p in _file_rows(conv.ok(_cid("t_pkgs")))}
    candidates = module_candidates(sig.path, packages)
    rows = _content_rows(conv.ok(_cid("t_imports")))  # how the project's tests import it, else its code
    in_tests = "\n".join(t for p, _, t in rows if _TEST_NAME.search(p))
    module = (
        _imported_from(in_tests, sig.owner or sig.name, candidates)
        or _imported_from("\n".join(t for _, _, t in rows), sig.owner or sig.name, candidates)
        or candidates[0]
    )
    folder = Counter(str(PurePosixPath(t).parent) for t in tests).most_common(1)[0][0] if tests else "tests"
    suffix_style = bool(tests) and all(t.endswith("_test.py") for t in tests)
    stem = f"{intent.owner.lower()}_{intent.symbol}" if intent.owner else intent.symbol
    existing = set(tests)
    for n in range(1, 100):
        tag = "" if n == 1 else f"_{n}"
        name = f"{stem}{tag}_test.py" if suffix_style else f"test_{stem}{tag}.py"
        path = name if folder in (".", "") else f"{folder}/{name}"
        if path not in existing:
            break
    if not conv.done(_cid("t_write")):
        content = test_source(sig, module, banner="Written by the offline model of loom-nb (rules, not an LLM).")
        return (_call("t_write", "file_write", path=path, content=content),)
    error = conv.error(_cid("t_write"))
    if error:
        return Done(summary=f"Writing {path} failed: {error.splitlines()[0][:200]}", open_questions=(error[:200],))
    return Done(
        summary=(
            f"Wrote {path} for `{intent.qualified}` (defined at {sig.path}:{sig.line}: "
            f"`{sig.text.splitlines()[0][:100]}`): it imports `{sig.owner or sig.name}` from `{module}` and checks "
            + "; ".join(test_checks(sig))
            + "."
        ),
        files_changed=(path,),
    )


def _from_import(intent: Intent) -> str:
    name = re.escape((intent.owner or intent.symbol).split(".")[-1])
    return rf"^\s*from\s+[\w.]+\s+import\s.*\b{name}\b"


# researcher ------------------------------------------------------------------------------------

_DEFINES = r"^\s*(?:async\s+def|def|class)\s+{name}\b|^\s*{name}\s*(?::[^=]*)?=[^=]"


def _kind_of(path: str, text: str, symbol: str) -> str:
    if re.match(_DEFINES.format(name=re.escape(symbol)), text):
        return "definition"
    if re.match(r"\s*(?:from\s+\S+\s+)?import\b", text):
        return "import"
    if re.search(r"(^|/)tests?/|(^|/)test_|_test\.py$|conftest\.py$", path):
        return "test"
    if not path.endswith((".py", ".pyi")):
        return "doc"
    return "reference"


def _research(conv: Conversation, intent: Intent, tools: set[str]) -> Calls | Done:
    if "content_search" not in tools:
        return Done(summary="I was not offered content_search, so I could not search.")
    if not conv.done(_cid("find")):
        return (_call("find", "content_search", pattern=_word_pattern(intent.symbol), max_results=500),)
    rows = _content_rows(conv.ok(_cid("find")))
    defs = [(p, n) for p, n, t in rows if _kind_of(p, t, intent.symbol) == "definition" and p.endswith(".py")]
    def_files = list(dict.fromkeys(p for p, _ in defs))[:3]
    whole: dict[str, dict[int, str]] = {}
    if "file_read" in tools and intent.kind == "add_test":  # the signature needs the whole definition
        read = _read_whole(conv, "def_", def_files)
        if isinstance(read, tuple):
            return read
        whole = read
    elif "file_read" in tools and defs and not conv.done(_cid("read_0")):
        return tuple(
            _call(f"read_{k}", "file_read", path=p, offset=max(1, n - 2), limit=25) for k, (p, n) in enumerate(defs[:3])
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


def _architect(conv: Conversation, intent: Intent, tools: set[str]) -> Calls | Done:
    research = _research(conv, intent, tools)
    if isinstance(research, tuple):
        return research
    rows = _content_rows(conv.ok(_cid("find")))
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
        if not conv.done(_cid("decision")):
            return (
                _call(
                    "decision",
                    "decision_log",
                    node_type="decision",
                    title=title,
                    description=description,
                    confidence=confidence,
                ),
            )
        logged = re.search(r"#(\d+)", conv.ok(_cid("decision")) or "")
        if logged:
            for k, (option, why) in enumerate(_options(intent)):
                key = f"option_{k}"
                if not conv.done(_cid(key)):
                    return (
                        _call(
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


def _failed(result: ToolResultPart) -> bool:
    first = result.content.strip().splitlines()[0] if result.content.strip() else ""
    return result.is_error or bool(_FAILED.search(first))


def _test(conv: Conversation, intent: Intent, tools: set[str]) -> Calls | Done:
    if "run_tests" not in tools:
        return Done(summary="I was not offered run_tests, so the tests were not run.", test_results="not run")
    rounds_m = re.search(r"^Fix rounds: (\d+)$", conv.task, re.M)
    rounds = int(rounds_m.group(1)) if rounds_m else DEFAULT_FIX_ROUNDS
    who_m = re.search(r"^Implementer: `([^`\n]+)`$", conv.task, re.M)
    implementer = who_m.group(1) if who_m else ""
    r = 0
    asked: list[str] = []
    while True:
        run = _cid(f"run_{r}")
        if run not in conv.results:
            return (_call(f"run_{r}", "run_tests", reason=f"check the change for: {intent.qualified}"),)
        result = conv.results[run]
        summary = result.content.strip().splitlines()[0] if result.content.strip() else "(no output)"
        if not _failed(result) or result.is_error:  # a run that could not start is no failure to fix
            break
        if r >= rounds or not implementer or "ask" not in tools or conv.error(_cid(f"ask_{r - 1}")):
            break
        ask = _cid(f"ask_{r}")
        if ask not in conv.results:
            question = f"The tests fail after your change (round {r + 1} of {rounds}):\n{result.content[:3000]}"
            return (_call(f"ask_{r}", "ask", to=implementer, question=question),)
        asked.append(implementer)
        r += 1
    state = "failing" if _failed(result) else "passing"
    lines = [f"Tests {state} after {r + 1} run(s): {summary}"]
    if asked:
        lines.append(f"Asked {implementer} to fix failures {len(asked)} time(s).")
    if _failed(result):
        lines.append(result.content.strip()[:1500])
    return Done(summary="\n".join(lines), test_results=summary, open_questions=(summary,) if _failed(result) else ())


# reviewer --------------------------------------------------------------------------------------


def _diff_files(diff: str) -> dict[str, tuple[list[str], list[str]]]:
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


def _review(conv: Conversation, intent: Intent, tools: set[str]) -> Calls | Done:
    """Read the diff (workspace_diff; without it only the leftover search below) and, for a rename, search
    the whole tree for leftovers of the old name the diff cannot show (files nobody edited)."""
    if "workspace_diff" in tools and not conv.done(_cid("diff")):
        return (_call("diff", "workspace_diff"),)
    scan = intent.kind == "rename" and not intent.owner and "content_search" in tools
    if scan and not conv.done(_cid("left")):  # an owner's member (Stock.remove) shares its name with others
        return (_call("left", "content_search", pattern=_word_pattern(intent.symbol), glob="*.py", max_results=200),)
    files = _diff_files(conv.ok(_cid("diff")) or "")
    word = re.compile(rf"(?<!\w){re.escape(intent.symbol)}(?!\w)")
    findings: list[str] = []
    if "workspace_diff" not in tools:
        findings.append("No workspace_diff tool was offered: the diff was not read.")
    elif conv.ok(_cid("diff")) is None:
        findings.append(f"The diff could not be read: {(conv.error(_cid('diff')) or '').strip()[:160]}")
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
        elif _TEST_NAME.search(path):
            imports = any(re.search(rf"\bimport\b.*\b{re.escape(intent.owner or intent.symbol)}\b", a) for a in added)
            findings.append(
                f"{path}: new test file, {len(added)} line(s)"
                + ("" if imports else f"; it does not import `{intent.owner or intent.symbol}`")
            )
        else:
            findings.append(f"{path}: changed although the intent only adds a test")
    code = [(p, n, t) for p, n, t in _content_rows(conv.ok(_cid("left"))) if word.search(t.split("#", 1)[0])]
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
            if not conv.done(_cid(key)):
                return (_call(key, "decision_log", node_type="observation", title=finding[:200], confidence=70),)
    return Done(summary="Review of the diff:\n" + "\n".join(f"- {f}" for f in findings), decisions=tuple(findings))


_ROLE_WORK = {
    "researcher": _research,
    "architect": _architect,
    "implementer": _implement,
    "tester": _test,
    "reviewer": _review,
}
