"""Kafka I/O shared by every service: an idempotent producer that encodes events, the
dead-letter path, and a consume loop that never crashes on bad input and never drops it.

Record key = workflow id, so one workflow's events stay ordered in one partition.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    CommitFailedError,
    IllegalStateError,
    OutOfOrderSequenceNumber,
    TopicAuthorizationFailedError,
    UnknownProducerId,
)

from services.kit.contracts import codec
from services.kit.contracts.topics import DEAD_LETTER
from services.kit.messaging import fetch_sessions
from services.kit.messaging.fetch_linger import FetchLinger
from services.kit.messaging.retry import Backoff, PartitionPauser, dependency_of
from services.kit.messaging.warm import seek_to_committed, warm_consumer
from services.kit.runtime import faults, role, telemetry, tracing
from services.kit.security import kafka_auth
from services.kit.security.admission import Admission, Refused, default_admission
from services.kit.security.signing import SigningError, signing_headers

log = logging.getLogger(__name__)
Handler = Callable[[codec.Decoded, ConsumerRecord], Awaitable[None]]
# Called once per poll after every record's handler, before the offsets are committed; returns
# the records it refused for good (record, reason) - those are dead-lettered.
Flush = Callable[[], Awaitable[list[tuple[ConsumerRecord, str]]]]


class SemanticError(Exception):
    """Decodes fine but makes no sense (e.g. no recipients). Dead-lettered with `reason`.
    The message must not contain field values (they may be PII)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


# Group membership timing of every consumer group. `rebalance_timeout_ms` bounds how long the
# coordinator waits for the members to rejoin; aiokafka defaults it to the session timeout (10 s),
# but a member rejoins only once its rebalance callback has returned, and the orchestrator restores
# its partitions' state there (~20 s for 24 partitions on a loaded machine). With 10 s the two
# orchestrator instances kept evicting each other after a broker restart - each owned all 24
# partitions in turn, restoring, and no workflow moved (found by the broker-restart drill). The
# session (15 s) is what notices a killed instance; a little over the default so a busy machine's
# late heartbeats do not evict a healthy one. The heartbeat (1 s) is how soon a member learns that
# another one joined and a rebalance waits for it: with 3 s, instances joining one after the other
# (a rollout of a scaled service) kept the partitions on one of them for up to 3 s more.
GROUP_TIMEOUTS: dict[str, int] = {"session_timeout_ms": 15_000, "heartbeat_interval_ms": 1_000,
                                  "rebalance_timeout_ms": 120_000}
# How long the broker holds a fetch that finds nothing new (aiokafka's default). Records end the
# wait at once, so the hot path does not wait for it; it sets how often an idle consumer asks
# again, and each idle fetch names all of the consumer's partitions (~210 for audit; aiokafka has
# no incremental fetch sessions): these fetches are the broker's largest idle cost. 2 s cut the
# suite's idle CPU by ~25 % (docs/benchmarks.md, sixth pass), but a held fetch also delays every
# other request on its connection (the broker answers one at a time): the first fetch after a
# rebalance, a partition resumed after a retry pause. With 2 s, a blue-green test failed beside
# the CPU hog (not traced); kept at 500 ms until hand-over with a longer poll is shown safe.
IDLE_FETCH_WAIT: dict[str, int] = {"fetch_max_wait_ms": 500}
STANDBY_REWARM_S = 30.0  # a preview consumer re-checks its coordinator connection this often


def producer_config(bootstrap: str, **overrides: Any) -> dict[str, Any]:
    auth = {} if "ssl_context" in overrides else kafka_auth.client_args()  # this process's principal
    return {"bootstrap_servers": bootstrap, "acks": "all", "enable_idempotence": True, "linger_ms": 2, **auth, **overrides}


