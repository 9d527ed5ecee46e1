"""Idempotent delivery with a truthful account of every email.

A Redis record per (workflow, delivery) - the claim - says who is sending it and how far it got:
`{"owner", "stage": "sending" | "data-sent"}`, then `sent:<Message-ID>` or `unknown:<why>`.
Each delivery process keeps a liveness key (`alive_key`, a short TTL it refreshes), so a claim
left by a crashed sender is recognised within seconds:

- a redelivered request for a sent email confirms the original send (duplicate=True);
- a claim held by a *live* sender: the record waits (partition paused, retried) - never a dead
  letter;
- a dead sender's claim in stage `sending` (it never reached the end of data): nothing was
  accepted by the SMTP server, so sending is safe and happens exactly once;
- a dead sender's claim in stage `data-sent` (it may have died while the server held the
  message), or a timeout after the end of data: the outcome is unknown. It is never resent
  blindly (that is how one email arrived four times); the delivery is confirmed `UNKNOWN` with
  the reason, and the workflow ends FAILED saying so.

Temporary SMTP trouble (4xx, connection refused) is a dependency outage: the record waits
with backoff up to `smtp_retry_cap_s` between attempts, like a mail transfer agent, and the
delivery FAILS with the reason only after `smtp_give_up_s` since it was requested. 5xx fails at
once with the server's code.

Before any of this, the request is checked against the approval it names (services/delivery/
approval.py): an email that is not exactly the approved one is never sent, and the delivery
FAILS saying why. Every confirmation names the approved content hash it was checked against.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.delivery.approval import ApprovedContentReader, NotApproved, check_content, check_request, review_ingresses
from services.delivery.config import DeliverySettings
from services.delivery.smtp import AmbiguousDelivery, PermanentSmtpError, SmtpPool, SmtpTimeouts, TemporarySmtpError, send_email
from services.kit.contracts import topics
from services.kit.contracts.codec import Decoded
from services.kit.contracts.events import Origin, caused_by, make_event, stable_id
from services.kit.contracts.keys import delivery_key
from services.kit.messaging.outbox import PollOutbox
from services.kit.messaging.retry import DependencyUnavailable
from services.kit.security.admission import Admission, default_admission
from services.kit.security.sealing import ERASED, blob_subjects, open_record, record_subjects
from services.kit.security.subject_keys import KeyStore

log = logging.getLogger(__name__)
CLAIM_TTL_S = 7 * 24 * 3600  # safety net only: claims are resolved by the owner's liveness


def alive_key(owner: str) -> str:
    return f"uf:delivery:alive:{owner}"


class DeliverySender:
    def __init__(self, settings: DeliverySettings, redis: aioredis.Redis, kafka: AIOKafkaProducer, origin: Origin,
                 keys: KeyStore, admission: Admission | None = None) -> None:
        self.settings, self.redis, self.kafka, self.origin, self.keys = settings, redis, kafka, origin, keys
        self.admission = admission or default_admission()
        self.approved = ApprovedContentReader(settings.kafka_bootstrap, self.admission)  # the approved records, read back from the log
        self.owner = f"{settings.service_name}-{uuid.uuid4().hex[:12]}"
        # claim key -> message id the SMTP server accepted, until "sent:" is stored in Redis. The
        # server has the message from that moment: if storing it fails (Redis away, a stale
        # pooled connection after a Redis restart), the outcome is still SENT - never "unknown",
        # never a resend. The heartbeat keeps trying to store it, so another instance that takes
        # the partition over finds "sent:" rather than this sender's "data-sent" claim.
        self._accepted: dict[str, str] = {}
        self.outbox = PollOutbox(kafka)  # the poll's DeliveryOutcome events; the consume loop flushes it
        self.timeouts = SmtpTimeouts(greeting_s=settings.smtp_command_timeout_s, command_s=settings.smtp_command_timeout_s,
                                     data_init_s=settings.smtp_data_init_timeout_s, data_block_s=settings.smtp_data_block_timeout_s,
                                     final_s=settings.smtp_final_timeout_s)
        self.smtp = SmtpPool()  # connections reused across emails (see services/delivery/smtp.py)

    async def beat(self) -> None:
        await self.redis.set(alive_key(self.owner), b"1", ex=self.settings.liveness_ttl_s)

    async def heartbeat(self) -> None:
        """Keep this sender's liveness key fresh (its claims count as held while it exists)."""
        while True:
            try:
                await self.beat()
                await self._store_accepted()
            except Exception as exc:  # Redis away: claims cannot move anyway
                log.warning("liveness key not refreshed", extra={"error": exc.__class__.__name__})
            await asyncio.sleep(self.settings.liveness_ttl_s / 3)

    async def _confirm(self, req: dict, status: str, *, message_id: str = "", duplicate: bool = False, error: str = "") -> None:
        """Into the poll's outbox (services/kit/messaging/outbox.py): a workflow's emails are
        requested together, and their confirmations written together reach the orchestrator in
        one poll - one transaction instead of one per email. A confirmation lost with a crashed
        poll is written again when the request is re-read (the Redis record says `sent:`)."""
        self.outbox.add(topics.DELIVERY_OUTCOMES, make_event(
            "DeliveryOutcome", origin=self.origin, **caused_by(req),
            event_id=stable_id(req["delivery_id"], "outcome", status), delivery_id=req["delivery_id"],
            status=status, message_id=message_id, duplicate=duplicate, error=error,
            approved_content_sha256=req.get("approved_content_sha256", "")))

    async def _approved(self, req: dict) -> bool:
        """Is the request exactly what was approved? If not, the delivery FAILS with the reason
        (nothing is sent; a bad request is not retried). Records the checked content hash in
        `req` for the confirmation."""
        try:
            content = check_request(req, self.admission.trust, review_ingresses(self.admission))
            record = await self.approved.read(content["topic"], content["partition"], content["offset"])
            await self.keys.warm(blob_subjects(record.emails.get(req["delivery_id"])))  # opened by check_content
            check_content(req, content, record, self.keys)
        except NotApproved as exc:
            log.warning("delivery refused: not what was approved", extra={"workflow_id": req["envelope"]["workflow_id"],
                                                                          "delivery_id": req["delivery_id"], "error": str(exc)})
            await self._confirm(req, "FAILED", error=f"not what was approved: {exc}")
            return False
        req["approved_content_sha256"] = content["record_sha256"]
        return True

    def _claim(self, stage: str) -> bytes:
        return json.dumps({"owner": self.owner, "stage": stage}).encode()

    async def _take(self, key: str) -> bool | bytes:
        """Claim the send. True: ours now. bytes: a final record (sent:/unknown:) to confirm."""
        if await self.redis.set(key, self._claim("sending"), nx=True, ex=CLAIM_TTL_S):
            return True
        got = await self.redis.get(key)
        if got is None:
            return await self._take(key)
        raw = got.encode() if isinstance(got, str) else got
        if raw.startswith((b"sent:", b"unknown:")):
            return raw
        try:
            claim = json.loads(raw)
        except ValueError:
            claim = {"owner": "?", "stage": "data-sent"}  # unreadable: assume the worst, never resend
        owner, stage = claim.get("owner", "?"), claim.get("stage", "data-sent")
        if owner != self.owner and await self.redis.exists(alive_key(owner)):
            raise DependencyUnavailable("delivery-claim", "another sender is sending this email now")
        if stage == "sending":  # its owner never reached the end of data: nothing was accepted
            async with self.redis.pipeline(transaction=True) as pipe:  # compare-and-set
                await pipe.watch(key)
                if await pipe.get(key) != raw:
                    return await self._take(key)
                pipe.multi()
                pipe.set(key, self._claim("sending"), ex=CLAIM_TTL_S)
                try:
                    await pipe.execute()
                except aioredis.WatchError:
                    return await self._take(key)
            log.info("took over the claim of a stopped sender", extra={"stage": stage})
            return True
        final = b"unknown:the sender stopped after handing the message to the SMTP server"
        await self.redis.set(key, final)
        return final

    async def deliver(self, decoded: Decoded, msg: ConsumerRecord) -> None:
        await self.keys.warm(record_subjects(decoded.record))  # opening it then hits the cache
        req = open_record(self.keys, decoded.record)
        if not await self._approved(req):
            return
        key = delivery_key(req["envelope"]["workflow_id"], req["delivery_id"])
        if key in self._accepted:  # sent by us; only storing that failed
            await self._sent(req, key, self._accepted[key])
            return
        state = await self.redis.get(key)
        if state is not None and state.startswith(b"sent:"):
            await self._confirm(req, "SENT", message_id=state[5:].decode(), duplicate=True)
            return
        if ERASED in (req["recipient"], req["body"]):
            await self._confirm(req, "FAILED", error="data subject erased before delivery")
            return
        taken = await self._take(key)
        if isinstance(taken, bytes):
            await self._confirm_final(req, taken)
            return
        await self._send(req, key, msg)

    async def _confirm_final(self, req: dict, final: bytes) -> None:
        if final.startswith(b"sent:"):
            await self._confirm(req, "SENT", message_id=final[5:].decode(), duplicate=True)
        else:
            await self._confirm(req, "UNKNOWN", error=f"delivery outcome unknown ({final[8:].decode()}); not resent to avoid a duplicate")

    async def _send(self, req: dict, key: str, msg: ConsumerRecord) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()

        def mark_data_sent() -> None:  # runs in the SMTP thread, before the point of no return
            asyncio.run_coroutine_threadsafe(self.redis.set(key, self._claim("data-sent"), ex=CLAIM_TTL_S), loop).result(30)

        try:
            mid = await asyncio.to_thread(
                send_email, s.smtp_host, s.smtp_port, self.timeouts, delivery_id=req["delivery_id"],
                sender=req["sender"], recipient=req["recipient"], subject=req["subject"], body=req["body"],
                workflow_id=req["envelope"]["workflow_id"], before_final_dot=mark_data_sent, pool=self.smtp)
        except PermanentSmtpError as exc:
            await self.redis.delete(key)
            await self._confirm(req, "FAILED", error=f"smtp: {exc}")
            return
        except AmbiguousDelivery as exc:
            final = f"unknown:no reply from the SMTP server after the end of data ({exc})".encode()
            await self.redis.set(key, final)
            await self._confirm_final(req, final)
            return
        except TemporarySmtpError as exc:
            await self.redis.delete(key)  # nothing was accepted: the next attempt claims again
            requested_at = msg.timestamp / 1000 if msg.timestamp else time.time()
            if time.time() - requested_at > s.smtp_give_up_s:
                await self._confirm(req, "FAILED", error=f"smtp unavailable for over {s.smtp_give_up_s:.0f}s: {exc}")
                return
            raise DependencyUnavailable("smtp", str(exc)) from None
        self._accepted[key] = mid
        log.info("email sent", extra={"recipient": req["recipient"], "message_id": mid, "workflow_id": req["envelope"]["workflow_id"]})
        await self._sent(req, key, mid)

    async def _sent(self, req: dict, key: str, mid: str) -> None:
        await self._store_sent(key, mid)
        await self._confirm(req, "SENT", message_id=mid)

    async def _store_sent(self, key: str, mid: str) -> None:
        await self.redis.set(key, b"sent:" + mid.encode())
        self._accepted.pop(key, None)

    async def _store_accepted(self) -> None:
        for key, mid in list(self._accepted.items()):
            await self._store_sent(key, mid)
