"""A checkpoint conflict (another writer attested a partition further) is that partition's
business: it resumes after the other writer's head, and every other due partition is still
attested in the same step. It used to fail the whole step and back off for up to 10 s per
stale partition. And a hand-over the group takes back while it is being positioned neither
raises into aiokafka nor positions anything."""
from __future__ import annotations

import time

from aiokafka import TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.evidence.checkpoint import ZERO, Checkpoint, Entry, build
from services.audit.evidence.hashing import genesis
from services.audit.live import checkpointer
from services.audit.live.checkpoint_store import CheckpointConflict
from services.audit.live.checkpointer import Checkpointer, PartitionState
from services.kit.contracts.events import Origin
from services.kit.security.signing import Signer

SIGNER = Signer("audit", Ed25519PrivateKey.generate())
A, B = TopicPartition("uf.workflow.events", 0), TopicPartition("uf.workflow.events", 1)


def first_checkpoint(tp: TopicPartition, offsets: range) -> Checkpoint:
    return build(topic=tp.topic, partition=tp.partition, seq=0, entries=[Entry(o, 0, bytes(32)) for o in offsets],
                 prev_chain_head=genesis(tp.topic, tp.partition), prev_checkpoint_hash=ZERO, created_at=0, signer=SIGNER)


class Store:
    """Redis's copy as the checkpointer sees it: partition A already has seq 0 from another writer."""

    def __init__(self) -> None:
        self.stored: dict[TopicPartition, list[Checkpoint]] = {A: [first_checkpoint(A, range(0, 5))]}

    async def save_redis(self, cp: Checkpoint) -> None:
        tp = TopicPartition(cp.topic, cp.partition)
        if any(c.seq == cp.seq for c in self.stored.get(tp, [])):
            raise CheckpointConflict("taken")
        self.stored.setdefault(tp, []).append(cp)

    async def head(self, topic: str, partition: int) -> Checkpoint | None:
        cps = self.stored.get(TopicPartition(topic, partition))
        return cps[-1] if cps else None

    async def redis_checkpoints(self, topic: str, partition: int) -> tuple[list[Checkpoint], list[str]]:
        return list(self.stored.get(TopicPartition(topic, partition), [])), []

    async def save_es(self, cp: Checkpoint) -> None:
        pass

    async def mark_published(self, cp: Checkpoint) -> None:
        pass


class Producer:
    async def send_and_wait(self, *args, **kwargs) -> None:
        pass


class Consumer:
    def __init__(self) -> None:
        self.seeks: dict[TopicPartition, int] = {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset

    def assignment(self) -> set[TopicPartition]:
        return {A, B}

    def pause(self, *tps: TopicPartition) -> None:
        pass

    def resume(self, *tps: TopicPartition) -> None:
        pass


async def test_a_conflict_on_one_partition_resumes_it_and_the_others_are_still_attested(monkeypatch):
    monkeypatch.setattr(checkpointer.kafka_auth, "client_args", lambda: {})  # its consumer is replaced below
    store = Store()
    cp = Checkpointer(bootstrap="127.0.0.1:1", store=store, producer=Producer(), signer=SIGNER,  # type: ignore[arg-type]
                      me=Origin("audit", "0", "blue"), checkpoint_topic="uf.audit.checkpoints", every=100, interval_s=0.1)
    await cp.consumer.stop()  # never started: this test drives emit_due with a stand-in
    cp.consumer = Consumer()  # type: ignore[assignment]
    due = time.monotonic() - 60
    for tp in (A, B):  # both think they are at the start, with records due
        cp.states[tp] = PartitionState(chain=genesis(tp.topic, tp.partition),
                                       pending=[Entry(o, 0, bytes(32)) for o in range(3)], first_pending_at=due)
        cp.assigned.add(tp)

    await cp.emit_due()  # no exception: the conflict is A's alone

    assert [c.seq for c in store.stored[B]] == [0], "B attested in the same step"
    assert [c.seq for c in store.stored[A]] == [0], "the other writer's checkpoint of A is not overwritten"
    assert cp.states[A].seq == 1 and cp.states[A].last_offset == 4, "A resumes after the stored head"
    assert cp.consumer.seeks[A] == 5, "A's records after that head are read again"


class LosingConsumer(Consumer):
    """aiokafka's consumer after the subscription changed under a hand-over: it holds nothing
    any more, and positioning a partition it does not hold raises inside aiokafka."""

    def __init__(self) -> None:
        super().__init__()
        self.resumed: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return set()

    def seek(self, tp: TopicPartition, offset: int) -> None:
        raise AssertionError("seek of a partition not held")

    def pause(self, *tps: TopicPartition) -> None:
        if tps:  # aiokafka raises at the first one, leaving the partitions after it unpaused
            raise AssertionError("pause of a partition not held")

    def resume(self, *tps: TopicPartition) -> None:
        if tps:
            raise AssertionError("resume of a partition not held")

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        if tps:
            raise AssertionError("offset reset of a partition not held")


async def test_a_hand_over_whose_assignment_vanished_does_not_raise_and_positions_nothing(monkeypatch):
    """A raising rebalance listener left aiokafka's group stuck for good (found beside a CPU hog):
    the listener must swallow it, and nothing is fetched from an unpositioned partition."""
    monkeypatch.setattr(checkpointer.kafka_auth, "client_args", lambda: {})
    cp = Checkpointer(bootstrap="127.0.0.1:1", store=Store(), producer=Producer(), signer=SIGNER,  # type: ignore[arg-type]
                      me=Origin("audit", "0", "blue"), checkpoint_topic="uf.audit.checkpoints")
    await cp.consumer.stop()
    cp.consumer = LosingConsumer()  # type: ignore[assignment]

    await checkpointer._Handover(cp).on_partitions_assigned([A, B])  # no exception

    assert cp.joined
    assert cp.unresumed == {A, B}, "left paused, to be positioned once held"


class HalfHeldConsumer(Consumer):
    """aiokafka's consumer that still holds A but no longer B: `pause` works partition by partition
    and raises at the first one not held, leaving the ones after it fetching."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, TopicPartition]] = []

    def assignment(self) -> set[TopicPartition]:
        return {A}

    def pause(self, *tps: TopicPartition) -> None:
        for tp in tps:
            if tp not in self.assignment():
                raise AssertionError("No current assignment for partition")
            self.log.append(("pause", tp))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        assert tp in self.assignment(), "seek of a partition not held"
        self.log.append(("seek", tp))

    def resume(self, *tps: TopicPartition) -> None:
        for tp in tps:
            assert tp in self.assignment(), "resume of a partition not held"
            self.log.append(("resume", tp))


async def test_a_held_partition_is_paused_before_it_is_positioned_even_if_another_of_the_hand_over_is_gone(monkeypatch):
    """Otherwise the held one fetches from the reset position (the start of its log) until positioned."""
    monkeypatch.setattr(checkpointer.kafka_auth, "client_args", lambda: {})
    cp = Checkpointer(bootstrap="127.0.0.1:1", store=Store(), producer=Producer(), signer=SIGNER,  # type: ignore[arg-type]
                      me=Origin("audit", "0", "blue"), checkpoint_topic="uf.audit.checkpoints")
    await cp.consumer.stop()
    cp.consumer = consumer = HalfHeldConsumer()  # type: ignore[assignment]

    await checkpointer._Handover(cp).on_partitions_assigned([B, A])

    assert consumer.log[:1] == [("pause", A)], "A is paused first"
    assert ("seek", A) in consumer.log and consumer.log[-1] == ("resume", A), "then positioned after its stored head and resumed"
    assert cp.unresumed == {B}, "B stays waiting until it is held"
