"""Idempotent delivery: a Redis record per (workflow, delivery) claims the send before it and
records the Message-ID after it. A redelivered request for a sent email confirms the original
send (duplicate=True) instead of sending again.

Known window (at-least-once at the SMTP edge): a crash after the SMTP server accepted the
message and before the 'sent' record is written leaves a claim that expires after `claim_ttl_s`,
after which the email may be sent again. SMTP offers no transaction to close it.
"""
from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.delivery.config import DeliverySettings
from services.delivery.smtp import PermanentSmtpError, SmtpPool, send_email
from services.kit.contracts import topics
from services.kit.contracts.codec import Decoded
from services.kit.contracts.events import Origin, caused_by, make_event, stable_id
from services.kit.contracts.keys import delivery_key
from services.kit.messaging.bus import publish
from services.kit.security.sealing import ERASED, open_record
from services.kit.security.subject_keys import KeyStore

log = logging.getLogger(__name__)


class ClaimHeld(Exception):
    """Another attempt is sending this email right now (or crashed mid-send): retry later."""


class DeliverySender:
    def __init__(self, settings: DeliverySettings, redis: aioredis.Redis, kafka: AIOKafkaProducer, origin: Origin,
                 keys: KeyStore) -> None:
        self.settings, self.redis, self.kafka, self.origin, self.keys = settings, redis, kafka, origin, keys
        self.smtp = SmtpPool(settings.smtp_host, settings.smtp_port, settings.smtp_timeout_s)

    async def _confirm(self, req: dict, status: str, *, message_id: str = "", duplicate: bool = False, error: str = "") -> None:
        await publish(self.kafka, topics.DELIVERY_OUTCOMES, make_event(
            "DeliveryOutcome", origin=self.origin, **caused_by(req),
            event_id=stable_id(req["delivery_id"], "outcome", status), delivery_id=req["delivery_id"],
            status=status, message_id=message_id, duplicate=duplicate, error=error))

    async def _send_with_retries(self, req: dict) -> str:
        s = self.settings
        for attempt in range(s.smtp_attempts):
            try:
                return await asyncio.to_thread(
                    send_email, s.smtp_host, s.smtp_port, s.smtp_timeout_s, delivery_id=req["delivery_id"],
                    sender=req["sender"], recipient=req["recipient"], subject=req["subject"], body=req["body"],
                    workflow_id=req["envelope"]["workflow_id"], pool=self.smtp)
            except PermanentSmtpError:
                raise
            except Exception as exc:
                log.warning("smtp attempt failed", extra={"attempt": attempt, "error": exc.__class__.__name__})
                if attempt == s.smtp_attempts - 1:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    async def deliver(self, decoded: Decoded, _: ConsumerRecord) -> None:
        req = open_record(self.keys, decoded.record)
        key = delivery_key(req["envelope"]["workflow_id"], req["delivery_id"])
        state = await self.redis.get(key)
        if state is not None and state.startswith(b"sent:"):
            await self._confirm(req, "SENT", message_id=state[5:].decode(), duplicate=True)
            return
        if ERASED in (req["recipient"], req["body"]):
            await self._confirm(req, "FAILED", error="data subject erased before delivery")
            return
        if not await self.redis.set(key, b"sending", nx=True, ex=self.settings.claim_ttl_s):
            raise ClaimHeld("delivery claim held")
        try:
            mid = await self._send_with_retries(req)
        except Exception as exc:
            await self.redis.delete(key)
            reason = f"smtp: {exc}" if isinstance(exc, PermanentSmtpError) else f"smtp unavailable: {exc.__class__.__name__}"
            await self._confirm(req, "FAILED", error=reason)
            return
        await self.redis.set(key, b"sent:" + mid.encode())
        log.info("email sent", extra={"recipient": req["recipient"], "message_id": mid, "workflow_id": req["envelope"]["workflow_id"]})
        await self._confirm(req, "SENT", message_id=mid)
