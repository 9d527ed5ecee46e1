"""Coordination between the live projectors and a replay, through Redis:

* `ACTIVE`: the ES generation the live projectors write (0 = `<alias>-YYYY.MM`, N = `...-rN`).
* `PAUSE` (with a TTL, so a crashed replay cannot stall the service): a replay asks the live
  projectors to hold new writes while it applies the last records and swaps generations.
* Membership: every live projector (one per audit instance; `REPLICAS=2` runs two) holds a lease
  `projection_member(<id>)` with a TTL, renewed every second, and is listed in
  `PROJECTION_MEMBERS`. `PAUSE_ACKS` is a hash: each member writes its own answer there once no
  write of its own is in flight. The replay swaps only when *every* member whose lease holds has
  answered - one answer is not enough while another instance may still be writing.

Why a lease and not just the set: a crashed instance never answers and never writes again; its
lease runs out and the replay stops waiting for it. The other side of that: a projector that
cannot renew its lease (Redis unreachable) stops letting writes through after half the lease
(`STALE_S`), so a member the replay no longer waits for is not writing either.

Why a pause rather than dual writes: with the projectors quiet, "everything up to the end offsets
read now is in the new generation" is simply true, and the swap is then one alias call and one
MULTI. The pause lasts one final catch-up (normally well under a second)."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid

import redis.asyncio as aioredis

from services.kit.contracts.keys import PROJECTION_GENERATION as ACTIVE
from services.kit.contracts.keys import PROJECTION_MEMBERS as MEMBERS
from services.kit.contracts.keys import PROJECTION_PAUSE as PAUSE
from services.kit.contracts.keys import PROJECTION_PAUSE_ACKS as PAUSE_ACKS
from services.kit.contracts.keys import projection_member

log = logging.getLogger(__name__)

POLL_S = 0.1
LEASE_MS = 5000
RENEW_S = 1.0  # the lease is renewed with the first poll after this long (the pause is read every poll)
# A gate whose lease was last renewed longer ago than this lets no write through: the lease may
# be about to run out, and a replay then no longer waits for this instance.
STALE_S = LEASE_MS / 1000 / 2
ACK_TTL_S = 120


class ProjectionHeld(Exception):
    """Transient: a replay holds the projection, or this instance could not renew its lease.
    The consume loop retries the poll with backoff; nothing is dead-lettered."""


class ProjectionGate:
    """Every live projection write goes through `enter()`/`leave()`."""

    def __init__(self, redis: aioredis.Redis, instance: str | None = None) -> None:
        self.redis = redis
        self.instance = instance or uuid.uuid4().hex
        self.generation = 0
        self.pause: str | None = None
        self.inflight = 0
        self._renewed_at = -RENEW_S

    async def refresh(self) -> None:
        """Read the generation and the pause (renewing the lease every RENEW_S) in one round
        trip; answer a pause when nothing of ours is in flight."""
        now = time.monotonic()
        renew = now - self._renewed_at >= RENEW_S
        async with self.redis.pipeline(transaction=renew) as pipe:
            if renew:
                pipe.set(projection_member(self.instance), b"1", px=LEASE_MS)
                pipe.sadd(MEMBERS, self.instance)
            pipe.mget(ACTIVE, PAUSE)
            *_, (gen, pause) = await pipe.execute()
        self.generation = int(gen) if gen else 0
        self.pause = pause.decode() if pause else None
        if renew:
            self._renewed_at = now
        if self.pause and self.inflight == 0:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(PAUSE_ACKS, self.instance, self.pause)
                pipe.expire(PAUSE_ACKS, ACK_TTL_S)
                await pipe.execute()

    def _held(self) -> bool:
        return bool(self.pause) or time.monotonic() - self._renewed_at > STALE_S

    async def enter(self, max_wait_s: float = 120.0) -> int:
        """Wait while a replay holds the pause or the lease is not known to hold (bounded, then
        `ProjectionHeld`); returns the generation to write. Reads only the cached state
        (refreshed by `run`): no Redis round trip per event."""
        deadline = time.monotonic() + max_wait_s
        while self._held():
            if time.monotonic() >= deadline:
                raise ProjectionHeld("projection paused by a replay" if self.pause else "projection lease not renewed")
            await asyncio.sleep(POLL_S / 2)
        self.inflight += 1
        return self.generation

    def leave(self) -> None:
        self.inflight -= 1

    async def run(self) -> None:
        """Background poll, so a pause is acknowledged even when no events flow."""
        try:
            while True:
                try:
                    await self.refresh()
                except Exception as exc:  # Redis blip: keep polling
                    log.warning("projection gate poll failed", extra={"error": exc.__class__.__name__})
                await asyncio.sleep(POLL_S)
        finally:
            await self._resign()

    async def _resign(self) -> None:
        """On a clean stop, leave at once instead of letting the lease run out."""
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(projection_member(self.instance))
                pipe.srem(MEMBERS, self.instance)
                await pipe.execute()
        except Exception:  # stopping anyway: the lease runs out on its own
            pass


async def live_members(redis: aioredis.Redis) -> list[str]:
    """The projectors whose lease holds; listed ones whose lease ran out are dropped from the set."""
    listed = sorted(m.decode() for m in await redis.smembers(MEMBERS))
    if not listed:
        return []
    alive = await redis.mget([projection_member(m) for m in listed])
    gone = [m for m, a in zip(listed, alive) if a is None]
    if gone:
        await redis.srem(MEMBERS, *gone)
    return [m for m, a in zip(listed, alive) if a is not None]


async def unanswered(redis: aioredis.Redis, pause: str) -> list[str]:
    """Live projectors that have not answered the pause `pause` (empty: all quiet). With no live
    projector at all, nothing is writing: also empty."""
    members = await live_members(redis)
    acks = await redis.hgetall(PAUSE_ACKS)
    return [m for m in members if acks.get(m.encode(), b"").decode() != pause]
