import logging

import pytest

from loom_nb.events import AgentStatus, EventBus, EventLog


def test_subscribers_get_events_in_order_and_can_unsubscribe():
    bus = EventBus()
    seen = []
    unsubscribe = bus.subscribe(seen.append)
    e1 = AgentStatus(session_id="s", agent="a", status="thinking")
    bus.emit(e1)
    unsubscribe()
    bus.emit(AgentStatus(session_id="s", agent="a", status="done"))
    assert seen == [e1]


def test_a_failing_subscriber_is_logged_and_does_not_break_the_emitter(caplog):
    bus = EventBus()
    log = EventLog()

    def broken(event):
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(log)
    with caplog.at_level(logging.ERROR, logger="loom_nb.events"):
        bus.emit(AgentStatus(session_id="s", agent="a", status="idle"))
    assert len(log.events) == 1 and "subscriber" in caplog.text


def test_events_are_immutable_keyword_only_and_tagged():
    e = AgentStatus(session_id="s", agent="a", status="crashed", reason="boom")
    assert e.kind == "agent_status" and e.ts > 0
    with pytest.raises(AttributeError):
        e.status = "done"  # type: ignore[misc]
    with pytest.raises(TypeError):
        AgentStatus("s", "a", "done")  # type: ignore[misc]


async def test_stream_collects_events_in_a_block():
    bus = EventBus()
    async with bus.stream() as queue:
        bus.emit(AgentStatus(session_id="s", agent="a", status="thinking"))
    bus.emit(AgentStatus(session_id="s", agent="a", status="done"))
    assert queue.qsize() == 1
