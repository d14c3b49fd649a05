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
from collections.abc import Sequence

from ._intents import Intent, IntentError, parse_intent, task_part
from ._messages import Message, TextPart, ToolCallPart
from ._offline_desk import architect, check_tests, research, review
from ._offline_hands import implement, rename_round
from ._offline_state import Calls, Conversation, Done, call, cid

__all__ = ["ROLES", "letters_asking", "pick_role", "play"]

ROLES = ("researcher", "architect", "implementer", "tester", "reviewer")
BANNER = "[offline model: {role} by deterministic rules, no LLM was used]"
_PROMPT_ROLES = (  # the first words of the plan's prompts (plan_for), when the tools leave the role open
    ("reviewer", re.compile(r"^\s*(?:read the diff|review)\b", re.IGNORECASE | re.MULTILINE)),
    ("tester", re.compile(r"^\s*run the (?:project's )?tests\b", re.IGNORECASE | re.MULTILINE)),
    ("architect", re.compile(r"^\s*decide\b", re.IGNORECASE | re.MULTILINE)),
)
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
    if "complete_task" in tools and not conv.done(cid("complete")):
        if forced:
            return (TextPart(text=f"{head}\n{step.summary}\n(Stopped before complete_task was called.)"),)
        return (
            call(
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
        if conv.done(cid(key)):
            continue
        if role == "implementer" and intent.kind == "rename":
            step = rename_round(conv, intent, f"ask{j}_", per_line=True)
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
        return (call(key, "send_message", to=sender, text=f"{said} [offline model]", reply_to=ask_id),)
    return ()


_ROLE_WORK = {
    "researcher": research,
    "architect": architect,
    "implementer": implement,
    "tester": check_tests,
    "reviewer": review,
}
