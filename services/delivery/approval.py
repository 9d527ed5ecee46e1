"""What is sent is what was approved: before an email leaves, delivery checks it against the
approved record itself, not against the request's copy of it.

A delivery request (DeliveryRequested v2) names the approval it is sent under: the approved
generation result (`approved_content`: its log position and content hash) and, for a human
approval, the reviewer's signed attestation copied verbatim from the ReviewDecided. Delivery
  1. checks the attestation (kit.security.attestation): canonical, signed by a key of a review
     ingress (a declared producer of `uf.review.decisions` other than the orchestrator, whose
     only decisions there are automatic proposals), an *approval*, of this workflow, by the
     reviewer the request names, of exactly the content the request names;
  2. reads that record from the log (`ApprovedContentReader`) and checks it is the record
     attested: its content hash, its signature (admission), a successful GENERATION result of
     this workflow;
  3. opens the approved email with this delivery id from it and compares every field it sends
     (recipient, sender, subject, body, subject id) with the request's.
Any difference means the request is not what was approved (tampered, swapped, another
workflow's approval): nothing is sent and the delivery FAILS with the reason (bad input, never
retried). A Kafka read that cannot be completed now is a dependency outage (retried).

An automatic approval carries no attestation: the policy approved it, and the content named is
the orchestrator's word (it is still checked against the record, steps 2-3); uf_verify checks
offline that the policy allowed it. Requests recorded before approvals were bound (v1) name no
content and are refused - fail closed."""
from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from services.kit.contracts import codec, topics
from services.kit.contracts.record_hash import content_hash
from services.kit.messaging import logreader
from services.kit.messaging.retry import DependencyUnavailable
from services.kit.security import attestation
from services.kit.security.admission import Admission, Refused
from services.kit.security.sealing import open_blob
from services.kit.security.signing import TrustStore, signer_service
from services.kit.security.subject_keys import KeyStore

AUTOMATIC = "policy:"
SENT_FIELDS = ("subject_id", "recipient", "sender", "subject", "body")


class NotApproved(Exception):
    """The request is not what was approved (the reason names fields, never their values)."""


