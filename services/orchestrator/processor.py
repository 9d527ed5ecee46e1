"""The orchestrator's consume-process-produce loop with exactly-once semantics inside Kafka:
per batch, one transaction holds the emitted events, the state changelog writes and the input
offsets. A crash anywhere aborts the transaction; on restart the state is restored from the
changelog and the same inputs are processed again, emitting the same (deterministic) events."""
from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from services.kit.contracts import codec, topics
from services.kit.messaging.bus import SemanticError, admit_record, by_key_concurrently, dead_letter, outgoing_headers, record_key, update_lag
from services.kit.runtime import telemetry, tracing
from services.orchestrator.state_store import ChangelogTable
from services.orchestrator.workflow import WorkflowEngine

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


class Processor:
    def __init__(self, *, bootstrap: str, group_id: str, transactional_id: str, engine: WorkflowEngine) -> None:
        self.group_id, self.engine = group_id, engine
        self.lock = asyncio.Lock()
        self.ready = False
        self.table = ChangelogTable(bootstrap, topics.ORCHESTRATOR_STATE)
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=transactional_id,
                                         enable_idempotence=True, acks="all", linger_ms=2)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False,
                                         auto_offset_reset="earliest", isolation_level="read_committed")

    async def start(self) -> None:
        await self.producer.start()  # init_transactions fences and aborts a crashed predecessor
        await self.consumer.start()
        self.consumer.subscribe(list(INPUT_TOPICS), listener=_Rebalance(self))

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.producer.stop()

    async def check_ready(self) -> None:
        if not self.ready:
            raise RuntimeError("state not restored / no partitions assigned")

    async def run(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=200, max_records=100)
            if not batches:
                continue
            async with self.lock:
                async with self.producer.transaction():
                    await by_key_concurrently([m for msgs in batches.values() for m in msgs], self._process)
                    offsets = {tp: msgs[-1].offset + 1 for tp, msgs in batches.items()}
                    await self.producer.send_offsets_to_transaction(offsets, self.group_id)
                for tp, nxt in offsets.items():
                    update_lag(self.consumer, SERVICE, tp, nxt)

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
            fx = await self.engine.handle(decoded, self.table.get(msg.partition, decoded.envelope["workflow_id"]), signer)
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
