"""Durable per-workflow state: an in-memory table per assigned partition, backed by a compacted
changelog topic that is written in the same Kafka transaction as the outputs and the input
offsets. After a crash the table is restored from the changelog, so state, emitted events and
consumed offsets always agree (exactly-once processing within Kafka)."""
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
        self._next: dict[int, int] = {}  # per partition: the changelog offset the copy has reached

    def get(self, partition: int, key: str) -> WorkflowState | None:
        return self._data.get(partition, {}).get(key)

    def put(self, producer: AIOKafkaProducer, partition: int, key: str, value: WorkflowState) -> Any:
        """Stage the write: returns the send future. Call inside the current transaction."""
        self._data.setdefault(partition, {})[key] = value
        raw, k = value.to_json(), key.encode()
        return producer.send(self.topic, raw, key=k, partition=partition, headers=signed(self.topic, k, raw))

    def drop(self, partitions: set[int]) -> None:
        for p in partitions:
            self._data.pop(p, None)
            self._next.pop(p, None)

    def partitions(self) -> list[int]:
        return list(self._data)

    def __len__(self) -> int:
        return sum(len(v) for v in self._data.values())

    async def restore(self, partitions: set[int]) -> int:
        """Bring the partitions up to the last stable offset of the changelog: from where a warm
        copy stopped (a preview instance keeps catching up, see `warm`) or else from the start.
        Replaying the tail over a warm copy gives the same table as a full read (records are
        applied in log order; the last one per key wins)."""
        if not partitions:
            return 0
        consumer = logreader.new_consumer(self.bootstrap)
        await consumer.start()
        restored = refused = 0
        gate = default_admission()
        try:
            tps = [TopicPartition(self.topic, p) for p in partitions]
            first, end = await logreader.bounds(consumer, tps)
            start: dict[TopicPartition, int] = {}
            for tp in tps:
                nxt = self._next.get(tp.partition)
                if tp.partition in self._data and nxt is not None and first[tp] <= nxt <= end[tp]:
                    start[tp] = nxt
                else:
                    self._data[tp.partition] = {}
            async for batch in logreader.read_batches(consumer, tps, end=end, start=start):
                for tp, msgs in batch.items():
                    for m in msgs:
                        try:  # a state record somebody else wrote is never loaded (zero trust)
                            gate.admit(self.topic, m.key, m.value, m.headers, STATE_TYPE)
                        except Refused as exc:
                            refused += 1
                            log.warning("state record refused", extra={"reason": exc.reason, "partition": tp.partition, "offset": m.offset})
                            continue
                        if m.value is None:
                            self._data[tp.partition].pop(m.key.decode(), None)
                        else:
                            self._data[tp.partition][m.key.decode()] = WorkflowState.from_json(m.value)
                        restored += 1
            self._next.update({tp.partition: end[tp] for tp in tps})
        finally:
            await consumer.stop()
        log.info("state restored", extra={"partitions": sorted(partitions), "records": restored, "refused": refused,
                                          "warm": len(start)})
        return restored

    async def warm(self, partitions: set[int]) -> int:
        """Keep a standby copy of the given partitions close to the log (a preview instance), so
        that taking them over reads only the last seconds of the changelog."""
        return await self.restore(partitions)
