"""The gate: policy first, then the queue; events for every ask and answer; `always` answers settle
what they cover."""

import asyncio

from loom_nb.events import EventBus, EventLog
from loom_nb.permissions import ApprovalQueue, PermissionGate, Policy, Rule


async def next_request(queue: ApprovalQueue, n: int = 1):
    """Until n requests are pending (the queue tells its listeners)."""
    enough = asyncio.Event()
    unsubscribe = queue.subscribe(lambda *_: len(queue.pending()) >= n and enough.set())
    if len(queue.pending()) >= n:
        enough.set()
    try:
        await asyncio.wait_for(enough.wait(), 5)
    finally:
        unsubscribe()
    return queue.pending()


async def test_allow_and_deny_need_no_human() -> None:
    gate = PermissionGate(Policy(preset="balanced", rules=[Rule(action="deny", command="rm")]))
    assert (await gate.check("file_read", {"path": "a"})).allowed
    denied = await gate.check("shell", {"command": "ls; rm -rf x"})
    assert not denied.allowed and denied.message.startswith("refused by the policy: deny: deny command 'rm'")
    assert gate.queue.pending() == []


async def test_an_ask_waits_for_a_human_and_records_both_events() -> None:
    bus = EventBus()
    log = EventLog(bus)
    gate = PermissionGate(Policy(preset="balanced"), bus=bus, session_id="s1")
    check = asyncio.ensure_future(gate.check("shell", {"command": "npm ci"}, agent="impl-1", role="implementer"))
    (request,) = await next_request(gate.queue)
    assert request.decision is not None and "preset balanced asks" in request.decision.explain
    gate.queue.answer(request.id, "deny", message="use the lock file", by="cell")
    result = await check
    assert not result.allowed and result.message == "denied by the user: use the lock file"
    (asked,) = log.of_kind("approval_requested")
    (decided,) = log.of_kind("approval_decided")
    assert asked.request_id == decided.request_id == result.request_id == request.id
    assert asked.rule.startswith("ask: preset balanced") and decided.by == "cell" and decided.latency_s >= 0


async def test_always_adds_the_narrowest_rule_and_settles_what_it_covers() -> None:
    gate = PermissionGate(Policy(preset="balanced"))
    command = "ls && npm ci --quiet"
    checks = [
        asyncio.ensure_future(gate.check("shell", {"command": command}, role="implementer")),
        asyncio.ensure_future(gate.check("shell", {"command": "npm ci --quiet"}, role="implementer")),
        asyncio.ensure_future(gate.check("shell", {"command": "npm ci --quiet"}, role="tester")),
    ]
    pending = await next_request(gate.queue, 3)
    answer = gate.queue.answer(pending[0].id, "allow", always=True, by="widget")
    assert answer.rule is not None
    assert answer.rule.describe().startswith("allow command 'npm ci --quiet' in shell for role implementer")
    first, second = await asyncio.gather(*checks[:2])
    assert first.allowed and second.allowed and second.answer.by == "rule from widget"
    assert [r.role for r in gate.queue.pending()] == ["tester"]  # another role's ask still waits
    assert gate.policy.decide("shell", {"command": "npm ci"}, role="implementer").action == "ask"
    gate.close()
    assert not (await checks[2]).allowed


async def test_edited_arguments_are_what_runs() -> None:
    gate = PermissionGate(Policy(preset="strict"))
    check = asyncio.ensure_future(gate.check("file_write", {"path": "a.py", "content": "x"}))
    (request,) = await next_request(gate.queue)
    gate.queue.answer(request.id, "allow", arguments={"path": "b.py", "content": "y"})
    assert (await check).arguments == {"path": "b.py", "content": "y"}


async def test_where_no_human_can_answer() -> None:
    deny = PermissionGate(Policy(preset="balanced"), on_ask="deny")
    result = await deny.check("shell", {"command": "npm ci"})
    assert not result.allowed and "none can answer here" in result.message
    auto = PermissionGate(Policy(preset="balanced", rules=[Rule(action="deny", command="rm")]), on_ask="allow")
    assert (await auto.check("shell", {"command": "npm ci"})).allowed
    assert not (await auto.check("shell", {"command": "rm x"})).allowed  # deny rules still apply
    assert not (await auto.check("shell", {"command": "$X"})).allowed  # unclear is never allowed


def test_approve_outcomes_lifts_only_the_presets_ask_on_a_writing_roles_edits(tmp_path):
    policy = Policy(
        preset="strict",
        rules=[
            Rule(action="ask", path="secrets/**", match=["secrets/a"], not_match=["app.py"]),
            Rule(action="deny", path="build/**", match=["build/x"], not_match=["app.py"]),
        ],
        root=tmp_path,
        test_command="python -m pytest -q",
    )
    gate = PermissionGate(policy, edits_unasked=frozenset({"implementer"}))
    edit = {"path": "app.py", "old": "a", "new": "b"}
    said = gate.decide("file_edit", edit, role="implementer", category="write")
    assert said.action == "allow" and "approve-outcomes" in said.explain
    assert gate.decide("file_edit", edit, role="researcher", category="write").action == "ask"  # not a writing role
    asked = gate.decide("file_write", {"path": "secrets/a", "content": ""}, role="implementer", category="write")
    assert asked.action == "ask" and asked.rule is not None  # a rule that asks still asks
    denied = gate.decide("file_write", {"path": "build/x", "content": ""}, role="implementer", category="write")
    assert denied.action == "deny"
    for command in ("python -m pytest -q", "ls"):  # commands are not edits: strict still asks for each
        assert gate.decide("shell", {"command": command}, role="implementer", category="execute").action == "ask"
