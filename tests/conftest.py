"""Shared fixtures. Every async test checks that it left no task of its own pending."""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture(autouse=True)
async def no_leaked_tasks():
    before = set(asyncio.all_tasks())
    yield
    await asyncio.sleep(0)  # let just-finished tasks be reaped, not a synchronisation wait
    leaked = [
        t
        for t in asyncio.all_tasks() - before
        if not t.done() and t is not asyncio.current_task() and not _is_litellm_task(t)
    ]
    assert not leaked, f"tasks left pending: {leaked}"


def _is_litellm_task(task: asyncio.Task) -> bool:
    """litellm schedules its success logging as bare tasks and a global worker on the caller's loop,
    with no switch to turn them off. They are litellm's, not part of any loom_nb tree."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "/litellm/" in code.co_filename
