"""Redis projections of Kafka topics, exactly-once: each batch's writes and the consumed
offsets go to Redis in one MULTI/EXEC, so a restart resumes where the projection really is.

Every instance reads all partitions (no consumer group): projections are idempotent and an
instance can answer "have I caught up with the log as of now?" - the read barrier a validator
needs before it denies for a session or consent it has not seen yet.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.kit.contracts import codec
from services.kit.contracts.keys import projection_offsets_key
from services.kit.messaging import fetch_sessions, logreader
from services.kit.messaging.bus import IDLE_FETCH_WAIT, admitted, update_lag
from services.kit.messaging.retry import PartitionPauser, dependency_of
from services.kit.security import kafka_auth

log = logging.getLogger(__name__)
Apply = Callable[[codec.Decoded, "aioredis.client.Pipeline"], Awaitable[None] | None]


class RedisProjection:
    def __init__(self, *, name: str, service: str, bootstrap: str, redis: aioredis.Redis, topics: list[str],
                 apply: Apply, dlq_producer: AIOKafkaProducer) -> None:
        self.name, self.service, self.redis, self.topics, self.apply = name, service, redis, topics, apply
        self.dlq_producer = dlq_producer
        self.offsets_key = projection_offsets_key(name)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed",
                                         **IDLE_FETCH_WAIT, **kafka_auth.client_args())
        # End offsets are asked on a connection of their own: the broker answers one request per
        # connection at a time, so on the consumer's they waited behind its long poll - up to
        # IDLE_FETCH_WAIT for every /ready probe and read barrier on a quiet log.
        self.offsets = logreader.new_consumer(bootstrap)
        self.positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self.pauser = PartitionPauser(service)

    async def start(self) -> None:
        await fetch_sessions.start(self.consumer)
        tps = [TopicPartition(t, p) for t in self.topics for p in sorted(self.consumer.partitions_for_topic(t) or [])]
        if not tps:
            await self.consumer._client.force_metadata_update()
            tps = [TopicPartition(t, p) for t in self.topics for p in sorted(self.consumer.partitions_for_topic(t) or [])]
        self.consumer.assign(tps)
        await self.offsets.start()
        await logreader.track(self.offsets, self.topics)
        stored = await self.redis.hgetall(self.offsets_key)
        for tp in tps:
            off = stored.get(f"{tp.topic}:{tp.partition}".encode())
            if off is None:
                await self.consumer.seek_to_beginning(tp)
                self.positions[tp] = 0
            else:
                self.consumer.seek(tp, int(off))
                self.positions[tp] = int(off)

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.offsets.stop()

    async def run(self) -> None:
        """Project batch after batch. When Redis (or the broker, for a dead letter) is away the
        batch is not lost and the loop does not exit: the partitions are rewound to the last
        projected offsets and read again after a backoff (`uf_parked_partitions`, /ready)."""
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=500)
            if not batches:
                await self._skip_markers()
                continue
            try:
                await self._project(batches)
            except Exception as exc:
                dependency = dependency_of(exc)
                if dependency is None:
                    raise
                for tp in batches:
                    self.consumer.seek(tp, self.positions[tp])
                    wait = self.pauser.park(tp, self.positions[tp], dependency)
                log.warning("projection waiting for a dependency", extra={"dependency": dependency, "projection": self.name,
                                                                          "error": exc.__class__.__name__})
                await asyncio.sleep(wait)
                continue
            async with self._progress:
                for tp, msgs in batches.items():
                    self.pauser.resumed(tp)
                    self.positions[tp] = msgs[-1].offset + 1
                    update_lag(self.consumer, self.service, tp, self.positions[tp], group=f"projection:{self.name}")
                self._progress.notify_all()

    async def _skip_markers(self) -> None:
        """Move each position up to the consumer's when nothing is waiting to be projected.

        A partition's end offset counts records the consumer never hands out: the commit or
        abort marker after a transactional write, an aborted transaction's records under
        read_committed, a batch emptied by compaction. `positions` advanced only past the last
        record handed out, so a log that ends in a marker was "not caught up" for ever - the
        validator stayed unready and every read barrier ran into its deadline. Called only when
        `getmany` returned nothing, i.e. every record consumed so far has been projected, so the
        consumer's position is safe to adopt (it moves past markers, never past a record it
        has not handed out)."""
        moved = False
        for tp, projected in self.positions.items():
            position = await self.consumer.position(tp)
            if position > projected:
                self.positions[tp], moved = position, True
        if moved:
            async with self._progress:
                self._progress.notify_all()

    async def _project(self, batches: dict[TopicPartition, list]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for tp, msgs in batches.items():
                for msg in msgs:
                    decoded = await admitted(msg, self.dlq_producer, self.service)
                    if decoded is None:
                        continue  # forged, unauthorised or undecodable: parked, never projected
                    result = self.apply(decoded, pipe)
                    if asyncio.iscoroutine(result):
                        await result
                pipe.hset(self.offsets_key, f"{tp.topic}:{tp.partition}", msgs[-1].offset + 1)
            await pipe.execute()

    async def caught_up(self, timeout_s: float) -> bool:
        """Wait until everything in the log *now* is projected (bounded). False on timeout."""
        tps = list(self.positions)
        end = await self.offsets.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        async with self._progress:
            while any(self.positions[tp] < end[tp] for tp in tps):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(self._progress.wait(), remaining)
                except TimeoutError:
                    return False
        return True
