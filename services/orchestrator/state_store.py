"""Durable per-workflow state: an in-memory table per assigned partition, backed by a compacted
changelog topic that is written in the same Kafka transaction as the outputs and the input
offsets. After a crash the table is restored from the changelog, so state, emitted events and
consumed offsets always agree (exactly-once processing within Kafka).

Writes are *staged* per partition until the partition's transaction commits (`commit`) and
dropped if it aborts (`discard`), so the table never runs ahead of the log. The table also
indexes what the processor's loop needs without a scan: workflows still running (admission
control) and parked workflows by their next attempt time (the durable timer: the parking lives
in the state record itself, so a restarted or new owner of the partition picks it up)."""
from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from services.kit.messaging import logreader
from services.kit.messaging.bus import signed
from services.kit.security.admission import Refused, default_admission
from services.orchestrator.state import WorkflowState

STATE_TYPE = "WorkflowState"  # the changelog's one "event type" in infra/topics.yaml

log = logging.getLogger(__name__)


class ChangelogTable:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap, self.topic = bootstrap, topic
        self._data: dict[int, dict[str, WorkflowState]] = {}
        self._staged: dict[int, dict[str, WorkflowState]] = {}
        self._live: dict[int, set[str]] = {}  # unfinished workflows
        self._parked: dict[int, dict[str, int]] = {}  # workflow id -> next attempt (ms)

    def get(self, partition: int, key: str) -> WorkflowState | None:
        staged = self._staged.get(partition, {})
        return staged[key] if key in staged else self._data.get(partition, {}).get(key)

    def put(self, producer: AIOKafkaProducer, partition: int, key: str, value: WorkflowState, raw: bytes | None = None) -> Any:
        """Stage the write: returns the send future. Call inside the partition's transaction.
        `raw`: `value.to_json()` when the caller already has it."""
        self._staged.setdefault(partition, {})[key] = value
        raw, k = raw if raw is not None else value.to_json(), key.encode()
        return producer.send(self.topic, raw, key=k, partition=partition, headers=signed(self.topic, k, raw))

    def commit(self, partition: int) -> None:
        for key, value in self._staged.pop(partition, {}).items():
            self._set(partition, key, value)

    def discard(self, partition: int) -> None:
        self._staged.pop(partition, None)

    def _set(self, partition: int, key: str, value: WorkflowState) -> None:
        self._data.setdefault(partition, {})[key] = value
        live, parked = self._live.setdefault(partition, set()), self._parked.setdefault(partition, {})
        if value.finished:
            live.discard(key)
        else:
            live.add(key)
        if value.parked is not None and not value.finished:
            parked[key] = value.parked.next_attempt_at
        else:
            parked.pop(key, None)

    def due(self, partition: int, now_ms: int, limit: int = 50) -> list[WorkflowState]:
        """Parked workflows of the partition whose next attempt is due (earliest first)."""
        keys = sorted((at, k) for k, at in self._parked.get(partition, {}).items() if at <= now_ms)[:limit]
        return [self._data[partition][k] for _, k in keys]

    def in_flight(self) -> int:
        return sum(len(v) for v in self._live.values())

    def parked_by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p, keys in self._parked.items():
            for k in keys:
                st = self._data[p][k]
                kind = st.parked.kind if st.parked else "?"
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def partitions(self) -> set[int]:
        return set(self._data)

    def drop(self, partitions: set[int]) -> None:
        for p in partitions:
            for d in (self._data, self._staged, self._live, self._parked):
                d.pop(p, None)

    def __len__(self) -> int:
        return sum(len(v) for v in self._data.values())

    async def restore(self, partitions: set[int]) -> int:
        """Read the changelog partitions from the start up to the last stable offset."""
        if not partitions:
            return 0
        consumer = logreader.new_consumer(self.bootstrap)
        await consumer.start()
        restored = refused = 0
        gate = default_admission()
        try:
            tps = [TopicPartition(self.topic, p) for p in partitions]
            _, end = await logreader.bounds(consumer, tps)
            self.drop(partitions)
            latest: dict[int, dict[str, WorkflowState | None]] = {p: {} for p in partitions}
            async for batch in logreader.read_batches(consumer, tps, end=end):
                for tp, msgs in batch.items():
                    for m in msgs:
                        try:  # a state record somebody else wrote is never loaded (zero trust)
                            gate.admit(self.topic, m.key, m.value, m.headers, STATE_TYPE)
                        except Refused as exc:
                            refused += 1
                            log.warning("state record refused", extra={"reason": exc.reason, "partition": tp.partition, "offset": m.offset})
                            continue
                        latest[tp.partition][m.key.decode()] = None if m.value is None else WorkflowState.from_json(m.value)
                        restored += 1
            for p, rows in latest.items():
                self._data[p] = {}
                for key, value in rows.items():
                    if value is not None:
                        self._set(p, key, value)
        finally:
            await consumer.stop()
        log.info("state restored", extra={"partitions": sorted(partitions), "records": restored, "refused": refused})
        return restored
