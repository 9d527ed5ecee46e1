"""The orchestrator's consume-process-produce loop with exactly-once semantics inside Kafka,
for any number of instances (ADR 0009).

- **One transactional producer per input partition** (`<prefix>-p<N>`), created when the
  partition is assigned. Its `init_transactions` fences whichever instance owned the partition
  before (a zombie after a rebalance or a crash) and aborts its open transaction; only then is
  the partition's state restored from the changelog. aiokafka 0.14 cannot attach the consumer
  group's metadata to `send_offsets_to_transaction` (KIP-447), so this is the pre-KIP-447
  Kafka Streams scheme.
- Input topics are co-partitioned (same key, same partition count) and assigned with the range
  assignor, so partition N of every input topic, the changelog partition N and producer N go
  together to one instance.
- Per batch and partition, one transaction holds the emitted events, the changelog writes and
  the input offsets. A transaction that fails for any reason is resolved by fencing (a new
  producer for the partition), re-reading the partition's state and rewinding to the committed
  offsets; the partition then waits with backoff (a broker or key-store outage pauses, it never
  dead-letters).
- The durable timer: parked workflows (no decision yet for a transient reason) are re-driven by
  the same loop when their next attempt is due, inside the partition's transaction.
- Admission control: while `max_in_flight` workflows are unfinished on this instance, new
  requests wait in Kafka (the request partitions are paused).
"""
from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from services.kit.contracts import codec, topics
from services.kit.contracts.limits import MAX_RECORD_BYTES, MAX_REQUEST_BYTES, MAX_STATE_BYTES
from services.kit.messaging.bus import (
    GROUP_TIMEOUTS,
    SemanticError,
    admit_record,
    by_key_concurrently,
    dead_letter,
    outgoing_headers,
    record_key,
    update_lag,
)
from services.kit.messaging.retry import Backoff, dependency_of
from services.kit.runtime import faults, role, telemetry, tracing
from services.kit.security import kafka_auth
from services.orchestrator.state_store import ChangelogTable
from services.orchestrator.workflow import Effects, WorkflowEngine, now_ms

log = logging.getLogger(__name__)
INPUT_TOPICS = (topics.REQUESTS, topics.AGENT_RESULTS, topics.REVIEW_DECISIONS, topics.DELIVERY_OUTCOMES)
SERVICE = "orchestrator"
RECORD_ATTEMPTS = 3  # a record failing for its own sake (a bug) is dead-lettered after this many tries
PARK_KINDS = ("undecided", "validator-unavailable", "dependency")


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, proc: Processor) -> None:
        self.proc = proc

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Eager protocol: everything is revoked, then the new assignment arrives. Partitions we
        # keep keep their producer and table (nobody else can have owned them in between).
        self.proc.restoring = True

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self.proc.lock:  # the running batch finishes its transactions first
            await self.proc.own({tp.partition for tp in assigned})
            self.proc.joined, self.proc.restoring = True, False
            role.current().report(self.proc.group_id, role.CONSUMING)  # state restored: consuming from here


