"""A replay swaps projection generations only when every live audit projector is quiet - on the
real Redis. With two audit instances (`REPLICAS=2`) one answer is not enough: the other may still
be writing into the generation about to be retired. A projector that stopped renewing its lease
is not waited for, and is not writing either.

The gates here are real `ProjectionGate`s on the stack's Redis, beside the running audit
service's own (which is a member too and answers like them); every test releases its pause."""
from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from services.audit.config import AuditSettings
from services.audit.live import projection_gate
from services.audit.live.projection_gate import PAUSE, PAUSE_ACKS, ProjectionGate, ProjectionHeld, live_members, unanswered
from services.audit.tools.replay import Replayer, ReplayError
from services.kit.security import redis_auth, search_auth
from tests.integration.waiting import eventually_async

pytestmark = pytest.mark.integration
S = AuditSettings()


@pytest.fixture
async def redis(stack) -> AsyncIterator[aioredis.Redis]:
    r = aioredis.from_url(S.redis_url, **redis_auth.credentials("admin"))
    yield r
    await r.aclose()


@pytest.fixture
async def replayer(redis: aioredis.Redis) -> AsyncIterator[Replayer]:
    es = search_auth.async_client(S.es_url, "admin")
    rp = Replayer(bootstrap=S.kafka_bootstrap, redis=redis, es=es, alias=S.es_index,
                  consumer_group=S.consumer_group, pause_wait_s=30.0)
    yield rp
    await es.close()


@contextlib.asynccontextmanager
async def running(*gates: ProjectionGate) -> AsyncIterator[None]:
    """The gates' background polls, as the audit service runs them; stopped (and resigned) after."""
    for g in gates:
        await g.refresh()
    tasks = [asyncio.ensure_future(g.run()) for g in gates]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def release(redis: aioredis.Redis, n: int) -> None:
    if (await redis.get(PAUSE) or b"").decode() == str(n):
        await redis.delete(PAUSE)


def pause_id() -> int:
    return random.randint(10**9, 10**10)


async def test_a_replay_waits_for_every_live_projector_not_the_first_answer(redis, replayer):
    a, b = ProjectionGate(redis), ProjectionGate(redis)
    n = pause_id()
    async with running(a, b):
        await b.enter()  # instance B has a write in flight; A is idle
        pausing = asyncio.ensure_future(replayer._pause(n))
        try:
            async def a_answered_b_saw_it() -> bool:
                acks = await redis.hgetall(PAUSE_ACKS)
                return acks.get(a.instance.encode()) == str(n).encode() and b.pause == str(n)

            await eventually_async(a_answered_b_saw_it, timeout_s=60, what="A answered the pause, B saw it")
            # B cannot answer while its write is in flight: one answer is there, the pause must not be over
            assert b.instance in await unanswered(redis, str(n))
            assert not pausing.done(), "the replay went ahead on one answer while another instance was writing"
            with pytest.raises(ProjectionHeld):
                await a.enter(max_wait_s=0.2)  # and A holds its own next write meanwhile
            b.leave()  # B's write lands
            assert await asyncio.wait_for(pausing, 60) is True
        finally:
            pausing.cancel()
            await release(redis, n)


async def test_a_projector_whose_lease_ran_out_is_not_waited_for(redis, replayer, monkeypatch):
    monkeypatch.setattr(projection_gate, "LEASE_MS", 600)
    crashed = ProjectionGate(redis)
    await crashed.refresh()  # registered, then never heard of again (no poll, no resignation)
    await crashed.enter()    # ... with a write that never finishes
    assert crashed.instance in await live_members(redis)
    n = pause_id()
    started = time.monotonic()
    try:
        await replayer._pause(n)  # True when the stack's audit service answered, False without one
        assert time.monotonic() - started < replayer.pause_wait_s
        assert crashed.instance not in await live_members(redis), "the expired member stays listed"
    finally:
        await release(redis, n)


async def test_a_live_projector_that_never_answers_fails_the_replay_and_releases_the_pause(redis, replayer):
    stuck = ProjectionGate(redis)
    n = pause_id()
    replayer.pause_wait_s = 1.5
    async with running(stuck):
        await stuck.enter()  # a write stuck in flight: its lease holds, it never answers
        try:
            with pytest.raises(ReplayError, match="did not answer"):
                await replayer._pause(n)
            assert await redis.get(PAUSE) is None, "a failed replay must not leave the projectors held"
        finally:
            stuck.leave()
            await release(redis, n)


async def test_a_projector_that_cannot_renew_its_lease_lets_no_write_through(redis, monkeypatch):
    gate = ProjectionGate(redis)
    await gate.refresh()
    assert await gate.enter(max_wait_s=0.1) >= 0  # fresh: the write goes through
    gate.leave()
    # the next renewals fail (Redis unreachable for this instance): past half the lease, writes wait
    monkeypatch.setattr(gate, "_renewed_at", time.monotonic() - projection_gate.STALE_S - 0.01)
    with pytest.raises(ProjectionHeld, match="lease"):
        await gate.enter(max_wait_s=0.2)
    await gate.refresh()  # renewed: writes go through again
    assert await gate.enter(max_wait_s=0.1) >= 0
    gate.leave()

