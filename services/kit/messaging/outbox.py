"""Records a consume loop's handlers emit while handling one poll, written together by the loop's
`flush` before the poll's offsets are committed.

Why: records that are written one at a time, each awaited, reach the next consumer one fetch
at a time, and for the orchestrator every fetch is a transaction per partition (a transaction
costs the broker about as much as 20 plain produces: docs/benchmarks.md, seventh pass). Written
together, records for one partition travel in one produce request and arrive in one fetch.

Nothing is lost by waiting: the poll is committed only after `flush` returned, and a failed
flush keeps the records and is retried by the loop with backoff (at-least-once, as before:
consumers dedupe by event id). A record is encoded and signed when it is added, so one its
schema refuses fails the handler that made it (retried, then that input dead-lettered, as
with an awaited write) instead of stalling the flush."""
from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord

from services.kit.messaging.bus import encoded


class PollOutbox:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self._pending: list[tuple[str, tuple[bytes, bytes, list[tuple[str, bytes]]]]] = []

    def add(self, topic: str, record: dict[str, Any]) -> None:
        self._pending.append((topic, encoded(topic, record)))

    def __len__(self) -> int:
        return len(self._pending)

    async def flush(self) -> list[tuple[ConsumerRecord, str]]:
        """The consume loop's `flush`: every record acknowledged (acks=all); none refused."""
        pending, self._pending = self._pending, []
        try:
            # every record handed to the producer before any ack is awaited: one produce request per partition
            await asyncio.gather(*(self.producer.send_and_wait(topic, value, key=key, headers=headers)
                                   for topic, (value, key, headers) in pending))
        except BaseException:
            self._pending = pending + self._pending
            raise
        return []
