"""Durable per-workflow state: an in-memory table per assigned partition, backed by a compacted
changelog topic that is written in the same Kafka transaction as the outputs and the input
offsets. After a crash the table is restored from the changelog, so state, emitted events and
consumed offsets always agree (exactly-once processing within Kafka).

Writes are *staged* per partition until the partition's transaction commits (`commit`) and
dropped if it aborts (`discard`), so the table never runs ahead of the log. The table also
indexes what the processor's loop needs without a scan: workflows still running (admission
control) and parked workflows by their next attempt time (the durable timer: the parking lives
in the state record itself, so a restarted or new owner of the partition picks it up).

Warm standby (blue-green, ADR 0008): the table remembers, per partition, the changelog offset
its copy has reached (`_next`). A restore then reads only the tail from there, not the whole
log: a preview colour keeps every partition's copy near the log end (`warm`), and a demoted
colour keeps the copy it had while active, so a promotion - or a rollback to it - reads seconds
of changelog. Replaying a tail over a copy gives the same table as a full read: records apply
in log order, the last one per key wins, a tombstone deletes."""
from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata

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
        self._next: dict[int, int] = {}  # changelog offset the partition's copy has reached
        self._written: dict[int, list[asyncio.Future[RecordMetadata]]] = {}  # staged sends' delivery futures
        self._reader: AIOKafkaConsumer | None = None  # kept between reads: a warm copy polls often
        self._reading = asyncio.Lock()

    def get(self, partition: int, key: str) -> WorkflowState | None:
        staged = self._staged.get(partition, {})
        return staged[key] if key in staged else self._data.get(partition, {}).get(key)

    async def put(self, producer: AIOKafkaProducer, partition: int, key: str, value: WorkflowState,
                  raw: bytes | None = None) -> None:
        """Stage the write. Call inside the partition's transaction. `raw`: `value.to_json()`
        when the caller already has it."""
        self._staged.setdefault(partition, {})[key] = value
        raw, k = raw if raw is not None else value.to_json(), key.encode()
        fut = await producer.send(self.topic, raw, key=k, partition=partition, headers=signed(self.topic, k, raw))
        self._written.setdefault(partition, []).append(fut)

    def commit(self, partition: int) -> None:
        """The partition's transaction committed: apply its writes, and move the copy's offset
        past them (this instance owns the partition, so nobody else wrote in between)."""
        for key, value in self._staged.pop(partition, {}).items():
            self._set(partition, key, value)
        for fut in self._written.pop(partition, []):
            if fut.done() and not fut.cancelled() and fut.exception() is None and partition in self._next:
                self._next[partition] = max(self._next[partition], fut.result().offset + 1)

    def discard(self, partition: int) -> None:
        """The transaction did not commit: forget its writes. The copy stays valid up to `_next`
        (if the transaction did commit after all, the next restore reads it from the tail)."""
        self._staged.pop(partition, None)
        self._written.pop(partition, None)

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

    def _delete(self, partition: int, key: str) -> None:
        self._data.get(partition, {}).pop(key, None)
        self._live.get(partition, set()).discard(key)
        self._parked.get(partition, {}).pop(key, None)

    def drop(self, partitions: set[int]) -> None:
        for p in partitions:
            for d in (self._data, self._staged, self._live, self._parked, self._next, self._written):
                d.pop(p, None)

    def warm_partitions(self) -> set[int]:
        """Partitions whose copy has a known changelog offset (a restore reads only the tail)."""
        return set(self._next)

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None

    def __len__(self) -> int:
        return sum(len(v) for v in self._data.values())

    async def restore(self, partitions: set[int], *, quiet: bool = False) -> int:
        """Bring the partitions up to the changelog's last stable offset: from where a warm copy
        stopped, or else (no copy, or the log was truncated past it) from the start."""
        if not partitions:
            return 0
        async with self._reading:
            if self._reader is None:
                self._reader = logreader.new_consumer(self.bootstrap)
                await self._reader.start()
            try:
                return await self._read(self._reader, partitions, quiet)
            except asyncio.CancelledError:
                raise  # the copy is a consistent prefix; the next read re-assigns and seeks
            except BaseException:
                await self._reader.stop()  # a reader that failed is not reused
                self._reader = None
                raise

    async def warm(self, partitions: set[int]) -> int:
        """Keep a standby copy of `partitions` near the log end (a preview instance)."""
        return await self.restore(partitions, quiet=True)

    async def _read(self, consumer: AIOKafkaConsumer, partitions: set[int], quiet: bool) -> int:
        restored = refused = 0
        gate = default_admission()
        tps = [TopicPartition(self.topic, p) for p in partitions]
        first, end = await logreader.bounds(consumer, tps)
        start: dict[TopicPartition, int] = {}
        for tp in tps:
            p, nxt = tp.partition, self._next.get(tp.partition)
            self._staged.pop(p, None)
            self._written.pop(p, None)
            if nxt is not None and p in self._data and first[tp] <= nxt <= end[tp]:
                start[tp] = nxt
            else:
                self.drop({p})
                self._data[p], self._next[p] = {}, first[tp]
                start[tp] = first[tp]
        async for batch in logreader.read_batches(consumer, tps, end=end, start=start):
            for tp, msgs in batch.items():
                for m in msgs:
                    try:  # a state record somebody else wrote is never loaded (zero trust)
                        gate.admit(self.topic, m.key, m.value, m.headers, STATE_TYPE)
                    except Refused as exc:
                        refused += 1
                        log.warning("state record refused", extra={"reason": exc.reason, "partition": tp.partition, "offset": m.offset})
                    else:
                        if m.value is None:
                            self._delete(tp.partition, m.key.decode())
                        else:
                            self._set(tp.partition, m.key.decode(), WorkflowState.from_json(m.value))
                        restored += 1
                    self._next[tp.partition] = m.offset + 1  # the copy is a prefix of the log at every step
        for tp in tps:
            self._next[tp.partition] = end[tp]
        if restored or refused:
            say = log.debug if quiet and not refused else log.info  # a standby's tail reads are routine
            say("state restored", extra={"partitions": sorted(partitions), "records": restored, "refused": refused})
        return restored