class Processor:
    def __init__(self, *, bootstrap: str, group_id: str, transactional_prefix: str, engine: WorkflowEngine,
                 max_in_flight: int = 500) -> None:
        self.bootstrap, self.group_id, self.prefix, self.engine = bootstrap, group_id, transactional_prefix, engine
        self.max_in_flight = max_in_flight
        self.lock = asyncio.Lock()
        self.joined = False
        self.restoring = False
        self.table = ChangelogTable(bootstrap, topics.ORCHESTRATOR_STATE)
        self.producers: dict[int, AIOKafkaProducer] = {}
        self.backoff = Backoff(base_s=0.5, cap_s=15.0)
        self._waiting: dict[int, tuple[float, int]] = {}  # partition -> (resume at, attempt)
        self.consumer = self._new_consumer()
        self._fresh = True  # never started: the first join uses it (a stopped consumer cannot restart)
        self.member = False  # subscribed: the role is active (services/kit/runtime/role.py)
        self.committed: dict[TopicPartition, int] = {}  # input offsets of this instance's last transactions

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False,
                                auto_offset_reset="earliest", isolation_level="read_committed",
                                partition_assignment_strategy=(RangePartitionAssignor,),
                                **GROUP_TIMEOUTS, **kafka_auth.client_args())

    async def start(self) -> None:
        """Join now when active; a preview instance joins nothing until it is promoted."""
        if role.current().active:
            await self._join()
        else:
            role.current().report(self.group_id, role.RELEASED)

    async def stop(self) -> None:
        if self.member:
            await self.consumer.stop()
        for p in list(self.producers):
            await self._close_producer(p)

    async def _join(self) -> None:
        role.current().report(self.group_id, role.JOINING)
        if not self._fresh:
            self.consumer = self._new_consumer()
        self._fresh = False
        await self.consumer.start()
        self.consumer.subscribe(list(INPUT_TOPICS), listener=_Rebalance(self))
        self.member, self.committed = True, {}

    async def _leave(self) -> None:
        """Demoted (rollout): called between batches, so every partition's transaction is
        committed. Wait until the group coordinator shows those offsets (transaction markers are
        written after EndTxn returns and aiokafka cannot ask OffsetFetch for stable offsets),
        leave the group, close the partitions' producers: the next owner resumes exactly there
        and its producers fence ours."""
        deadline = time.monotonic() + 5.0
        pending = dict(self.committed)
        while pending and time.monotonic() < deadline:
            for tp, off in list(pending.items()):
                if (await self.consumer.committed(tp) or 0) >= off:
                    del pending[tp]
            if pending:
                await asyncio.sleep(0.02)
        if pending:
            log.warning("committed offsets not visible before leaving", extra={"partitions": len(pending)})
        await self.consumer.stop()
        await asyncio.gather(*(self._close_producer(p) for p in list(self.producers)))
        self.table.drop(self.table.partitions())
        self.member = self.joined = False
        role.current().report(self.group_id, role.RELEASED)
        log.info("left the group: partitions released at committed offsets", extra={"group": self.group_id})

    async def check_ready(self) -> None:
        """Ready once in the group with its partitions' state restored - also with no partition
        at all (a standby: more instances than partitions) - or as a preview (consumes nothing)."""
        if not role.current().active:
            return
        if not self.joined or self.restoring:
            raise RuntimeError("joining the group / restoring state")

    # -- ownership -------------------------------------------------------------------------
    async def own(self, partitions: set[int]) -> None:
        for p in set(self.producers) - partitions:
            await self._close_producer(p)
            self._waiting.pop(p, None)
        self.table.drop(self.table.partitions() - partitions)
        gained = partitions - set(self.producers)
        # concurrently: a hand-over takes every partition at once, and each producer's
        # init_transactions is a round trip to the transaction coordinator
        await asyncio.gather(*(self._open_producer(p) for p in sorted(gained)))  # fences the previous owners first
        await self.table.restore(gained)
        log.info("partitions owned", extra={"partitions": sorted(partitions), "gained": sorted(gained)})

    async def _open_producer(self, p: int) -> None:
        for attempt in range(1_000_000):
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, transactional_id=f"{self.prefix}-p{p}",
                                        enable_idempotence=True, acks="all", linger_ms=2,
                                        **kafka_auth.client_args())
            try:
                await producer.start()
                self.producers[p] = producer
                return
            except Exception as exc:
                await _quietly_stop(producer)
                if dependency_of(exc) is None and attempt > 3:
                    raise
                log.warning("transactional producer not ready; retrying", extra={"partition": p, "error": exc.__class__.__name__})
                await asyncio.sleep(self.backoff.delay(attempt))

    async def _close_producer(self, p: int) -> None:
        producer = self.producers.pop(p, None)
        if producer is not None:
            await _quietly_stop(producer)

    # -- the loop --------------------------------------------------------------------------
    async def run(self) -> None:
        """Consume while the role is active; on demotion release the partitions between two
        batches (see _leave) and wait for promotion again (a rollback to this colour)."""
        state = role.current()
        while True:
            await state.until_active()
            if not self.member:
                await self._join()
            while state.active:
                await self._poll_once()
            await self._leave()

    async def _poll_once(self) -> None:
        self._flow_control()
        batches = await self.consumer.getmany(timeout_ms=200, max_records=100)
        async with self.lock:
            by_partition: dict[int, dict[TopicPartition, list[ConsumerRecord]]] = {}
            for tp, msgs in batches.items():
                by_partition.setdefault(tp.partition, {})[tp] = msgs
            now = now_ms()
            due = {p: self.table.due(p, now) for p in self.producers if p not in self._waiting}
            work = {p for p, d in due.items() if d} | set(by_partition)
            await asyncio.gather(*(self._partition(p, by_partition.get(p, {}), due.get(p, [])) for p in work
                                   if p in self.producers))
        self._gauges()

    def _flow_control(self) -> None:
        """Pause partitions that wait for a dependency (until their backoff ends) and, while this
        instance has `max_in_flight` unfinished workflows, the request partitions."""
        now = time.monotonic()
        for p, (until, _) in list(self._waiting.items()):
            if until <= now:
                self._waiting[p] = (float("inf"), self._waiting[p][1])  # retrying; cleared on success
        full = self.table.in_flight() >= self.max_in_flight
        pause: list[TopicPartition] = []
        resume: list[TopicPartition] = []
        for tp in self.consumer.assignment():
            waiting = self._waiting.get(tp.partition, (0.0, 0))[0]
            blocked = (waiting != float("inf") and waiting > now) or (full and tp.topic == topics.REQUESTS)
            (pause if blocked else resume).append(tp)
        if pause:
            self.consumer.pause(*pause)
        if resume:
            self.consumer.resume(*resume)

    def _gauges(self) -> None:
        counts = self.table.parked_by_kind()
        for kind in {*PARK_KINDS, *counts}:
            telemetry.PARKED_WORKFLOWS.labels(kind).set(counts.get(kind, 0))

    async def _partition(self, p: int, batches: dict[TopicPartition, list[ConsumerRecord]], due: list) -> None:
        """One transaction for partition `p`: due timers, then the new records, then offsets."""
        producer = self.producers[p]
        try:
            await producer.begin_transaction()
            await asyncio.gather(*(self._retry_parked(producer, p, st) for st in due))
            await by_key_concurrently([m for msgs in batches.values() for m in msgs], lambda m: self._process(producer, m))
            if batches:
                await producer.send_offsets_to_transaction({tp: msgs[-1].offset + 1 for tp, msgs in batches.items()},
                                                           self.group_id)
            await producer.commit_transaction()
        except Exception as exc:
            await self._recover(p, exc)
            return
        self.table.commit(p)
        self.committed.update({tp: msgs[-1].offset + 1 for tp, msgs in batches.items()})
        self._waiting.pop(p, None)
        for tp, msgs in batches.items():
            update_lag(self.consumer, SERVICE, tp, msgs[-1].offset + 1)

    async def _recover(self, p: int, exc: Exception) -> None:
        """The partition's transaction did not commit (a dependency is down, the broker is away,
        or another instance fenced us). Whatever the broker made of it, a fresh producer for the
        partition settles it (commit or abort), then state and positions are re-read from what
        is committed and the partition waits with backoff."""
        dependency = dependency_of(exc) or exc.__class__.__name__
        _, attempt = self._waiting.get(p, (0.0, -1))
        wait = self.backoff.delay(attempt + 1)
        self._waiting[p] = (time.monotonic() + wait, attempt + 1)
        telemetry.DEPENDENCY_RETRIES.labels("workflow", dependency).inc()
        log.warning("partition transaction failed; retrying after backoff",
                    extra={"partition": p, "error": exc.__class__.__name__, "dependency": dependency, "wait_s": round(wait, 2)})
        self.table.discard(p)
        await self._close_producer(p)
        if p not in {tp.partition for tp in self.consumer.assignment()}:
            return
        await self._open_producer(p)
        await self.table.restore({p})
        for tp in self.consumer.assignment():
            if tp.partition == p:
                committed = await self.consumer.committed(tp)
                if committed is None:
                    await self.consumer.seek_to_beginning(tp)
                else:
                    self.consumer.seek(tp, committed)

    async def _retry_parked(self, producer: AIOKafkaProducer, p: int, st) -> None:
        fx = await self.engine.retry_parked(st)
        await self._apply(producer, p, fx)

    async def _process(self, producer: AIOKafkaProducer, msg: ConsumerRecord) -> None:
        """Bad records are dead-lettered (inside the transaction); a dependency error aborts the
        partition's transaction (raised); a handler bug is retried, then dead-lettered."""
        with tracing.consume_span(msg, "workflow") as span:
            await self._process_traced(producer, msg, span)

    async def _process_traced(self, producer: AIOKafkaProducer, msg: ConsumerRecord, span) -> None:
        started = time.perf_counter()
        event_type, outcome = "?", "ok"
        try:
            if msg.value is not None and len(msg.value) > (MAX_REQUEST_BYTES if msg.topic == topics.REQUESTS else MAX_RECORD_BYTES):
                outcome = "invalid"
                await dead_letter(producer, msg, SERVICE, "record-too-large", f"{len(msg.value)} bytes")
                return
            found = await admit_record(msg, producer, SERVICE)  # forged/unauthorised: parked in this transaction
            if found is None:
                outcome = "refused"
                return
            decoded, signer = found
            event_type = decoded.event_type
            wf = decoded.envelope["workflow_id"]
            span.set_attributes({"uf.event_type": event_type, "uf.workflow_id": wf})
            await self._injected_faults(event_type)
            for attempt in range(RECORD_ATTEMPTS):
                try:
                    fx = await self.engine.handle(decoded, self.table.get(msg.partition, wf), signer)
                    raw_state = fx.state.to_json() if fx.state is not None else b""  # encoded once: checked, then written
                    if len(raw_state) > MAX_STATE_BYTES:
                        raise SemanticError("state-too-large", f"the workflow state would exceed {MAX_STATE_BYTES} bytes")
                    break
                except SemanticError as exc:
                    outcome = "invalid"
                    await dead_letter(producer, msg, SERVICE, exc.reason, exc.detail)
                    return
                except Exception as exc:
                    if dependency_of(exc) is not None:
                        outcome = "waiting"
                        raise
                    log.exception("orchestrator handler crashed", extra={"topic": msg.topic, "offset": msg.offset, "attempt": attempt})
                    if attempt == RECORD_ATTEMPTS - 1:
                        outcome = "error"
                        await dead_letter(producer, msg, SERVICE, "handler-error", exc.__class__.__name__)
                        return
                    await asyncio.sleep(0.1 * 2**attempt)
        finally:
            telemetry.EVENTS.labels(SERVICE, "workflow", event_type, outcome).inc()
            telemetry.HANDLER_SECONDS.labels(SERVICE, "workflow").observe(time.perf_counter() - started)
        log.info("event handled", extra={"event_type": event_type, "workflow_id": wf,
                                         "phase": fx.state.phase if fx.state and fx.state.phase else None, "emitted": len(fx.emit)})
        await self._apply(producer, msg.partition, fx, raw_state)

    async def _injected_faults(self, event_type: str) -> None:
        """The test-only fault hook (services/kit/runtime/faults.py): an injected failure is
        counted as an error and retried here, so a faulty build shows errors without losing work."""
        while True:
            try:
                await faults.current().before_handle()
                return
            except faults.InjectedFault:
                telemetry.EVENTS.labels(SERVICE, "workflow", event_type, "error").inc()
                await asyncio.sleep(0.05)

    async def _apply(self, producer: AIOKafkaProducer, partition: int, fx: Effects, raw_state: bytes = b"") -> None:
        for topic, record in fx.emit:
            value, key = codec.encode(record), record_key(record)
            await producer.send(topic, value, key=key, headers=outgoing_headers(topic, key, value))
        if fx.state is not None:
            await self.table.put(producer, partition, fx.state.workflow_id, fx.state, raw_state or None)


async def _quietly_stop(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 10)
    except Exception:
        pass