class RenewingProducer:
    """An idempotent producer that replaces itself when aiokafka's sender has died.

    aiokafka ends a producer's sender routine for good on OutOfOrderSequenceNumber (seen after a
    broker restart: the broker no longer knew the producer's sequence): every later send raises
    the same error, so the validator answered "decision could not be recorded" for ten minutes
    until the workflows' park budgets ran out (found by the broker-restart drill). The Java client
    resets the producer id in that case; here the failed send still raises (the caller's retry -
    a parked record, a retryable decision - does the rest) and the next send goes through a fresh
    producer with a new producer id. Everything else is the wrapped AIOKafkaProducer."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._inner = AIOKafkaProducer(**config)
        self._lock = asyncio.Lock()
        self.renewals = 0

    async def start(self, attempts: int = 8) -> None:
        """Start; an authorization refusal is waited out a little (~40 s) before it is final: on
        a 3-broker cluster the ACLs the topics tool has just written reach every broker a moment
        later, and `make up BROKERS=3` saw a service exit on ClusterAuthorizationFailed."""
        for attempt in range(attempts):
            try:
                await self._inner.start()
                return
            except (ClusterAuthorizationFailedError, TopicAuthorizationFailedError) as exc:
                if attempt == attempts - 1:
                    raise
                log.warning("producer not authorized yet; retrying", extra={"error": exc.__class__.__name__})
                with contextlib.suppress(Exception):
                    await self._inner.stop()
                await asyncio.sleep(1.0 + attempt)
                self._inner = AIOKafkaProducer(**self._config)

    async def _renew(self, dead: AIOKafkaProducer, exc: BaseException) -> None:
        async with self._lock:
            if self._inner is not dead:
                return  # another send renewed it already
            log.warning("producer renewed after a fatal send error", extra={"error": exc.__class__.__name__})
            fresh = AIOKafkaProducer(**self._config)
            await fresh.start()
            self._inner, self.renewals = fresh, self.renewals + 1
        with contextlib.suppress(Exception):
            await dead.stop()

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._inner
        try:
            return await inner.send(*args, **kwargs)
        except _SENDER_DEAD as exc:
            await self._renew(inner, exc)
            raise

    async def send_and_wait(self, *args: Any, **kwargs: Any) -> Any:
        inner = self._inner
        try:
            return await inner.send_and_wait(*args, **kwargs)
        except _SENDER_DEAD as exc:
            await self._renew(inner, exc)
            raise

    async def stop(self) -> None:
        await self._inner.stop()

    def __getattr__(self, name: str) -> Any:  # flush, partitions_for, ... of the current producer
        return getattr(self._inner, name)


_SENDER_DEAD = (OutOfOrderSequenceNumber, UnknownProducerId)


async def start_producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    """A started idempotent producer (acks=all) that renews itself if its sender dies; typed as
    the AIOKafkaProducer it stands in for."""
    producer = RenewingProducer(producer_config(bootstrap, **overrides))
    await producer.start()
    return cast(AIOKafkaProducer, producer)


def record_key(record: dict[str, Any]) -> bytes:
    return str(record["envelope"]["workflow_id"]).encode()


def outgoing_headers(topic: str, key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
    """Headers of every record a service produces: its signature and the current trace context."""
    return signed(topic, key, value) + tracing.trace_headers()


def signed(topic: str, key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
    """Signature headers when this process signs (every service does from its start, ufctl as a
    registered publisher). A process without a key produces unsigned records, which every
    consumer dead-letters (`unsigned`)."""
    try:
        return signing_headers(topic, key, value)
    except SigningError:
        return []


def encoded(topic: str, record: dict[str, Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """Value, key and signed headers of a record, as `publish` sends them. Raises
    `codec.InvalidRecord` for a record its schema refuses."""
    value, key = codec.encode(record), record_key(record)
    return value, key, outgoing_headers(topic, key, value)


async def publish(producer: AIOKafkaProducer, topic: str, record: dict[str, Any]) -> None:
    """Encode, sign and send, awaiting the broker's ack (acks=all)."""
    value, key, headers = encoded(topic, record)
    await producer.send_and_wait(topic, value, key=key, headers=headers)


