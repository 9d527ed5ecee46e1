"""Coordination between the live projector and a replay, through Redis:

* `ACTIVE`: the ES generation the live projector writes (0 = `<alias>-YYYY.MM`, N = `...-rN`).
* `PAUSE` (with a TTL, so a crashed replay cannot stall the service): a replay asks the live
  projector to hold new writes while it applies the last records and swaps generations;
  `PAUSE_ACK` is the projector's answer once no write of its own is in flight.

Why a pause rather than dual writes: with the projector quiet, "everything up to the end offsets
read now is in the new generation" is simply true, and the swap is then one alias call and one
MULTI. The pause lasts one final catch-up (normally well under a second)."""
from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis

from services.kit.contracts.keys import PROJECTION_GENERATION as ACTIVE
from services.kit.contracts.keys import PROJECTION_PAUSE as PAUSE
from services.kit.contracts.keys import PROJECTION_PAUSE_ACK as PAUSE_ACK

log = logging.getLogger(__name__)

POLL_S = 0.1


class ProjectionGate:
    """Every live projection write goes through `enter()`/`leave()`."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.generation = 0
        self.pause: str | None = None
        self.inflight = 0
        self._read_at = -1.0

    async def refresh(self) -> None:
        gen, pause = await self.redis.mget(ACTIVE, PAUSE)
        self.generation = int(gen) if gen else 0
        self.pause = pause.decode() if pause else None
        self._read_at = time.monotonic()
        if self.pause and self.inflight == 0:
            await self.redis.set(PAUSE_ACK, self.pause, ex=120)

    async def enter(self, max_wait_s: float = 120.0) -> int:
        """Wait while a replay holds the pause (bounded); returns the generation to write.
        Reads only the cached state (refreshed by `run`): no Redis round trip per event."""
        deadline = time.monotonic() + max_wait_s
        while self.pause and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S / 2)
        self.inflight += 1
        return self.generation

    def leave(self) -> None:
        self.inflight -= 1

    async def run(self) -> None:
        """Background poll, so a pause is acknowledged even when no events flow."""
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # Redis blip: keep polling
                log.warning("projection gate poll failed", extra={"error": exc.__class__.__name__})
            await asyncio.sleep(POLL_S)
