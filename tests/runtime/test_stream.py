import asyncio

import pytest

from loom_nb.runtime import StreamTimeout, async_stream


async def test_results_come_in_input_order_even_when_later_items_finish_first():
    gates = {i: asyncio.Event() for i in range(5)}

    async def work(i: int) -> int:
        await gates[i].wait()
        return i * 10

    async def open_gates_in_reverse() -> None:
        for i in reversed(range(5)):
            gates[i].set()
            await asyncio.sleep(0)

    opener = asyncio.ensure_future(open_gates_in_reverse())
    results = [r async for r in async_stream(work, range(5), max_concurrency=5)]
    await opener
    assert [r.value for r in results] == [0, 10, 20, 30, 40]
    assert [r.index for r in results] == [0, 1, 2, 3, 4]


async def test_unordered_yields_in_completion_order():
    gates = {i: asyncio.Event() for i in range(3)}

    async def work(i: int) -> int:
        await gates[i].wait()
        return i

    gates[2].set()
    got = []
    async for r in async_stream(work, range(3), max_concurrency=3, ordered=False):
        got.append(r.value)
        if r.value == 2:
            gates[0].set()
        elif r.value == 0:
            gates[1].set()
    assert got == [2, 0, 1]


async def test_never_more_than_max_concurrency_in_flight():
    in_flight = 0
    peak = 0
    pulled = []

    async def work(i: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        in_flight -= 1
        return i

    def items():
        for i in range(50):
            pulled.append(i)
            yield i

    results = [r.value async for r in async_stream(work, items(), max_concurrency=4)]
    assert results == list(range(50))
    assert peak == 4


async def test_items_are_pulled_lazily():
    pulled = []

    def items():
        for i in range(1000):
            pulled.append(i)
            yield i

    async def work(i: int) -> int:
        return i

    stream = async_stream(work, items(), max_concurrency=3)
    first = await anext(stream)
    await stream.aclose()
    assert first.value == 0
    assert len(pulled) <= 4


async def test_timeout_yields_a_timeout_result_and_the_batch_goes_on():
    never = asyncio.Event()

    async def work(i: int) -> int:
        if i == 1:
            await never.wait()
        return i

    results = [r async for r in async_stream(work, range(4), timeout=0.05)]
    assert [r.kind for r in results] == ["ok", "exit", "ok", "ok"]
    assert results[1].reason == "timeout"
    assert [r.value for r in results if r.ok] == [0, 2, 3]


async def test_timeout_can_kill_the_stream_when_asked():
    never = asyncio.Event()
    started = []

    async def work(i: int) -> int:
        started.append(i)
        if i == 0:
            await never.wait()
        await never.wait()
        return i

    with pytest.raises(StreamTimeout, match="item 0"):
        async for _ in async_stream(work, range(3), timeout=0.05, on_timeout="exit"):
            pass
    # the other in-flight items were cancelled, not leaked (the autouse fixture checks too)


async def test_a_crashing_item_becomes_an_exit_result():
    async def work(i: int) -> int:
        if i == 2:
            raise KeyError("bad item")
        return i

    results = [r async for r in async_stream(work, range(4))]
    assert [r.ok for r in results] == [True, True, False, True]
    assert isinstance(results[2].reason, KeyError)


async def test_own_timeout_error_is_not_mistaken_for_the_deadline():
    async def work(i: int) -> int:
        raise TimeoutError("the item's own")

    (result,) = [r async for r in async_stream(work, [1], timeout=10)]
    assert isinstance(result.reason, TimeoutError)


def test_bad_arguments():
    async def work(i):
        return i

    with pytest.raises(ValueError, match="max_concurrency"):
        asyncio.run(anext(async_stream(work, [1], max_concurrency=0)))


async def test_a_system_exit_in_an_item_is_its_exit_result_and_the_others_go_on():
    async def fn(x: int) -> int:
        if x == 1:
            raise SystemExit("an item called sys.exit()")
        return x * 10

    results = [r async for r in async_stream(fn, range(3), timeout=None)]
    assert [r.value for r in results if r.ok] == [0, 20]
    (failed,) = [r for r in results if not r.ok]
    assert failed.index == 1 and isinstance(failed.reason, SystemExit)
