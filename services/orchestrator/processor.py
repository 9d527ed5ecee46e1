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
- Warm standby (blue-green, ADR 0008): a preview instance keeps a copy of every partition's
  state near the changelog's end, its consumer connected (started, not subscribed: it joins
  no group) and every partition's producer connected but not initialised (`init_transactions`
  would fence the active colour), with its group and transaction coordinators already found
  and connected (kit/messaging/warm.py); a demoted instance keeps its state copy. A promotion
  then joins the group, sends one InitProducerId per partition (the fence), reads seconds of
  changelog and the positions (one OffsetFetch, after the fence).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from services.kit.contracts import codec, topics
from services.kit.contracts.limits import MAX_RECORD_BYTES, MAX_REQUEST_BYTES, MAX_STATE_BYTES
from services.kit.contracts.record_hash import content_hash
from services.kit.messaging import fetch_sessions
from services.kit.messaging.bus import (
    GROUP_TIMEOUTS,
    IDLE_FETCH_WAIT,
    SemanticError,
    admit_record,
    by_key_concurrently,
    dead_letter,
    outgoing_headers,
    record_key,
    update_lag,
)
from services.kit.messaging.retry import Backoff, dependency_of
from services.kit.messaging.warm import seek_to_committed, warm_consumer, warm_transactional_producer
from services.kit.runtime import faults, role, telemetry, tracing
from services.kit.security import kafka_auth
from services.kit.security.attestation import ReviewedContent
from services.orchestrator.state_store import ChangelogTable
from services.orchestrator.workflow import Effects, WorkflowEngine, now_ms

