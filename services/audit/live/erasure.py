"""Applying recorded erasures. `SubjectErased` is written to `uf.gdpr` *before* the key is
deleted (by `ufctl gdpr erase` and the retention sweeper), so the trail never lacks an erasure
that took effect. The audit service consumes `uf.gdpr` and applies every erasure it sees: when
the writer crashed between recording and deleting, the key goes here (on restart, or at once).
Each applied erasure yields an `ErasureReceipt` on `uf.gdpr`, signed with the audit key - the
evidence bundle carries it.

Deletion is by key id (`delete_if`): re-applying an old erasure never destroys a newer key made
for new data about the same pseudonym."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaProducer

from services.kit.contracts import topics
from services.kit.contracts.codec import Decoded
from services.kit.contracts.events import Origin, make_event, stable_id
from services.kit.messaging.bus import publish
from services.kit.security.subject_keys import KeyStore

log = logging.getLogger(__name__)


class ErasureNotApplied(Exception):
    """The erased key is still in the key store after deleting it (retried by the consume loop)."""


def receipt_event(erasure: dict, deleted_now: bool, origin: Origin) -> dict:
    env = erasure["envelope"]
    subject = erasure["subject_id"]
    return make_event(
        "ErasureReceipt", origin=origin, workflow_id=subject, session_id="", correlation_id=subject,
        causation_id=env["event_id"], event_id=stable_id("erasure-receipt", env["event_id"]),
        subject_id=subject, erasure_event_id=env["event_id"], key_id=erasure.get("key_id", ""),
        erased_at=env["occurred_at"], deleted_now=deleted_now)


async def apply_erasure(decoded: Decoded, keys: KeyStore, kafka: AIOKafkaProducer, origin: Origin) -> bool:
    """Delete the erased key (if still held) and publish the signed receipt. Idempotent: the
    receipt's event id derives from the erasure's. Returns whether a key was deleted here."""
    rec = decoded.record
    subject, key_id = rec["subject_id"], rec.get("key_id", "")
    deleted = bool(key_id) and await asyncio.to_thread(keys.delete_if, subject, key_id)
    held = await asyncio.to_thread(keys.get, subject)
    if key_id and held is not None and held[0] == key_id:
        raise ErasureNotApplied("erased key still held")
    await publish(kafka, topics.GDPR, receipt_event(rec, deleted, origin))
    if deleted:
        log.info("erasure applied by the audit service", extra={"event_id": rec["envelope"]["event_id"]})
    return deleted


class PersistenceScrub:
    """Erased keys must also leave Redis's persistence files: the AOF still holds the SET of a
    deleted key (and the last RDB snapshot its value) until they are rewritten. After erasures
    are applied, this rewrites the AOF (BGREWRITEAOF) and takes a fresh snapshot (BGSAVE), both
    started *after* the deletions, so neither file holds an erased key any more. Erasures in a
    burst share one rewrite; a rewrite already running (which may predate the deletion) is
    waited out and followed by a new one."""

    def __init__(self, redis: Any, interval_s: float = 1.0) -> None:
        self.redis, self.interval_s = redis, interval_s
        self.pending = False
        self.rewrites = 0

    def mark(self) -> None:
        self.pending = True

    async def step(self) -> bool:
        """Start the rewrite + snapshot when due and nothing is running. Returns True if started."""
        if not self.pending:
            return False
        info = await self.redis.info("persistence")
        if int(info.get("aof_rewrite_in_progress", 0)) or int(info.get("rdb_bgsave_in_progress", 0)):
            return False
        self.pending = False
        if int(info.get("aof_enabled", 0)):
            await self.redis.execute_command("BGREWRITEAOF")
        await self.redis.execute_command("BGSAVE", "SCHEDULE")
        self.rewrites += 1
        return True

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception as exc:  # Redis busy or down: try again next round, never forget the erasure
                self.pending = True
                log.warning("persistence scrub failed", extra={"error": exc.__class__.__name__})
            await asyncio.sleep(self.interval_s)
