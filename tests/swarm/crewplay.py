"""A FakeLLMServer handler that plays a whole coding team over HTTP, from what each request says.

The system prompt says which role is asking (the lead's three turns have their own prompts), the
first user message which task, and the conversation so far which step comes next: the player only
reads the request, as a model would, and answers in the wire format of the API it came through
(the real anthropic SDK or litellm on the other end). Each role's behaviour is a plain function of
that view, so a test swaps in a tester that fails twice or an implementer that crashes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loom_nb.testing import FakeLLMServer, Fault, RecordedRequest, Reply

Step = Reply | Fault

_ROLE_OF_PROMPT = (
    ("You are a researcher", "researcher"),
    ("You are the architect", "architect"),
    ("You are an implementer", "implementer"),
    ("You are the tester", "tester"),
    ("You are the reviewer", "reviewer"),
    ("You lead a team that changed a codebase", "lead-answer"),
    ("You lead a team of specialists", "lead-plan"),
)
_TASK = re.compile(r"^Task (t\d+) \(")
_ROUNDS = re.compile(r"Fix rounds allowed: (\d+)\.")


@dataclass(frozen=True)
class Item:
    """One step of a conversation, the same for both APIs."""

    kind: str
    """user, assistant, call or result."""
    text: str = ""
    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """A request as the player reads it."""

    api: str
    role: str
    task: str
    system: str
    tools: frozenset[str]
    items: tuple[Item, ...]

    @property
    def first(self) -> str:
        return next((i.text for i in self.items if i.kind == "user"), "")

    @property
    def last(self) -> Item:
        return self.items[-1]

    def calls(self, name: str) -> list[dict[str, Any]]:
        """Arguments of each call of `name` in this conversation so far."""
        return [i.args for i in self.items if i.kind == "call" and i.name == name]

    def results(self, name: str) -> list[str]:
        return [i.text for i in self.items if i.kind == "result" and i.name == name]

    def users(self) -> list[str]:
        return [i.text for i in self.items if i.kind == "user"]

    @property
    def rounds(self) -> int:
        m = _ROUNDS.search(self.first)
        return int(m.group(1)) if m else 0


Behaviour = Callable[[Turn], Step]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def read_turn(request: RecordedRequest) -> Turn:
    """The request, normalized: system prompt, tools offered, and the conversation as Items."""
    body = request.body
    items: list[Item] = []
    names: dict[str, str] = {}
    if request.api == "anthropic":
        system = _text(body.get("system", ""))
        tools = frozenset(t["name"] for t in body.get("tools") or ())
        for m in body["messages"]:
            blocks = m["content"] if isinstance(m["content"], list) else [{"type": "text", "text": m["content"]}]
            for b in blocks:
                if b["type"] == "text":
                    items.append(Item("user" if m["role"] == "user" else "assistant", b["text"]))
                elif b["type"] == "tool_use":
                    names[b["id"]] = b["name"]
                    items.append(Item("call", name=b["name"], args=dict(b["input"])))
                elif b["type"] == "tool_result":
                    items.append(Item("result", _text(b.get("content", "")), name=names.get(b["tool_use_id"], "")))
    else:
        system = next((_text(m["content"]) for m in body["messages"] if m["role"] == "system"), "")
        tools = frozenset(t["function"]["name"] for t in body.get("tools") or ())
        for m in body["messages"]:
            if m["role"] == "system":
                continue
            if m["role"] == "tool":
                items.append(Item("result", _text(m["content"]), name=names.get(m["tool_call_id"], "")))
                continue
            if _text(m.get("content")):
                items.append(Item("user" if m["role"] == "user" else "assistant", _text(m["content"])))
            for c in m.get("tool_calls") or ():
                names[c["id"]] = c["function"]["name"]
                items.append(Item("call", name=c["function"]["name"], args=json.loads(c["function"]["arguments"])))
    role = next((r for prefix, r in _ROLE_OF_PROMPT if system.startswith(prefix)), "unknown")
    if role == "lead-plan" and items and items[-1].kind == "user":
        if re.match(r"^Task t\d+ \(.*\) ended ", items[-1].text):
            role = "lead-revise"
    first = next((i.text for i in items if i.kind == "user"), "")
    m = _TASK.match(first)
    return Turn(request.api, role, m.group(1) if m else "", system, tools, tuple(items))


class CrewServer(FakeLLMServer):
    """Plays the lead from `plan` (and `revise`), each specialist from `behaviours[role]` (or
    `behaviours[task id]`, which wins), with usage in proportion to the request."""

    def __init__(
        self,
        plan: list[dict[str, Any]],
        behaviours: dict[str, Behaviour],
        *,
        revise: Callable[[Turn], str] = lambda turn: "KEEP",
        output_tokens: int = 200,
    ) -> None:
        super().__init__(handler=self._play)
        self.plan = plan
        self.behaviours = behaviours
        self.revise = revise
        self.output_tokens = output_tokens
        self.turns: list[Turn] = []
        self.replies: list[Step] = []
        self._turns_lock = threading.Lock()

    def _play(self, request: RecordedRequest) -> Step:
        turn = read_turn(request)
        step = self._step(turn)
        if isinstance(step, Reply):
            tokens = len(json.dumps(request.body)) // 4  # what a tokenizer counts, roughly
            step = Reply(
                text=step.text,
                tool_calls=step.tool_calls,
                input_tokens=tokens,
                output_tokens=self.output_tokens,
                latency=step.latency,
                raw_arguments=step.raw_arguments,
            )
        with self._turns_lock:
            self.turns.append(turn)
            self.replies.append(step)
        return step

    def _step(self, turn: Turn) -> Step:
        if turn.role == "lead-plan":
            return Reply(text=json.dumps({"tasks": self.plan}))
        if turn.role == "lead-revise":
            return Reply(text=self.revise(turn))
        if turn.role == "lead-answer":
            return Reply(text="Done, from the facts I was given:\n" + turn.first)
        act = self.behaviours.get(turn.task) or self.behaviours.get(turn.role)
        if act is None:
            raise AssertionError(f"no behaviour for {turn.role} {turn.task}: {turn.first[:200]}")
        return act(turn)

    def of(self, role: str) -> list[Turn]:
        with self._turns_lock:
            return [t for t in self.turns if t.role == role]


def call(name: str, **args: Any) -> Reply:
    return Reply(tool_calls=[(name, args)])


def say(text: str) -> Reply:
    return Reply(text=text)


# the usual team ---------------------------------------------------------------------------------


def researcher(turn: Turn) -> Step:
    """Reads the module, then answers citing the line it read."""
    if not turn.calls("file_read"):
        return call("file_read", path="calc/__init__.py")
    return say("add subtracts instead of adding.\ncalc/__init__.py:2: return a - b")


def architect(turn: Turn) -> Step:
    """A decision, the option it rejected (linked to it), then complete_task."""
    logged = turn.results("decision_log")
    if not logged:
        return call(
            "decision_log",
            node_type="decision",
            title="fix add in place",
            description="one operator is wrong",
            confidence=90,
        )
    if len(logged) == 1:
        decision_id = int(re.search(r"#(\d+)", logged[0]).group(1))
        return call(
            "decision_log",
            node_type="option",
            title="rewrite calc with operator.add",
            description="more change than the bug needs",
            confidence=30,
            parent_id=decision_id,
            edge_type="rejected",
        )
    if not turn.calls("complete_task"):
        return call(
            "complete_task",
            summary="Edit calc/__init__.py: return a + b.",
            decisions=["fix add in place", "rejected: rewrite calc with operator.add"],
        )
    return say("handed over")


def implementer(edits: list[tuple[str, str]]) -> Behaviour:
    """Makes edits[0] for its task; each letter it is woken by gets the next edit, then a reply."""

    def act(turn: Turn) -> Step:
        made = len([r for r in turn.results("file_edit") if "was not run" not in r])  # edits that took
        woken = sum(1 for u in turn.users() if "waits for your answer" in u)
        if made == 0:
            old, new = edits[0]
            return call("file_edit", path="calc/__init__.py", old=old, new=new)
        if not turn.calls("complete_task"):
            return call("complete_task", summary="fixed add", files_changed=["calc/__init__.py"])
        if woken and made <= woken and made < len(edits):  # a tester's letter: fix again
            old, new = edits[made]
            return call("file_edit", path="calc/__init__.py", old=old, new=new)
        if woken:
            return say(f"fixed again (edit {made}): run the tests once more")
        return say("done")

    return act


def the_tester(turn: Turn) -> Step:
    """Runs the tests; on a failure asks the implementer (as many rounds as its task allows), then
    runs them again; ends with complete_task saying what the last run said."""
    runs = turn.results("run_tests")
    asks = turn.calls("ask")
    if len(runs) == len(asks):
        return call("run_tests")
    last = runs[-1]
    failing = re.search(r"\b[1-9]\d* (failed|errors?)\b", last.split("\n")[0]) is not None
    if failing and len(asks) < turn.rounds:
        return call("ask", to="implementer-1", question=f"The tests fail:\n{last}", timeout_s=60)
    if not turn.calls("complete_task"):
        return call("complete_task", summary="ran the tests", test_results=last.split("\n")[0])
    return say("tested")
