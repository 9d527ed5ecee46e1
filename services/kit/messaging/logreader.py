"""Reading partitions from the log, bounded: from given (or the earliest) offsets up to the end
offsets taken when reading starts, with an overall deadline and a stall guard - never a silent
partial read. Shared by the orchestrator's state restore, audit verify/prove/replay/report, the
tests and the benchmarks."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.kit.security import kafka_auth


class ReadIncomplete(Exception):
    """The deadline passed (or the log stopped advancing) before the end offsets were reached."""


# A reader's fetches long-poll at most this long. The broker answers one request per connection
# at a time, so whatever the reader asks next (end offsets, committed offsets) waits behind a
# fetch still held for partitions at their end: at aiokafka's 500 ms that was 0.7-0.8 s of each
# `bounds` call after a read (3 per replay). Readers pause what they have read to the end, so
# they do not poll while idle.
READER_FETCH_WAIT_MS = 50


def new_consumer(bootstrap: str, **overrides: Any) -> AIOKafkaConsumer:
    """A read_committed reader as this process's Kafka principal (or the `ssl_context` given)."""
    if "ssl_context" not in overrides:
        overrides = {**kafka_auth.client_args(), **overrides}
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed",
                            auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
                            fetch_max_bytes=16 * 1024 * 1024, fetch_max_wait_ms=READER_FETCH_WAIT_MS, **overrides)


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    cluster = await consumer._client.fetch_all_metadata()
    found = sorted(TopicPartition(t, p) for t in topics for p in (cluster.partitions_for_topic(t) or ()))
    await track(consumer, {tp.topic for tp in found})
    return found


async def track(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> None:
    """Have the consumer's client know the leaders of `topics` before it is asked their offsets.

    Asked offsets of partitions of topics it does not track, aiokafka learns them one topic per
    round: it adds the first unknown topic, refreshes metadata, backs off (retry_backoff_ms) and
    asks again - ~150 ms a topic, 1.5 s of every verify, replay, report or proof over the ~10
    audited topics. Tracking them all first takes one metadata round."""
    client = consumer._client
    missing = set(topics) - client._topics
    if missing:
        await client.set_topics(client._topics | missing)


async def existing_topics(consumer: AIOKafkaConsumer) -> set[str]:
    return set((await consumer._client.fetch_all_metadata()).topics())


async def bounds(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(log start offsets, end offsets) - end = last stable offset under read_committed."""
    if not tps:
        return {}, {}
    await track(consumer, {tp.topic for tp in tps})
    first, end = await asyncio.gather(consumer.beginning_offsets(tps), consumer.end_offsets(tps))
    return first, end


async def read_batches(consumer: AIOKafkaConsumer, tps: list[TopicPartition], *, end: dict[TopicPartition, int],
                       start: dict[TopicPartition, int] | None = None, timeout_s: float = 600.0,
                       stall_s: float = 15.0, max_records: int = 5000) -> AsyncIterator[dict[TopicPartition, list[ConsumerRecord]]]:
    """Yield batches until every partition's position reaches `end`. Raises ReadIncomplete when
    the deadline or the stall guard trips (never loops forever)."""
    todo = [tp for tp in tps if end.get(tp, 0) > (start or {}).get(tp, 0)]
    if not todo:
        return
    consumer.assign(todo)
    for tp in todo:
        if start and tp in start:
            consumer.seek(tp, start[tp])
        else:
            await consumer.seek_to_beginning(tp)
    deadline = time.monotonic() + timeout_s
    last_progress, last_positions = time.monotonic(), -1
    while True:
        positions = {tp: await consumer.position(tp) for tp in todo}
        pending = [tp for tp in todo if positions[tp] < end[tp]]
        if not pending:
            consumer.pause(*todo)  # read to the end: no more fetches for them (a kept reader idles)
            return
        if sum(positions.values()) != last_positions:
            last_positions, last_progress = sum(positions.values()), time.monotonic()
        now = time.monotonic()
        if now >= deadline or now - last_progress >= stall_s:
            raise ReadIncomplete(f"{len(pending)} partition(s) not read to the end in time")
        done = set(todo) - set(pending)
        if done:
            consumer.pause(*done)
        # Short: a fetch that held only a transaction marker moves the position to `end` but wakes
        # no getmany, which then sat out its whole timeout (0.3-1.5 s of every hand-over's state
        # tail read, docs/benchmarks.md); the positions are checked again after each wait.
        batches = await consumer.getmany(timeout_ms=50, max_records=max_records)
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        for tp, msgs in batches.items():
            keep = [m for m in msgs if m.offset < end[tp]]
            if keep:
                out[tp] = keep
        if out:
            yield out
