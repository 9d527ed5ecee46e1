"""Retention by data category: each subject key carries a deadline set from the processing
purpose when it was created (`subject_keys.DEFAULT_RETENTION_S`). When it passes, the same
erasure as `ufctl gdpr erase` happens by itself: a `SubjectErased` (reason "retention") is
recorded first, then the key is deleted (a crash in between is finished when the audit service
consumes the event: `erasure.apply_erasure`)."""
from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer

from services.kit.contracts import topics
from services.kit.contracts.events import Origin, make_event
from services.kit.messaging.bus import publish
from services.kit.runtime import role
from services.kit.security.subject_keys import KeyStore

log = logging.getLogger(__name__)


async def erase_expired(keys: KeyStore, kafka: AIOKafkaProducer, origin: Origin, limit: int = 100) -> int:
    expired = await asyncio.to_thread(keys.expired, None, limit)
    for subject in expired:
        held = await asyncio.to_thread(keys.get, subject)
        key_id = held[0] if held else ""
        await publish(kafka, topics.GDPR, make_event(
            "SubjectErased", origin=origin, workflow_id=subject, session_id="", correlation_id=subject,
            subject_id=subject, reason="retention", erased_by="retention-sweeper", key_id=key_id))
        if key_id:
            await asyncio.to_thread(keys.delete_if, subject, key_id)
        else:
            await asyncio.to_thread(keys.delete, subject)  # only the expiry entry is left
    if expired:
        log.info("retention erased subjects", extra={"count": len(expired)})
    return len(expired)


async def run_retention(keys: KeyStore, kafka: AIOKafkaProducer, origin: Origin, interval_s: float) -> None:
    while True:
        if not role.current().active:  # a preview colour erases nothing (the active one sweeps)
            await asyncio.sleep(interval_s)
            continue
        try:
            await erase_expired(keys, kafka, origin)
        except Exception as exc:  # the sweeper retries next round; the deadline only moves later
            log.warning("retention sweep failed", extra={"error": exc.__class__.__name__})
        await asyncio.sleep(interval_s)
