"""A quick join: everything a Kafka client can do before it takes partitions, done ahead (the
warm standby of a preview colour, blue-green, ADR 0008), and the positions of newly assigned
partitions read in one request.

Why: a promotion measured 3.2 s without a consumer at load ~8 (timeline recorded by `ufctl
rollout`, docs/benchmarks.md): 0.8 s of it finding the group coordinator and opening a TLS
connection to it before the first JoinGroup, and most of the 1.5 s of the 24 partitions' fence
was each transactional producer finding its transaction coordinator and opening its own TLS
connection to it before its InitProducerId. None of those steps joins a group or fences
anyone, so a preview does them while it waits; a promotion is then JoinGroup/SyncGroup and one
InitProducerId per partition.

Then the first fetch waited 1.5-4.6 s after the assignment: aiokafka 0.14 finds the position of
each newly assigned partition one after the other, one OffsetFetch round trip each (its
fetcher awaits `fetch_committed()` per partition, and the refresh task asks only for the
partitions waiting at that moment) - 96 round trips for the orchestrator's 4 x 24 partitions.
`seek_to_committed` reads them all in one OffsetFetch and seeks.

aiokafka 0.14 has no public call for these steps; the private ones used here are what its own
join, producer start and `committed()` call (`GroupCoordinator.ensure_coordinator_known`,
`GroupCoordinator.fetch_committed_offsets`, `Sender._find_coordinator`), and
tests/unit/test_kafka_warm.py fails if an upgrade removes them. The warm-ups are an
optimisation: the caller logs a failure and the ordinary join or start does the same work later.
"""
from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.client import ConnectionGroup, CoordinationType
from aiokafka.consumer.group_coordinator import GroupCoordinator


async def warm_consumer(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> None:
    """A started, unsubscribed consumer: its group coordinator known, connected (COORDINATION
    connection, TLS done) and the topics' metadata loaded - so `subscribe` sends JoinGroup at
    once and does not force a metadata refresh. Cheap when repeated: it only reconnects what an
    idle timeout closed."""
    client = consumer._client
    wanted = set(topics)
    if wanted - set(client._topics) or not all(client.cluster.partitions_for_topic(t) for t in wanted):
        await client.set_topics(sorted(wanted))
    coordinator = consumer._coordinator
    if not isinstance(coordinator, GroupCoordinator):  # not started, or no group_id: nothing to warm
        return
    await coordinator.ensure_coordinator_known()
    if coordinator.coordinator_id is not None:
        await client.ready(coordinator.coordinator_id, group=ConnectionGroup.COORDINATION)


async def warm_transactional_producer(producer: AIOKafkaProducer, group_id: str = "") -> None:
    """A bootstrapped, not started transactional producer: its transaction coordinator found
    and connected, without InitProducerId (which would fence the current owner of the id), and
    the coordinator of `group_id` (its first `send_offsets_to_transaction` looks it up) found.
    The producer's later `_sender.start()` then sends InitProducerId straight away."""
    sender = producer._sender
    tid = producer._txn_manager.transactional_id if producer._txn_manager else None
    if tid is None:
        return
    node = await sender._find_coordinator(CoordinationType.TRANSACTION, tid)
    await producer.client.ready(node, group=ConnectionGroup.COORDINATION)
    if group_id:
        node = await sender._find_coordinator(CoordinationType.GROUP, group_id)
        await producer.client.ready(node, group=ConnectionGroup.COORDINATION)


async def seek_to_committed(consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition],
                            reset: str = "earliest") -> None:
    """Position every given (assigned) partition at its committed offset, read in one
    OffsetFetch; a partition without one goes to its beginning or end (`reset`, as the
    consumer's `auto_offset_reset`). Call it from `on_partitions_assigned` - in the
    orchestrator after the fence, so the offsets read are the ones the previous owner's last
    transaction left (a fenced transaction is completed or aborted by then)."""
    tps = list(partitions)
    if not tps:
        return
    found = await consumer._coordinator.fetch_committed_offsets(tps)
    missing = []
    for tp in tps:
        meta = found.get(tp)
        if meta is None or meta.offset < 0:
            missing.append(tp)
        else:
            consumer.seek(tp, meta.offset)
    if missing:
        await (consumer.seek_to_beginning(*missing) if reset == "earliest" else consumer.seek_to_end(*missing))
