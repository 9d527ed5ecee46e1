"""How far the audit trail has come, pushed rather than polled: the audit service publishes the
ids of the workflows it has just projected on `AUDIT_PROGRESS_CHANNEL` (Redis pub/sub), and a
gate waiting on a workflow is woken to re-read the projection only then.

Why pub/sub and not only polling: a gate used to re-read Redis every 10 ms for up to two
seconds per rule per decision, which under a burst was most of the validator's CPU. Why it stays
safe: pub/sub is fire-and-forget, so the projection in Redis remains the only source of truth -
a notification only says "look again". A gate re-checks once at its deadline, and every waiter is
woken when the subscription is (re)established, so a lost message costs time, never a wrong
verdict: the rule still fails closed (a retryable denial) if the trail is really behind."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import redis.asyncio as aioredis

from services.kit.contracts.keys import AUDIT_PROGRESS_CHANNEL

log = logging.getLogger(__name__)


class ProgressWaiter(Protocol):
    async def wait_until(self, workflow_id: str, predicate: Callable[[], Awaitable[bool]], timeout_s: float) -> bool: ...


class AuditProgress:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self.subscribed = False

    async def wait_until(self, workflow_id: str, predicate: Callable[[], Awaitable[bool]], timeout_s: float) -> bool:
        """True as soon as `predicate()` holds; checked now, on every notification for this
        workflow, and once more at the deadline. False if it never held."""
        event = asyncio.Event()
        self._waiters.setdefault(workflow_id, set()).add(event)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                event.clear()  # before the check: a notification arriving during it is kept
                if await predicate():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    return bool(await predicate())
        finally:
            waiting = self._waiters.get(workflow_id)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._waiters[workflow_id]

    def _wake(self, workflow_ids: list[str] | None) -> None:
        targets = self._waiters.values() if workflow_ids is None else (self._waiters.get(w, ()) for w in workflow_ids)
        for events in targets:
            for event in events:
                event.set()

    async def ready(self) -> None:
        if not self.subscribed:
            raise RuntimeError("not subscribed to the audit progress channel")

    async def run(self) -> None:
        """Listen for progress; on a broken connection resubscribe with backoff and wake every
        waiter (messages may have been missed meanwhile)."""
        attempt = 0
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(AUDIT_PROGRESS_CHANNEL)
                self.subscribed, attempt = True, 0
                self._wake(None)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake(message["data"].decode().split())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("audit progress subscription lost; resubscribing", extra={"error": exc.__class__.__name__})
            finally:
                self.subscribed = False
                try:
                    await pubsub.aclose()
                except Exception:
                    pass
            self._wake(None)
            await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
            attempt += 1


class Replayed:
    """`wait_until` for re-making a recorded decision (`recording.replaying`): no notifications
    and no waiting - the recorded answers of the predicate are read in order until one holds.
    A live gate asks once per notification for its workflow (a handful within its deadline), so
    the bound only matters for a recording that ended without the predicate ever holding."""

    MAX_CHECKS = 256

    async def wait_until(self, workflow_id: str, predicate: Callable[[], Awaitable[bool]], timeout_s: float) -> bool:
        for _ in range(self.MAX_CHECKS):
            if await predicate():
                return True
        return False
