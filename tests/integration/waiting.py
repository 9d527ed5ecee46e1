"""The one way integration tests wait: on a condition, never on a fixed sleep.

On a busy 2-core machine anything can take longer than on an idle one; a test that sleeps a
fixed time either wastes it or flakes. `eventually` polls a probe until it returns something
truthy (or stops raising), with a generous deadline, and on timeout fails with the last value
or error so the report says what was still wrong."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 90.0


class NotYet(AssertionError):
    """Raised by a probe to say "keep waiting" with a reason (shown if the wait times out)."""


def eventually(probe: Callable[[], T], *, timeout_s: float = DEFAULT_TIMEOUT_S, interval_s: float = 0.1,
               what: str = "condition") -> T:
    """Call `probe` until it returns a truthy value and return it. Exceptions from the probe
    count as "not yet" (the last one is chained into the timeout error)."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    error: BaseException | None = None
    delay = interval_s
    while True:
        try:
            value = probe()
            if value:
                return value
            last, error = value, None
        except (AssertionError, Exception) as exc:
            error = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout_s:.0f}s; last: {error or last!r}") from error
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


async def eventually_async(probe: Callable[[], Awaitable[T]], *, timeout_s: float = DEFAULT_TIMEOUT_S,
                           interval_s: float = 0.1, what: str = "condition") -> T:
    """`eventually` for coroutine probes, without blocking the event loop."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    error: BaseException | None = None
    delay = interval_s
    while True:
        try:
            value = await probe()
            if value:
                return value
            last, error = value, None
        except (AssertionError, Exception) as exc:
            error = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout_s:.0f}s; last: {error or last!r}") from error
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 1.0)
