"""The family of coding intents the offline model can carry out, and the offline lead's plan for one.

The offline model is rules, not an LLM: it plays every role of the coding workflow for a documented
family of intents, and says so plainly for anything else. The family:

- ``rename SYMBOL to NEW``: "rename X to Y", "Rename `X` to `Y` everywhere", "rename the function X to Y",
  "rename X -> Y". SYMBOL may be dotted (``Stock.remove``: symbol ``remove`` of owner ``Stock``).
- ``add a test for FUNCTION``: "add a test for X", "write tests for X", "add unit tests for `x`".

`parse_intent` returns None for text outside the family and raises `IntentError` (one line the lead
can show) for text inside it that cannot be carried out (NEW not an identifier, a keyword, the same
name). `plan_for` is the offline lead's plan; every prompt carries an ``Intent:`` line the offline
specialists parse again, so a specialist that sees only its task prompt knows what to do.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Intent", "IntentError", "PlanStep", "intent_line", "parse_intent", "plan_for", "task_part"]

IntentKind = Literal["rename", "add_test"]
DepKind = Literal["blocks", "informs", "requires_output"]


class IntentError(ValueError):
    """The text asks for an intent of the family, but one that cannot be carried out (the message says why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Intent:
    """One intent of the offline family."""

    kind: IntentKind
    symbol: str
    """The bare name (``remove`` for ``Stock.remove``)."""
    new: str | None = None
    """The new name (rename only)."""
    owner: str = ""
    """What the symbol belongs to when it was written dotted (``Stock`` for ``Stock.remove``)."""

    @property
    def qualified(self) -> str:
        return f"{self.owner}.{self.symbol}" if self.owner else self.symbol


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanStep:
    """One task of the offline lead's plan (the lead engineer turns it into a Task)."""

    id: str
    role: str
    title: str
    prompt: str
    acceptance: str
    deps: tuple[tuple[str, DepKind], ...] = ()
    """(task id, kind) for each task this one depends on."""


_NAME = r"`[^`\n]{1,200}`|[A-Za-z_][\w.]*(?:\(\))?"
_RENAME = re.compile(
    r"\brename\s+(?:the\s+)?(?:(?:function|method|class|variable|constant|attribute|symbol|name|identifier)\s+)?"
    rf"(?P<sym>{_NAME})\s+(?:to|as|into|->|→)\s+(?P<new>`[^`\n]{{1,200}}`|[^\s`]{{1,200}})",
    re.IGNORECASE,
)
_ADD_TEST = re.compile(
    r"\b(?:add|write|create)\s+(?:a\s+|an\s+|some\s+|one\s+)?(?:unit\s+|new\s+|pytest\s+)?tests?\s+"
    rf"(?:for|of|covering)\s+(?:the\s+)?(?:(?:function|method|class)\s+)?(?P<sym>{_NAME})",
    re.IGNORECASE,
)
_OUTPUT_LINE = re.compile(r"^Output of \S+ \([^)\n]*\):", re.MULTILINE)
_INTENT_LINE = re.compile(r"^Intent: (.+)$", re.MULTILINE)


def task_part(text: str) -> str:
    """A task prompt without the predecessors' outputs the lead appends below it ("Output of t1 (researcher):"):
    what other agents (and the files they quote) wrote never becomes an instruction."""
    m = _OUTPUT_LINE.search(text)
    return text[: m.start()] if m else text


def _clean(raw: str) -> str:
    name = raw.strip()
    if name.startswith("`") and name.endswith("`"):
        return name[1:-1].strip()
    name = name.rstrip(".,;:!?)'\"")
    return name[:-2] if name.endswith("()") else name


def _check_name(name: str, what: str) -> None:
    if not name.isidentifier() or not name.isascii():
        raise IntentError(
            f"{what} {name!r} is not a Python identifier; write it with ASCII letters, digits and _ "
            "(not starting with a digit)"
        )
    if keyword.iskeyword(name):
        raise IntentError(f"{what} {name!r} is a Python keyword; choose another name")


def _split(dotted: str, what: str) -> tuple[str, str]:
    parts = dotted.split(".")
    for part in parts:
        _check_name(part, what)
    return ".".join(parts[:-1]), parts[-1]


def parse_intent(text: str) -> Intent | None:
    """The intent the text asks for; None when it asks for nothing in the family. Raises IntentError
    (a one-line reason) when it does but cannot be carried out. Reads only the task part of a prompt."""
    text = task_part(text)
    m = _INTENT_LINE.search(text)
    body = m.group(1) if m else text
    candidates = [(r.start(), "rename", r) for r in [_RENAME.search(body)] if r]
    candidates += [(a.start(), "add_test", a) for a in [_ADD_TEST.search(body)] if a]
    if not candidates:
        return None
    _, kind, found = min(candidates, key=lambda c: c[0])
    owner, symbol = _split(_clean(found.group("sym")), "the symbol")
    if kind == "add_test":
        return Intent(kind="add_test", symbol=symbol, owner=owner)
    new_owner, new = _split(_clean(found.group("new")), "the new name")
    if new_owner and new_owner != owner:
        raise IntentError(
            f"renaming {found.group('sym')} to {found.group('new')} would move it to another owner; "
            f"give only the new name (rename {_clean(found.group('sym'))} to {new})"
        )
    if new == symbol:
        raise IntentError(f"{symbol!r} already has that name; nothing to rename")
    return Intent(kind="rename", symbol=symbol, new=new, owner=owner)


def intent_line(intent: Intent) -> str:
    """The canonical form of an intent, as every plan prompt carries it."""
    if intent.kind == "rename":
        return f"Intent: rename `{intent.qualified}` to `{intent.new}`"
    return f"Intent: add a test for `{intent.qualified}`"


def plan_for(intent: Intent, *, implementer: str = "implementer", fix_rounds: int = 2) -> list[PlanStep]:
    """The offline lead's plan: research, decide, implement, test (asking `implementer` to fix failures
    for at most `fix_rounds` rounds), review. `implementer` is the agent name the tester asks."""
    if fix_rounds < 0:
        raise ValueError(f"fix_rounds must be >= 0; got {fix_rounds}")
    line = intent_line(intent)
    x = f"`{intent.qualified}`"
    if intent.kind == "rename":
        find = (
            f"Find every use of {x}: its definition, references, imports, tests and docs, "
            "with path:line for each (whole-word matches only)."
        )
        decide = f"Decide how to rename {x} to `{intent.new}`: which files change and how; record the decision "
        decide += "and the rejected options with your confidence, then give the implementer concrete steps."
        do = (
            f"Rename {x} to `{intent.new}` in every file that uses it (whole words only, imports, tests and "
            "docs included), one edit per change; list the files you changed."
        )
        do_ok = f"No whole-word use of `{intent.symbol}` is left where it meant {x}; each edit is a commit."
    else:
        find = f"Find the definition of {x}: its file, signature, docstring and doctests, and where the tests live."
        decide = f"Decide how to test {x}: where the test file goes, what it imports and checks; record the "
        decide += "decision and the rejected options with your confidence, then give the implementer concrete steps."
        do = (
            f"Write a new test file for {x} beside the project's tests (same layout and naming) that imports it "
            "and checks what can be known without running it: its signature, its doctests, a call when it "
            "needs no arguments."
        )
        do_ok = "A new test file exists beside the project's tests and imports the function."
    test = (
        f"Run the project's tests. If they fail, ask `{implementer}` to fix them (send the failures), at most "
        f"{fix_rounds} round(s), and run them again. Report the final result."
    )
    review = "Read the diff of this run and record each finding (leftovers, unrelated changes, missing tests)."
    return [
        PlanStep(
            id="t1",
            role="researcher",
            title=f"Research {x}",
            prompt=f"{find}\n{line}",
            acceptance="path:line citations",
        ),
        PlanStep(
            id="t2",
            role="architect",
            title=f"Decide the approach for {x}",
            prompt=f"{decide}\n{line}",
            acceptance="a decision with confidence and rejected options in the graph; concrete steps",
            deps=(("t1", "requires_output"),),
        ),
        PlanStep(
            id="t3",
            role="implementer",
            title=("Rename" if intent.kind == "rename" else "Write a test for") + f" {x}",
            prompt=f"{do}\n{line}",
            acceptance=do_ok,
            deps=(("t2", "requires_output"),),
        ),
        PlanStep(
            id="t4",
            role="tester",
            title="Run the tests",
            prompt=f"{test}\nFix rounds: {fix_rounds}\nImplementer: `{implementer}`\n{line}",
            acceptance="the tests pass, or the failures are reported",
            deps=(("t3", "requires_output"),),
        ),
        PlanStep(
            id="t5",
            role="reviewer",
            title="Review the diff",
            prompt=f"{review}\n{line}",
            acceptance="findings recorded as observations",
            deps=(("t3", "requires_output"), ("t4", "informs")),
        ),
    ]