log = logging.getLogger(__name__)
INPUT_TOPICS = (topics.REQUESTS, topics.AGENT_RESULTS, topics.REVIEW_DECISIONS, topics.DELIVERY_OUTCOMES)
SERVICE = "orchestrator"
RECORD_ATTEMPTS = 3  # a record failing for its own sake (a bug) is dead-lettered after this many tries
PARK_KINDS = ("undecided", "validator-unavailable", "dependency")
STANDBY_REFRESH_S = 1.0  # a preview's copy trails the changelog by about this much
REWARM_S = 60.0  # a preview re-checks its prepared producers' connections this often
# A partition's transaction that has not committed after this long is given up: its producer is
# replaced (the new one's InitProducerId fences it and the broker aborts or completes what it had),
# state is re-read and the batch is retried. Without it one await on a producer whose sender died
# (seen after a broker restart) held the gather over every partition, and the instance went quiet
# for good. Twice the transaction timeout, so it only ever ends a hang, never a slow commit.
TXN_DEADLINE_S = 120.0


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, proc: Processor) -> None:
        self.proc = proc

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Eager protocol: everything is revoked, then the new assignment arrives. Partitions we
        # keep keep their producer and table (nobody else can have owned them in between).
        self.proc.restoring = True
        role.current().mark(f"{self.proc.group_id}:join-sent")  # the coordinator is known, JoinGroup next

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        role.current().mark(f"{self.proc.group_id}:assigned")  # JoinGroup + SyncGroup done
        async with self.proc.lock:  # the running batch finishes its transactions first
            # positions read after the fence; a batch fetched before this seek is dropped (_poll_once)
            await self.proc.own({tp.partition for tp in assigned},
                                after_fence=lambda: seek_to_committed(self.proc.consumer, assigned))
            self.proc.generation += 1
            role.current().mark(f"{self.proc.group_id}:positioned")
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
        self._prepared: dict[int, AIOKafkaProducer] = {}  # preview: connected, not initialised (see _prepare_producers)
        self._prepared_at = time.monotonic()
        self.backoff = Backoff(base_s=0.5, cap_s=15.0)
        self._waiting: dict[int, tuple[float, int]] = {}  # partition -> (resume at, attempt)
        self.partitions = topics.load_topics()[topics.ORCHESTRATOR_STATE].partitions
        self.consumer = self._new_consumer()
        self._consumer_state = "new"  # new -> started -> stopped (a stopped aiokafka consumer cannot restart)
        self.standby_ready = False  # preview: the standby copy has been read once
        self.member = False  # subscribed: the role is active (services/kit/runtime/role.py)
        self.committed: dict[TopicPartition, int] = {}  # input offsets of this instance's last transactions
        self.generation = 0  # assignments seen: a batch fetched under an older one is dropped

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False,
                                auto_offset_reset="earliest", isolation_level="read_committed",
                                partition_assignment_strategy=(RangePartitionAssignor,),
                                **GROUP_TIMEOUTS, **IDLE_FETCH_WAIT, **kafka_auth.client_args())

    async def start(self) -> None:
        """Join now when active; a preview instance joins nothing until it is promoted."""
        if role.current().active:
            await self._join()
        else:
            role.current().report(self.group_id, role.RELEASED)

    async def stop(self) -> None:
        if self._consumer_state == "started":
            await self.consumer.stop()
        for p in list(self.producers):
            await self._close_producer(p)
        await asyncio.gather(*(_quietly_stop(self._prepared.pop(p)) for p in list(self._prepared)))
        await self.table.close()

    async def _connect(self) -> None:
        """Start the consumer without subscribing: connected and bootstrapped, in no group."""
        if self._consumer_state == "stopped":
            self.consumer, self._consumer_state = self._new_consumer(), "new"
        if self._consumer_state == "new":
            await fetch_sessions.start(self.consumer)
            self._consumer_state = "started"

    async def _warm(self) -> None:
        """Preview: connected as above, and the group coordinator known and connected with the
        input topics' metadata loaded (services/kit/messaging/warm.py), so a promotion's first
        request is JoinGroup."""
        await self._connect()
        await warm_consumer(self.consumer, INPUT_TOPICS)

    async def _join(self) -> None:
        role.current().report(self.group_id, role.JOINING)
        await self._connect()
        self.consumer.subscribe(list(INPUT_TOPICS), listener=_Rebalance(self))
        self.member, self.committed = True, {}

    async def _leave(self) -> None:
        """Demoted (rollout): called between batches, so every partition's transaction is
        committed. Wait until the group coordinator shows those offsets (transaction markers are
        written after EndTxn returns and aiokafka cannot ask OffsetFetch for stable offsets),
        leave the group, close the partitions' producers: the next owner resumes exactly there
        and its producers fence ours."""
        role.current().mark(f"{self.group_id}:batch-done")
        t0 = time.monotonic()
        deadline = t0 + 5.0
        pending = dict(self.committed)
        while pending and time.monotonic() < deadline:
            seen = await asyncio.gather(*(self.consumer.committed(tp) for tp in pending))  # one round trip, not one per partition
            pending = {tp: off for (tp, off), got in zip(pending.items(), seen) if (got or 0) < off}
            if pending:
                await asyncio.sleep(0.02)
        if pending:
            log.warning("committed offsets not visible before leaving", extra={"partitions": len(pending)})
        t1 = time.monotonic()
        role.current().mark(f"{self.group_id}:offsets-visible")
        await self.consumer.stop()
        self._consumer_state = "stopped"
        self.member = self.joined = False
        self._waiting.clear()
        t2 = time.monotonic()
        role.current().report(self.group_id, role.RELEASED)
        # After the report: the next owner's producers fence these anyway, and nothing is pending.
        await asyncio.gather(*(self._close_producer(p) for p in list(self.producers)))
        log.info("left the group: partitions released at committed offsets",
                 extra={"group": self.group_id, "offsets_visible_ms": int((t1 - t0) * 1000), "leave_ms": int((t2 - t1) * 1000)})

    async def check_ready(self) -> None:
        """Ready once in the group with its partitions' state restored - also with no partition
        at all (a standby: more instances than partitions) - or as a preview (consumes nothing)."""
        if not role.current().active:
            if not self.standby_ready:
                raise RuntimeError("preview: reading the standby copy of the state")
            return
        if not self.joined or self.restoring:
            raise RuntimeError("joining the group / restoring state")

    # -- ownership -------------------------------------------------------------------------
    async def own(self, partitions: set[int], after_fence: Callable[[], Awaitable[None]] | None = None) -> None:
        """Own exactly `partitions`: close the producers of the others, open (= fence) the gained
        ones' producers, then read their state tail - beside `after_fence` (the rebalance's
        positioning), which must also come after the fence."""
        for p in set(self.producers) - partitions:
            await self._close_producer(p)
            self._waiting.pop(p, None)
        self.table.drop(self.table.partitions() - partitions)
        gained = partitions - set(self.producers)
        t0 = time.perf_counter()
        warm = len(gained & self.table.warm_partitions())

        async def producers() -> float:
            # concurrently: a hand-over takes every partition at once, and each producer's
            # init_transactions is a round trip to the transaction coordinator
            await asyncio.gather(*(self._open_producer(p) for p in sorted(gained)))
            return time.perf_counter()

        # Partitions without a standby copy are read in bulk beside the producers' start; then
        # every gained partition is read again from where its copy stands, after the fence:
        # only a read after the fence is trusted (a zombie's open transaction is aborted by it,
        # or had committed), and with a copy it is a short tail.
        fenced_at, _ = await asyncio.gather(producers(), self.table.restore(gained - self.table.warm_partitions()))
        role.current().mark(f"{self.group_id}:fenced")
        t1 = time.perf_counter()
        await asyncio.gather(self.table.restore(gained), after_fence() if after_fence else asyncio.sleep(0))
        role.current().mark(f"{self.group_id}:restored")
        log.info("partitions owned", extra={"partitions": sorted(partitions), "gained": sorted(gained), "warm": warm,
                                            "producers_ms": int((fenced_at - t0) * 1000),
                                            "restore_ms": int((time.perf_counter() - t0) * 1000),
                                            "after_fence_ms": int((time.perf_counter() - t1) * 1000)})

    def _new_producer(self, p: int) -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers=self.bootstrap, transactional_id=f"{self.prefix}-p{p}",
                                enable_idempotence=True, acks="all", linger_ms=2, **kafka_auth.client_args())

    async def _prepare_producers(self) -> None:
        """Preview: every partition's producer connected - TLS handshakes done, cluster metadata
        known, its transaction coordinator found and connected - but without
        `init_transactions`, which would fence the active colour. At promotion only that round
        trip is left (`_open_producer`)."""
        async def one(p: int) -> None:
            producer = self._new_producer(p)
            try:
                await producer.client.bootstrap()
                for broker in producer.client.cluster.brokers():
                    await producer.client.ready(broker.nodeId)
                await warm_transactional_producer(producer, self.group_id)
            except Exception:
                await _quietly_stop(producer)
                raise
            self._prepared[p] = producer

        missing = [p for p in range(self.partitions) if p not in self._prepared and p not in self.producers]
        failed = [r for r in await asyncio.gather(*(one(p) for p in missing), return_exceptions=True) if r is not None]
        if time.monotonic() - self._prepared_at > REWARM_S:  # reconnect what an idle timeout closed (9 min)
            self._prepared_at = time.monotonic()
            failed += [r for r in await asyncio.gather(*(warm_transactional_producer(x, self.group_id) for x in self._prepared.values()),
                                                       return_exceptions=True) if r is not None]
        if failed:
            log.warning("producers not prepared", extra={"count": len(failed), "error": failed[0].__class__.__name__})

    async def _start_prepared(self, p: int) -> bool:
        """aiokafka 0.14's `start()` is `client.bootstrap()` + `_sender.start()`; a prepared
        producer's client is bootstrapped and connected, so only the sender starts: it finds
        the transaction coordinator and sends InitProducerId (the fence). Any failure: the
        caller opens a fresh producer the ordinary way."""
        producer = self._prepared.pop(p, None)
        if producer is None:
            return False
        try:
            await producer._sender.start()
        except Exception as exc:
            log.warning("prepared producer did not start; opening a fresh one", extra={"partition": p, "error": exc.__class__.__name__})
            await _quietly_stop(producer)
            return False
        self.producers[p] = producer
        return True

    async def _open_producer(self, p: int) -> None:
        if await self._start_prepared(p):
            return
        for attempt in range(1_000_000):
            producer = self._new_producer(p)
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
            await self._standby(state)
            state.mark(f"{self.group_id}:standby-left")
            if not self.member:
                await self._join()
            while state.active:
                await self._poll_once()
            await self._leave()

    async def _standby(self, state: role.RoleState) -> None:
        """While preview: keep the consumer connected and every partition's state copy near the
        changelog's end (ready once read), so a promotion - or a rollback to this colour - reads
        only the last second of changelog. Returns when the role becomes active."""
        while not state.active:
            try:  # not inside the task below: a client's start is never cancelled halfway
                await self._warm()
                await self._prepare_producers()  # only the missing ones: a no-op once all are there
            except Exception as exc:
                log.warning("standby clients not connected", extra={"error": exc.__class__.__name__})
            refresh = asyncio.create_task(self._refresh_standby())
            deadline = time.monotonic() + STANDBY_REFRESH_S
            while not state.active and (not refresh.done() or time.monotonic() < deadline):
                await asyncio.sleep(0.05)
            if not refresh.done():  # promoted mid-read: the copy is a consistent prefix, the tail comes after the fence
                refresh.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresh

    async def _refresh_standby(self) -> None:
        try:
            await self.table.warm(set(range(self.partitions)))
            self.standby_ready = True
        except Exception as exc:  # the copy is an optimisation: a cold restore still works
            log.warning("standby copy not refreshed", extra={"error": exc.__class__.__name__})

    async def _poll_once(self) -> None:
        self._flow_control()
        generation = self.generation
        batches = await self.consumer.getmany(timeout_ms=200, max_records=100)
        if batches:
            role.current().mark(f"{self.group_id}:first-records")
        async with self.lock:
            if generation != self.generation:
                # A rebalance came while this batch was fetched: it may come from a position read
                # before the fence (or from a partition no longer owned). Drop it and position
                # every partition at its committed offset again - nothing was committed since
                # the rebalance's own seek, so this is where it left them.
                await seek_to_committed(self.consumer, self.consumer.assignment())
                return
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
            async with asyncio.timeout(TXN_DEADLINE_S):
                await producer.begin_transaction()
                await asyncio.gather(*(self._retry_parked(producer, p, st) for st in due))
                await by_key_concurrently([m for msgs in batches.values() for m in msgs], lambda m: self._process(producer, m))
                if batches:
                    # The records first, then the offsets: an AddOffsetsToTxn in flight while a
                    # produce of this transaction reaches its partition makes the broker's
                    # transaction check (KIP-890) answer NOT_ENOUGH_REPLICAS, and aiokafka retries
                    # that produce after 100 ms - up to ~10 % of transactions (bench/broker_txn_cost.py,
                    # docs/benchmarks.md seventh pass).
                    await producer.flush()
                    await producer.send_offsets_to_transaction({tp: msgs[-1].offset + 1 for tp, msgs in batches.items()},
                                                               self.group_id)
                await producer.commit_transaction()
        except Exception as exc:  # TimeoutError included: a hung transaction is recovered like a failed one
            await self._recover(p, exc)
            return
        role.current().mark(f"{self.group_id}:first-commit")
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
                if tp not in self.consumer.assignment():
                    continue  # a rebalance took it meanwhile: its new owner reads from the committed offset
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
                    fx = await self.engine.handle(decoded, self.table.get(msg.partition, wf), signer, _source(msg, event_type))
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


def _source(msg: ConsumerRecord, event_type: str) -> ReviewedContent | None:
    """Where an agent result sits on the log and its content hash (what a review attests)."""
    if event_type != "AgentTaskCompleted":
        return None
    digest = content_hash(msg.timestamp, msg.key, msg.value, list(msg.headers or ()))
    return ReviewedContent(msg.topic, msg.partition, msg.offset, digest.hex())