def dead_letter_headers(msg: ConsumerRecord, service: str, reason: str, detail: str) -> list[tuple[str, bytes]]:
    return [
        ("uf.dlq.reason", reason.encode()),
        ("uf.dlq.detail", detail[:500].encode()),
        ("uf.dlq.service", service.encode()),
        ("uf.dlq.source.topic", msg.topic.encode()),
        ("uf.dlq.source.partition", str(msg.partition).encode()),
        ("uf.dlq.source.offset", str(msg.offset).encode()),
        ("uf.dlq.at", str(int(time.time() * 1000)).encode()),
    ]


async def dead_letter(producer: AIOKafkaProducer, msg: ConsumerRecord, service: str, reason: str, detail: str = "") -> None:
    """Park the original bytes with the reason. Awaited: a record is only skipped once parked."""
    await producer.send_and_wait(
        DEAD_LETTER, msg.value, key=msg.key, headers=dead_letter_headers(msg, service, reason, detail)
    )
    telemetry.DEAD_LETTERS.labels(service, msg.topic, reason).inc()
    log.warning("dead-lettered record", extra={"reason": reason, "topic": msg.topic, "partition": msg.partition, "offset": msg.offset})


async def admit_record(msg: ConsumerRecord, producer: AIOKafkaProducer, service: str,
                       admission: Admission | None = None) -> tuple[codec.Decoded, str] | None:
    """(decoded record, verified signer) if the record is admitted - signed by a declared
    producer of the topic, of an event type bound to the topic and allowed for that signer (see
    kit.security.admission) - else None after dead-lettering it with the precise reason. Every
    consumer calls this (or `admitted`) first: nothing unauthenticated reaches a handler."""
    gate = admission or default_admission()
    try:
        signer = gate.signer(msg.topic, msg.key, msg.value, msg.headers)
    except Refused as exc:
        await dead_letter(producer, msg, service, exc.reason, exc.detail)
        return None
    try:
        decoded = codec.decode(msg.value)
    except codec.CodecError as exc:
        await dead_letter(producer, msg, service, exc.reason, str(exc))
        return None
    try:
        gate.authorize(msg.topic, signer, decoded.event_type)
    except Refused as exc:
        await dead_letter(producer, msg, service, exc.reason, exc.detail)
        return None
    return decoded, signer


async def admitted(msg: ConsumerRecord, producer: AIOKafkaProducer, service: str,
                   admission: Admission | None = None) -> codec.Decoded | None:
    """`admit_record` for consumers that do not care who the (authorised) signer was."""
    found = await admit_record(msg, producer, service, admission)
    return found[0] if found else None


async def by_key_concurrently(msgs: Iterable[ConsumerRecord], handle: Callable[[ConsumerRecord], Awaitable[None]]) -> None:
    """Handle records of different keys concurrently and records of one key in order: a
    workflow's events stay ordered while I/O-bound work (gRPC, SMTP, acks) overlaps."""
    groups: dict[tuple[int, bytes | None], list[ConsumerRecord]] = {}
    for m in msgs:
        groups.setdefault((m.partition, m.key), []).append(m)

    async def run(group: list[ConsumerRecord]) -> None:
        for m in group:
            await handle(m)

    await asyncio.gather(*(run(g) for g in groups.values()))


class _Parked(Exception):
    def __init__(self, dependency: str) -> None:
        super().__init__(dependency)
        self.dependency = dependency


