"""Retries with exponential backoff and jitter, honouring retry-after (for the litellm path;
the Anthropic SDK retries by itself with the same policy)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["RetryPolicy", "retry_call"]

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable_status(status: int | None) -> bool:
    """429 (rate limit), 529 (overloaded) and every 5xx, plus 408/409 as the SDKs do."""
    return status is not None and (status in RETRYABLE_STATUS or status >= 500)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Defaults follow the Anthropic SDK's (0.5 s doubling to 8 s, retry-after honoured up to
    60 s), with 4 retries instead of 2: a swarm meets rate limits in bursts."""

    max_retries: int = 4
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, retries_taken: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        if retry_after is not None and 0 <= retry_after <= self.max_retry_after:
            return retry_after
        base = min(self.initial_delay * 2.0**retries_taken, self.max_delay)
        return base * (1 - 0.25 * rng())


class Retryable(Exception):
    """Raised by an attempt to say: this failure may be retried (after retry_after seconds)."""

    def __init__(self, cause: BaseException, retry_after: float | None = None) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.retry_after = retry_after


async def retry_call(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
) -> tuple[T, int]:
    """Run `attempt` until it succeeds; it raises Retryable for failures worth another try.

    Returns (result, retries taken). When retries run out, the last cause is raised with
    `retries` set on it.
    """
    retries = 0
    while True:
        try:
            return await attempt(), retries
        except Retryable as exc:
            if retries >= policy.max_retries:
                exc.cause.retries = retries  # type: ignore[attr-defined]
                raise exc.cause from None
            await sleep(policy.delay(retries, exc.retry_after, rng))
            retries += 1