@dataclass(frozen=True)
class LogRecord:
    """A record as read from the log: what its content hash is computed over."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    def sha256(self) -> str:
        return content_hash(self.timestamp, self.key, self.value, list(self.headers)).hex()


def review_ingresses(admission: Admission) -> frozenset[str]:
    """Services whose keys may attest a human review: the declared writers of review decisions,
    less the orchestrator (it writes only automatic proposals there)."""
    spec = admission.specs.get(topics.REVIEW_DECISIONS)
    return frozenset(spec.producers) - {"orchestrator"} if spec else frozenset()


def check_request(req: dict[str, Any], trust: TrustStore, ingresses: frozenset[str]) -> dict[str, Any]:
    """Step 1: the approved content the request names, once its approval holds; NotApproved
    otherwise. `req` is the opened request."""
    content = req.get("approved_content")
    if not content:
        raise NotApproved("the request names no approved content (recorded before approvals were bound)")
    if content.get("topic") != topics.AGENT_RESULTS:
        raise NotApproved("the approved content named is not a generation result")
    text = req.get("attestation") or ""
    if not text:
        if not (req.get("approved_by") or "").startswith(AUTOMATIC):
            raise NotApproved("a human approval without its review attestation")
        return dict(content)
    try:
        doc = attestation.parse(text)
    except ValueError:
        raise NotApproved("review attestation malformed") from None
    key_id = req.get("attestation_key_id") or ""
    if signer_service(key_id) not in ingresses:
        raise NotApproved("review attestation not signed by a review ingress")
    pub = trust.get(key_id)
    if pub is None or not attestation.verify(pub, text, req.get("attestation_signature") or ""):
        raise NotApproved("review attestation signature invalid")
    if doc["decision"] != "approve":
        raise NotApproved("the attested review decision is not an approval")
    if doc["workflow_id"] != req["envelope"]["workflow_id"]:
        raise NotApproved("the review attestation approves another workflow")
    if doc["reviewer_id"] != req.get("approved_by"):
        raise NotApproved("the request names another approver than the attestation")
    if doc["content"] != content:
        raise NotApproved("the review attestation approves other content than the request names")
    return dict(content)


@dataclass(frozen=True)
class ApprovedRecord:
    """A generation result read back from the log and checked once (signature, type): its
    content hash, workflow, and its emails by delivery id, still sealed (only the one being
    sent is opened). Cached per position: a campaign's N requests name the same record, and
    decoding it for each would cost O(N^2)."""

    sha256: str
    workflow_id: str
    emails: dict[str, Any]


def index_record(record: LogRecord, admission: Admission) -> ApprovedRecord:
    """Step 2's position-independent part: the record is admitted (signed by a declared
    producer) and a successful GENERATION result; NotApproved otherwise."""
    try:
        decoded = codec.decode(record.value or b"")
        admission.admit(record.topic, record.key, record.value, record.headers, decoded.event_type)
    except Refused as exc:
        raise NotApproved(f"the approved record is not admitted ({exc.reason})") from None
    except Exception:
        raise NotApproved("the approved record cannot be decoded") from None
    ev = decoded.record
    if decoded.event_type != "AgentTaskCompleted" or ev.get("phase") != "GENERATION" or not ev.get("ok"):
        raise NotApproved("the approved record is not a successful generation result")
    emails = json.loads(ev["output_json"]).get("emails") or []
    return ApprovedRecord(record.sha256(), ev["envelope"]["workflow_id"],
                          {e["delivery_id"]: e for e in emails if isinstance(e, dict) and isinstance(e.get("delivery_id"), str)})


def check_content(req: dict[str, Any], content: dict[str, Any], approved: ApprovedRecord, keys: KeyStore) -> None:
    """Steps 2-3: the record read at the named position is the approved one, and the email the
    request would send is the approved email, field for field."""
    if approved.sha256 != content["record_sha256"]:
        raise NotApproved("the record at the approved position is not the approved content (content hash differs)")
    if approved.workflow_id != req["envelope"]["workflow_id"]:
        raise NotApproved("the approved content belongs to another workflow")
    sealed = approved.emails.get(req["delivery_id"])
    if sealed is None:
        raise NotApproved("the approved content has no email with this delivery id")
    email = open_blob(keys, sealed)
    differ = [f for f in SENT_FIELDS if email.get(f) != req.get(f)]
    if differ:
        raise NotApproved(f"the email differs from the approved content in {', '.join(differ)}")


class ApprovedContentReader:
    """Reads one record by position and indexes it (no consumer group; a few recent ones
    cached: every email of a campaign names the same record)."""

    def __init__(self, bootstrap: str, admission: Admission, cache_size: int = 64, timeout_s: float = 15.0) -> None:
        self.bootstrap, self.admission, self.cache_size, self.timeout_s = bootstrap, admission, cache_size, timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._cache: OrderedDict[tuple[str, int, int], ApprovedRecord] = OrderedDict()

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def read(self, topic: str, partition: int, offset: int) -> ApprovedRecord:
        where = (topic, partition, offset)
        async with self._lock:
            cached = self._cache.get(where)
            if cached is not None:
                self._cache.move_to_end(where)
                return cached
            try:
                record = await asyncio.wait_for(self._fetch(topic, partition, offset), self.timeout_s)
            except (KafkaError, OSError, TimeoutError) as exc:
                await self.close()  # a fresh connection next time
                raise DependencyUnavailable("kafka", f"reading the approved content: {exc.__class__.__name__}") from None
            approved = index_record(record, self.admission)
            self._cache[where] = approved
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            return approved

    async def _fetch(self, topic: str, partition: int, offset: int) -> LogRecord:
        if self._consumer is None:
            consumer = logreader.new_consumer(self.bootstrap)
            await consumer.start()
            self._consumer = consumer
        consumer = self._consumer
        tp = TopicPartition(topic, partition)
        # The reader's metadata first: a full metadata round per approved record (every topic
        # delivery may see, parsed in Python) cost ~355 us of its CPU plus the broker's. Only a
        # topic or partition it does not know yet is asked of the broker again before anything
        # is concluded from it.
        await logreader.track(consumer, [topic])
        if partition not in (consumer.partitions_for_topic(topic) or ()):
            visible = await logreader.partitions_of(consumer, [topic])
            if not visible:  # the topic itself is not readable: delivery's ACL missing (`make topics`), or metadata not there yet
                raise DependencyUnavailable("kafka", f"{topic} is not readable by delivery (ACL or metadata); waiting")
            if tp not in visible:
                raise NotApproved("the approved content names a partition that does not exist")
        start, end = await logreader.bounds(consumer, [tp])
        if not start[tp] <= offset < end[tp]:
            raise NotApproved("the approved record is no longer (or not) on the log")
        consumer.assign([tp])
        consumer.seek(tp, offset)
        try:
            while True:
                batches = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
                for msg in batches.get(tp, []):
                    if msg.offset != offset:  # a transaction marker or an aborted record sat there
                        raise NotApproved("no committed record at the approved position")
                    return LogRecord(msg.topic, msg.partition, msg.offset, msg.timestamp, msg.key, msg.value,
                                     tuple((n, v) for n, v in (msg.headers or ())))
                if await consumer.position(tp) > offset:
                    raise NotApproved("no committed record at the approved position")
        finally:
            consumer.pause(tp)  # kept for the next look-up: no fetching meanwhile
