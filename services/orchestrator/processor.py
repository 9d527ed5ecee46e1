"""The orchestrator's consume-process-produce loop with exactly-once semantics inside Kafka:
per batch, one transaction holds the emitted events, the state changelog writes and the input
offsets. A crash anywhere aborts the transaction; on restart the state is restored from the
changelog and the same inputs are processed again, emitting the same (deterministic) events."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from services.kit.contracts import codec, topics
from services.kit.messaging.bus import SemanticError, admit_record, by_key_concurrently, dead_letter, outgoing_headers, record_key, update_lag
from services.kit.runtime import faults, role, telemetry, tracing
from services.orchestrator.state_store import ChangelogTable
from services.orchestrator.workflow import Effects, WorkflowEngine

log = logging.getLogger(__name__)
INPUT_TOPICS = (topics.REQUESTS, topics.AGENT_RESULTS, topics.REVIEW_DECISIONS, topics.DELIVERY_OUTCOMES)
SERVICE = "orchestrator"


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, proc: Processor) -> None:
        self.proc = proc

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self.proc.lock:  # let the running batch finish its transaction first
            self.proc.table.drop({tp.partition for tp in revoked})
            self.proc.ready = False

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self.proc.lock:
            await self.proc.table.restore({tp.partition for tp in assigned})
            self.proc.ready = True
            role.current().report(self.proc.group_id, role.CONSUMING)  # state restored: consuming from here


class Processor:
    """Consumes the orchestrator's inputs while its role is active (services/kit/runtime/role.py).

    The transactional producer lives only while the instance is active, and its transactional
    id is the same for every colour: the instance that takes the partitions over calls
    `init_transactions` with that id, which fences the previous owner and aborts any transaction
    it left open (a hung or killed old colour can never commit after the hand-over)."""

    def __init__(self, *, bootstrap: str, group_id: str, transactional_id: str, engine: WorkflowEngine) -> None:
        self.bootstrap, self.group_id, self.transactional_id, self.engine = bootstrap, group_id, transactional_id, engine
        self.lock = asyncio.Lock()
        self.partitions = topics.load_topics()[topics.ORCHESTRATOR_STATE].partitions
        self.ready = False
        self.joined = False
        self.table = ChangelogTable(bootstrap, topics.ORCHESTRATOR_STATE)
        self.producer = self._new_producer()
        self.consumer = self._new_consumer()
        self._fresh = True  # producer/consumer above never started: the first join uses them
        self.committed: dict[TopicPartition, int] = {}  # offsets of this instance's last transactions

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers=self.bootstrap, transactional_id=self.transactional_id,
                                enable_idempotence=True, acks="all", linger_ms=2)

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False,
                                auto_offset_reset="earliest", isolation_level="read_committed")

    async def start(self) -> None:
        if role.current().active:
            await self._join()
        else:
            role.current().report(self.group_id, role.RELEASED)

    async def stop(self) -> None:
        if self.joined:
            await self._leave()

    async def _join(self) -> None:
        role.current().report(self.group_id, role.JOINING)
        if not self._fresh:  # stopped aiokafka clients cannot start again
            self.producer, self.consumer = self._new_producer(), self._new_consumer()
        self._fresh = False
        await self.producer.start()  # init_transactions fences and aborts a predecessor (any colour)
        await self.consumer.start()
        self.consumer.subscribe(list(INPUT_TOPICS), listener=_Rebalance(self))
        self.committed = {}
        self.joined = True

    async def _leave(self) -> None:
        """Called between batches: the last transaction is committed. Wait until the group
        coordinator shows its offsets (transaction markers are written after EndTxn returns,
        and aiokafka's OffsetFetch cannot ask for stable offsets), then leave the group."""
        await self._offsets_visible(timeout_s=5.0)
        await self.consumer.stop()
        await self.producer.stop()
        self.ready = self.joined = False  # the table stays, as a warm standby copy (see _warm)
        role.current().report(self.group_id, role.RELEASED)
        log.info("left the group: partitions released at committed offsets", extra={"group": self.group_id})

    async def _offsets_visible(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = dict(self.committed)
        while pending and time.monotonic() < deadline:
            for tp, off in list(pending.items()):
                if (await self.consumer.committed(tp) or 0) >= off:
                    del pending[tp]
            if pending:
                await asyncio.sleep(0.02)
        if pending:
            log.warning("committed offsets not visible before leaving", extra={"partitions": len(pending)})

    async def check_ready(self) -> None:
        if role.current().active and not self.ready:
            raise RuntimeError("state not restored / no partitions assigned")

    async def run(self) -> None:
        """Consume while active; on demotion finish the batch (its transaction), release the
        partitions, wait for promotion again (rollback) - see role.py."""
        state = role.current()
        while True:
            await self._warm(state)
            if not self.joined:
                await self._join()
            while state.active:
                await self._poll_once()
            await self._leave()

    async def _warm(self, state: role.RoleState, every_s: float = 5.0) -> None:
        """While preview, keep a copy of every partition's state close to the changelog, so a
        promotion (or a rollback to this colour) restores seconds of changelog, not all of it."""
        while not state.active:
            try:
                await self.table.warm(set(range(self.partitions)))
            except Exception as exc:  # a standby copy is an optimisation: a cold restore still works
                log.warning("warming the state copy failed", extra={"error": exc.__class__.__name__})
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(state.changed(), every_s)

    async def _poll_once(self) -> None:
        batches = await self.consumer.getmany(timeout_ms=200, max_records=100)
        if not batches:
            return
        async with self.lock:
            async with self.producer.transaction():
                await by_key_concurrently([m for msgs in batches.values() for m in msgs], self._process)
                offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batches.items()}
                await self.producer.send_offsets_to_transaction(offsets, self.group_id)
            self.committed.update(offsets)
            for tp, nxt in offsets.items():
                update_lag(self.consumer, SERVICE, tp, nxt)

    async def _handle(self, decoded: codec.Decoded, msg: ConsumerRecord, signer: str) -> Effects:
        """The engine, behind the test-only fault hook (an injected failure is retried here, so a
        faulty build shows errors without losing work)."""
        while True:
            try:
                await faults.current().before_handle()
                break
            except faults.InjectedFault:
                telemetry.EVENTS.labels(SERVICE, "workflow", decoded.event_type, "error").inc()
                await asyncio.sleep(0.05)
        return await self.engine.handle(decoded, self.table.get(msg.partition, decoded.envelope["workflow_id"]), signer)

    async def _process(self, msg) -> None:
        with tracing.consume_span(msg, "workflow") as span:
            await self._process_traced(msg, span)

    async def _process_traced(self, msg, span) -> None:
        started = time.perf_counter()
        event_type, outcome = "?", "ok"
        found = await admit_record(msg, self.producer, SERVICE)  # forged/unauthorised: parked in this transaction
        if found is None:
            telemetry.EVENTS.labels(SERVICE, "workflow", event_type, "refused").inc()
            return
        decoded, signer = found
        try:
            event_type = decoded.event_type
            span.set_attributes({"uf.event_type": event_type, "uf.workflow_id": decoded.envelope["workflow_id"]})
            fx = await self._handle(decoded, msg, signer)
        except SemanticError as exc:
            outcome = "invalid"
            await dead_letter(self.producer, msg, SERVICE, exc.reason, exc.detail)
            return
        except Exception as exc:  # a bug must not stop the workflow engine; park the record
            outcome = "error"
            log.exception("orchestrator handler crashed", extra={"topic": msg.topic, "offset": msg.offset})
            await dead_letter(self.producer, msg, SERVICE, "handler-error", exc.__class__.__name__)
            return
        finally:
            telemetry.EVENTS.labels(SERVICE, "workflow", event_type, outcome).inc()
            telemetry.HANDLER_SECONDS.labels(SERVICE, "workflow").observe(time.perf_counter() - started)
        log.info("event handled", extra={"event_type": event_type, "workflow_id": decoded.envelope["workflow_id"],
                                         "phase": fx.state.phase if fx.state and fx.state.phase else None, "emitted": len(fx.emit)})
        for topic, record in fx.emit:
            value, key = codec.encode(record), record_key(record)
            await self.producer.send(topic, value, key=key, headers=outgoing_headers(topic, key, value))
        if fx.state is not None:
            await self.table.put(self.producer, msg.partition, fx.state.workflow_id, fx.state)