class _Membership(ConsumerRebalanceListener):
    """Tracks group membership: an instance that joined but holds no partition is a ready
    standby (more replicas than partitions), not NotReady forever."""

    def __init__(self, loop: ConsumeLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.loop.pauser.forget(set(revoked))
        role.current().mark(f"{self.loop.group_id}:join-sent")  # the coordinator is known, JoinGroup next

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        try:  # one OffsetFetch for every partition (warm.py); failing that, aiokafka positions them itself
            await seek_to_committed(self.loop.consumer, assigned, self.loop.offset_reset)
        except Exception as exc:
            log.warning("positions not read in one request", extra={"group": self.loop.group_id, "error": exc.__class__.__name__})
        self.loop.joined = True
        role.current().report(self.loop.group_id, role.CONSUMING)  # hand-over timing (role.py)


class ConsumeLoop:
    """At-least-once consumer: admit (signature + declared producer + topic binding), decode,
    handle, commit. Handlers must be idempotent.

    Three kinds of failure, three answers:
    - refused records (admission: signature, declared producer, topic binding), bad bytes and
      SemanticError: the record is bad in itself -> dead-letter topic at once;
    - a dependency is unavailable (`retry.dependency_of`: Redis, OpenSearch, SMTP, broker,
      gRPC peer down): the record is fine -> its partition is paused at that offset and retried
      with backoff until the dependency is back, never dead-lettered (shown in /ready and
      `uf_parked_partitions`);
    - any other exception: retried `retries` times with backoff, then dead-lettered with reason
      `handler-error` - the partition never stops on one record.

    `flush` (optional) lets a handler buffer work and write it once per poll (e.g. one bulk
    request instead of one per record): it runs before the commit, and an exception from it
    is transient trouble, retried with backoff until it succeeds - the poll is not committed
    before its writes are done (shown in /ready meanwhile).
    """

    def __init__(
        self,
        *,
        service: str,
        bootstrap: str,
        group_id: str,
        topics: Iterable[str],
        handler: Handler,
        producer: AIOKafkaProducer,
        retries: int = 3,
        from_beginning: bool = True,
        backoff: Backoff | None = None,
        admission: Admission | None = None,
        flush: Flush | None = None,
        linger: FetchLinger | None = None,
    ) -> None:
        self.service, self.handler, self.producer, self.retries = service, handler, producer, retries
        self.admission = admission or default_admission()
        self.flush = flush
        self.linger = linger  # fetches held while records flow (services/kit/messaging/fetch_linger.py)
        self.topics, self.group_id = list(topics), group_id
        self.offset_reset = "earliest" if from_beginning else "latest"
        self._consumer_args: dict[str, Any] = {
            "bootstrap_servers": bootstrap, "group_id": group_id, "enable_auto_commit": False,
            "auto_offset_reset": self.offset_reset, "isolation_level": "read_committed",
            **GROUP_TIMEOUTS, **(linger.consumer_args() if linger else IDLE_FETCH_WAIT),
            **kafka_auth.client_args(),
        }
        self.consumer = AIOKafkaConsumer(**self._consumer_args)
        self._started = self._stopped = False  # see _connect
        self.pauser = PartitionPauser(service, backoff or Backoff())
        self.joined = False  # in the group (with or without partitions)
        self.member = False  # subscribed: the role is active (role.py)
        self.processed = 0

    async def start(self) -> None:
        """Join the group now when active; a preview instance joins nothing until promoted."""
        if role.current().active:
            await self._join()
        else:
            role.current().report(self.group_id, role.RELEASED)

    async def stop(self) -> None:
        if self.member:
            await self._leave()
        elif self._started and not self._stopped:  # a warm standby's consumer, in no group
            await self.consumer.stop()
            self._stopped = True

    async def _connect(self) -> None:
        """Start the consumer without subscribing (a stopped aiokafka consumer cannot restart:
        a new one replaces it): connected, in no group."""
        if self._started and not self._stopped:
            return
        if self._stopped:
            self.consumer, self._stopped = AIOKafkaConsumer(**self._consumer_args), False
        await fetch_sessions.start(self.consumer)
        self._started = True

    async def _standby(self, state: role.RoleState) -> None:
        """While preview: keep the consumer started with its group coordinator connected and the
        topics' metadata loaded (kit/messaging/warm.py), so a promotion only joins the group.
        Returns when the role becomes active."""
        while not state.active:
            try:
                await self._connect()
                await warm_consumer(self.consumer, self.topics)
            except Exception as exc:  # an optimisation: the join does the same work later
                log.warning("standby consumer not warmed", extra={"group": self.group_id, "error": exc.__class__.__name__})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(state.until_active(), STANDBY_REWARM_S)

    async def _join(self) -> None:
        role.current().report(self.group_id, role.JOINING)
        await self._connect()
        role.current().mark(f"{self.group_id}:started")
        self.consumer.subscribe(self.topics, listener=_Membership(self))
        self.member = True

    async def _leave(self) -> None:
        """Leave the group (LeaveGroup is sent and awaited by stop): the committed offsets are
        where the next owner of the partitions resumes."""
        role.current().mark(f"{self.group_id}:batch-done")
        await self.consumer.stop()
        self._stopped = True
        self.member = self.joined = False
        self.pauser.forget(set(self.pauser.paused))
        role.current().report(self.group_id, role.RELEASED)

    async def ready(self) -> None:
        if not role.current().active:
            return  # a preview instance is ready without partitions
        if not self.joined:
            raise RuntimeError("not in the consumer group yet")
        await self.pauser.check()

    async def handle_one(self, msg: ConsumerRecord) -> None:
        """Raises _Parked when a dependency is down (the caller pauses the partition)."""
        with tracing.consume_span(msg, getattr(self.handler, "__name__", "handler")) as span:
            await self._handle_one(msg, span)

    async def _handle_one(self, msg: ConsumerRecord, span: tracing.Span) -> None:
        try:
            decoded = await admitted(msg, self.producer, self.service, self.admission)
        except Exception as exc:  # the broker is down while dead-lettering: wait for it
            raise _Parked(dependency_of(exc) or "kafka") from None
        if decoded is None:
            return
        handler_name = getattr(self.handler, "__name__", "handler")
        span.set_attributes({"uf.event_type": decoded.event_type, "uf.workflow_id": decoded.envelope["workflow_id"]})
        for attempt in range(self.retries + 1):
            started = time.perf_counter()
            try:
                await faults.current().before_handle()
                await self.handler(decoded, msg)
                telemetry.EVENTS.labels(self.service, handler_name, decoded.event_type, "ok").inc()
                log.info("event handled", extra={"handler": handler_name, "event_type": decoded.event_type,
                                                 "workflow_id": decoded.envelope["workflow_id"]})
                return
            except SemanticError as exc:
                telemetry.EVENTS.labels(self.service, handler_name, decoded.event_type, "invalid").inc()
                await self._dead_letter(msg, exc.reason, exc.detail)
                return
            except Exception as exc:
                dependency = dependency_of(exc)
                if dependency is not None:
                    telemetry.EVENTS.labels(self.service, handler_name, decoded.event_type, "waiting").inc()
                    log.warning("dependency unavailable; partition paused", extra={
                        "dependency": dependency, "error": exc.__class__.__name__, "topic": msg.topic,
                        "partition": msg.partition, "offset": msg.offset})
                    raise _Parked(dependency) from None
                log.warning("handler failed", extra={"error": exc.__class__.__name__, "attempt": attempt, "topic": msg.topic, "offset": msg.offset})
                # every failed attempt counts: a handler failing 10 % of the time is a 10 % error
                # rate (a rollback trigger) even when its retries eventually succeed
                telemetry.EVENTS.labels(self.service, handler_name, decoded.event_type, "error").inc()
                if attempt == self.retries:
                    await self._dead_letter(msg, "handler-error", exc.__class__.__name__)
                    return
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
            finally:
                telemetry.HANDLER_SECONDS.labels(self.service, handler_name).observe(time.perf_counter() - started)

    async def _dead_letter(self, msg: ConsumerRecord, reason: str, detail: str) -> None:
        try:
            await dead_letter(self.producer, msg, self.service, reason, detail)
        except Exception as exc:  # the broker is down: wait for it, do not drop the record
            raise _Parked(dependency_of(exc) or "kafka") from None

    async def _handle_batch(self, msgs: list[ConsumerRecord]) -> dict[TopicPartition, tuple[int, str]]:
        """Records of one key in order, keys concurrently. Returns, per partition, the first
        offset that must wait for a dependency (and which one)."""
        failed: dict[TopicPartition, tuple[int, str]] = {}
        groups: dict[tuple[str, int, bytes | None], list[ConsumerRecord]] = {}
        for m in msgs:
            groups.setdefault((m.topic, m.partition, m.key), []).append(m)

        async def run(group: list[ConsumerRecord]) -> None:
            for m in group:
                try:
                    await self.handle_one(m)
                except _Parked as parked:  # later records of this key must wait too
                    tp = TopicPartition(m.topic, m.partition)
                    if tp not in failed or failed[tp][0] > m.offset:
                        failed[tp] = (m.offset, parked.dependency)
                    return

        await asyncio.gather(*(run(g) for g in groups.values()))
        return failed

    async def run(self) -> None:
        """Consume while the role is active. On demotion the batch in hand is finished and
        committed, then the instance leaves the group; on promotion it joins again and resumes
        at the committed offsets. Nothing is handled twice by the hand-over, nothing skipped."""
        state = role.current()
        while True:
            await self._standby(state)
            if not self.member:
                await self._join()
            while state.active:
                await self._poll_once()
            await self._leave()

    async def _poll_once(self) -> None:
        for tp in self.pauser.resume_due():
            if tp in self.consumer.assignment():
                self.consumer.resume(tp)
        batches = await self.consumer.getmany(timeout_ms=200, max_records=200)
        if self.linger is not None:
            self.linger.observe(self.consumer, sum(len(msgs) for msgs in batches.values()))
        if not batches:
            return
        role.current().mark(f"{self.group_id}:first-records")
        failed = await self._handle_batch([m for msgs in batches.values() for m in msgs])
        if self.flush is not None:
            await self._flush(list(batches))
        offsets: dict[TopicPartition, int] = {}
        # A rebalance while the batch was handled may have moved some of its partitions to
        # another member: their records are re-read there (handlers are idempotent), and this
        # member may no longer seek, pause, commit or read the lag of them - aiokafka raises on
        # each (the lag read killed an orchestrator's consume loop mid-rollout).
        assigned = self.consumer.assignment()
        for tp, msgs in batches.items():
            if tp not in assigned:
                continue
            if tp in failed:
                offset, dependency = failed[tp]
                self.consumer.seek(tp, offset)
                self.consumer.pause(tp)
                self.pauser.park(tp, offset, dependency)
                if offset > msgs[0].offset:
                    offsets[tp] = offset
            else:
                offsets[tp] = msgs[-1].offset + 1
                self.pauser.resumed(tp)
        if offsets:
            await self._commit(offsets)
        for tp, nxt in offsets.items():
            self.processed += len(batches[tp])
            update_lag(self.consumer, self.service, tp, nxt)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """A commit that fails because the broker is away is retried; one that fails because
        the partitions moved to another member is dropped (they will be re-read there:
        at-least-once, handlers are idempotent)."""
        for attempt in range(100):
            try:
                await self.consumer.commit(offsets)
                return
            except (CommitFailedError, IllegalStateError):
                log.warning("commit refused after a rebalance; records will be re-read by their new owner")
                return
            except Exception as exc:
                if dependency_of(exc) is None:
                    raise
                await asyncio.sleep(Backoff().delay(attempt))

    async def _flush(self, tps: list[TopicPartition]) -> None:
        assert self.flush is not None
        attempt = 0
        while True:
            try:
                refused = await self.flush()
                break
            except Exception as exc:
                dependency = dependency_of(exc) or "flush"
                log.warning("flush failed; retrying", extra={"error": exc.__class__.__name__, "attempt": attempt,
                                                             "dependency": dependency})
                for tp in tps:  # visible in /ready and the metric while the writes wait
                    self.pauser.park(tp, -1, dependency)
                await asyncio.sleep(self.pauser.backoff.delay(attempt))
                attempt += 1
        for msg, reason in refused:
            await self._dead_letter(msg, reason, "")


def update_lag(consumer: AIOKafkaConsumer, service: str, tp: TopicPartition, next_offset: int, group: str | None = None) -> None:
    """The lag gauge of `tp`; nothing for a partition a rebalance just took away (its new owner
    reports it)."""
    if tp not in consumer.assignment():
        return
    hw = consumer.highwater(tp)
    if hw is not None:
        group = group or getattr(consumer, "_group_id", None) or "none"
        telemetry.CONSUMER_LAG.labels(service, group, tp.topic, str(tp.partition)).set(max(0, hw - next_offset))
