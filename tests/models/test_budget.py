"""Budget reservations: reserve the worst case, settle on the real cost, never cross a cap."""

import asyncio
import threading
import time

import pytest

from loom_nb.models import Budget, BudgetReached, Message, ModelSettings, Price, ToolDefinition, worst_case


def test_reserve_settle_release_and_the_refusal_says_why():
    b = Budget(usd=1.0)
    r1 = b.reserve(usd=0.6, tokens=100)
    assert (b.reserved_usd, b.in_flight) == (0.6, 1)
    with pytest.raises(BudgetReached, match=r"budget reached: the session budget of \$1 has \$0.4000 left"):
        b.reserve(usd=0.5, tokens=100)  # fits only once the hold is settled: reserve() does not wait
    assert r1.settle(usd=0.1, tokens=40) == []
    assert (b.spent_usd, b.reserved_usd, b.spent_tokens, b.in_flight) == (pytest.approx(0.1), 0.0, 40, 0)
    r2 = b.reserve(usd=0.5, tokens=10)
    r2.release()
    assert b.spent_usd == pytest.approx(0.1) and b.reserved_usd == 0.0
    with pytest.raises(RuntimeError, match="already settled or released"):
        r2.settle(usd=0.1, tokens=1)
    with pytest.raises(BudgetReached) as info:
        b.reserve(usd=0.95, tokens=1)
    assert info.value.budget is b and b.reached == str(info.value)


def test_the_warning_comes_once_when_settled_spending_passes_80_percent():
    b = Budget(tokens=1000)
    assert b.reserve(usd=None, tokens=500).settle(usd=None, tokens=700) == []
    assert b.reserve(usd=None, tokens=200).settle(usd=None, tokens=100) == [b]  # 800 of 1000
    assert b.warned and b.share == pytest.approx(0.8)
    assert b.reserve(usd=None, tokens=50).settle(usd=None, tokens=50) == []


def test_an_unknown_price_cannot_reserve_in_a_usd_budget_but_can_in_a_token_budget():
    with pytest.raises(BudgetReached, match="price is unknown"):
        Budget(usd=1.0).reserve(usd=None, tokens=10)
    r = Budget(tokens=100).reserve(usd=None, tokens=10)
    assert r.settle(usd=None, tokens=10) == []


def test_nested_caps_hold_room_in_every_budget_up_the_chain():
    session = Budget(usd=1.0)
    role = session.child(usd=0.5, name="role researcher")
    other = session.child(usd=0.8, name="role reviewer")
    r = role.reserve(usd=0.4, tokens=1)
    assert session.reserved_usd == pytest.approx(0.4)
    with pytest.raises(BudgetReached, match="role researcher budget"):
        role.reserve(usd=0.2, tokens=1)
    with pytest.raises(BudgetReached, match="the session budget of \\$1"):
        other.reserve(usd=0.7, tokens=1)  # fits the reviewer's cap, not the session's
    r.settle(usd=0.4, tokens=1)
    assert (session.spent_usd, role.spent_usd, other.spent_usd) == (pytest.approx(0.4), pytest.approx(0.4), 0.0)


def test_bad_caps_are_refused():
    with pytest.raises(ValueError, match="USD budget must be > 0"):
        Budget(usd=0)
    with pytest.raises(ValueError, match="token budget must be > 0"):
        Budget(tokens=-5)


def test_a_hundred_threads_never_hold_more_than_the_cap():
    b = Budget(usd=1.0)
    peak = []
    granted = []
    lock = threading.Lock()
    start = threading.Barrier(100)

    def worker():
        start.wait()
        for _ in range(50):
            try:
                r = b.reserve(usd=0.03, tokens=1)
            except BudgetReached:
                continue
            with b._lock:  # a consistent view of what is spent and held
                peak.append(b.spent_usd + b.reserved_usd)
            with lock:
                granted.append(r)
            r.settle(usd=0.001, tokens=1)

    threads = [threading.Thread(target=worker) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(peak) <= 1.0 + 1e-9 and b.reserved_usd == pytest.approx(0.0) and b.in_flight == 0
    assert b.spent_usd == pytest.approx(0.001 * len(granted)) and b.spent_usd <= 1.0
    assert len(granted) == 971  # until $0.970 spent: then $0.03 more could cross the cap


async def test_areserve_waits_for_calls_in_flight_then_gets_room_or_is_refused():
    b = Budget(usd=1.0)
    held = b.reserve(usd=0.9, tokens=1)
    waiting = asyncio.ensure_future(b.areserve(usd=0.5, tokens=1))
    refused = asyncio.ensure_future(b.areserve(usd=0.95, tokens=1))
    await asyncio.sleep(0)  # let both reach their wait (no timing involved: they cannot proceed)
    assert not waiting.done() and not refused.done() and b.in_flight == 1
    held.settle(usd=0.2, tokens=1)  # room for 0.5 now; 0.95 can never fit after $0.2 spent
    r = await asyncio.wait_for(waiting, 5)
    with pytest.raises(BudgetReached, match=r"has \$0.3000 left"):
        await asyncio.wait_for(refused, 5)
    r.settle(usd=0.5, tokens=1)
    assert b.spent_usd == pytest.approx(0.7)


async def test_a_waiting_reservation_is_cancelled_cleanly():
    b = Budget(usd=1.0)
    held = b.reserve(usd=1.0, tokens=1)
    waiting = asyncio.ensure_future(b.areserve(usd=0.5, tokens=1))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert b._waiters == [] and b.in_flight == 1
    held.release()


async def test_areserve_from_another_thread_is_woken_by_a_settle_on_this_one():
    b = Budget(tokens=100)
    held = b.reserve(usd=None, tokens=80)
    got = threading.Event()

    def other_loop():
        async def take():
            (await b.areserve(usd=None, tokens=50)).release()
            got.set()

        asyncio.run(take())

    t = threading.Thread(target=other_loop)
    t.start()
    deadline = time.monotonic() + 10
    while not b._waiters:  # a condition with a deadline: the other loop registers its wait
        assert time.monotonic() < deadline and t.is_alive()
        await asyncio.to_thread(t.join, 0.01)
    held.settle(usd=None, tokens=10)
    assert await asyncio.to_thread(got.wait, 10)
    t.join()


def test_the_worst_case_is_all_of_max_tokens_and_a_high_input_estimate():
    messages = [Message.user("x" * 4000)]
    tools = [ToolDefinition(name="file_read", description="Read a file", parameters={"type": "object"})]
    price = Price(input=1e-6, output=5e-6, cache_read=1e-7, cache_write=1.25e-6)
    usd, tokens = worst_case(
        messages, system="s" * 400, tools=tools, settings=ModelSettings(max_tokens=1000), price=price
    )
    input_tokens = tokens - 1000
    assert input_tokens >= (4000 + 400) // 2  # above any tokenizer's count for this text (~1,100)
    assert usd == pytest.approx(input_tokens * 1.25e-6 + 1000 * 5e-6)  # input at the dearest input rate
    assert worst_case(messages, system="", tools=(), settings=ModelSettings(), price=None)[0] is None
