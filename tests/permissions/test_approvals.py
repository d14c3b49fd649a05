"""The approval queue: many waiting at once, answers from any thread, timeouts, stops, `always` rules."""

import asyncio
import threading

import pytest

from loom_nb.permissions import ApprovalQueue, NoSuchApproval


async def wait_pending(queue: ApprovalQueue, n: int) -> None:
    """Until n requests are queued (the queue tells its listeners; no polling)."""
    enough = asyncio.Event()
    check = lambda *_: len(queue.pending()) >= n and enough.set()  # noqa: E731
    unsubscribe = queue.subscribe(check)
    check()
    try:
        await asyncio.wait_for(enough.wait(), 5)
    finally:
        unsubscribe()


async def test_many_wait_at_once_and_others_keep_working() -> None:
    queue = ApprovalQueue()
    asks = [asyncio.create_task(queue.ask(tool="shell", arguments={"command": f"make t{i}"})) for i in range(5)]
    await wait_pending(queue, 5)
    worked = await asyncio.gather(*(asyncio.sleep(0, result=i) for i in range(3)))  # the loop is not blocked
    assert worked == [0, 1, 2]
    ids = [r.id for r in queue.pending()]
    assert len(set(ids)) == 5
    queue.answer(ids[3], "deny", message="not that one")
    queue.answer_all("allow", by="cell")
    answers = await asyncio.gather(*asks)
    assert [a.action for a in answers] == ["allow", "allow", "allow", "deny", "allow"]
    assert answers[3].message == "not that one"
    assert len(queue.decided) == 5 and not queue.pending()


async def test_an_answer_from_another_thread() -> None:
    queue = ApprovalQueue()
    ask = asyncio.create_task(queue.ask(tool="file_write", arguments={"path": "a.py"}))
    await wait_pending(queue, 1)
    (request,) = queue.pending()
    thread = threading.Thread(target=queue.answer, args=(request.id, "allow"), kwargs={"by": "widget"})
    thread.start()
    answer = await asyncio.wait_for(ask, 5)
    thread.join()
    assert answer.action == "allow" and answer.by == "widget"


async def test_edit_the_arguments_then_allow() -> None:
    queue = ApprovalQueue()
    ask = asyncio.create_task(queue.ask(tool="shell", arguments={"command": "rm -rf build"}))
    await wait_pending(queue, 1)
    queue.answer(queue.pending()[0].id, "allow", arguments={"command": "rm -rf build/tmp"})
    assert (await ask).arguments == {"command": "rm -rf build/tmp"}


async def test_unanswered_requests_are_denied_after_the_timeout() -> None:
    queue = ApprovalQueue(timeout=0.05)
    answer = await queue.ask(tool="shell", arguments={"command": "npm ci"})
    assert answer.action == "deny" and answer.by == "timeout" and "0.05 s" in answer.message
    assert not queue.pending() and queue.decided[0][1] is answer


async def test_a_stop_cancels_what_is_pending() -> None:
    queue = ApprovalQueue()
    asks = [asyncio.create_task(queue.ask(tool="shell", arguments={"command": "ls"})) for _ in range(3)]
    await wait_pending(queue, 3)
    asks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await asks[0]
    assert queue.cancel_all("stopped by the user") == 2
    assert [a.by for a in await asyncio.gather(*asks[1:])] == ["stop", "stop"]
    assert [a.by for _, a in queue.decided] == ["stop", "stop", "stop"]


async def test_answering_what_is_not_pending_says_so() -> None:
    queue = ApprovalQueue()
    with pytest.raises(NoSuchApproval, match="no pending approval 'a9'"):
        queue.answer("a9", "allow")
    with pytest.raises(ValueError, match="allow or deny"):
        queue.answer("a9", "maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be > 0"):
        ApprovalQueue(timeout=0)
