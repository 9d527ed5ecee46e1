"""A rebalance while a batch is being handled takes some of its partitions away. The consume
loop must carry on: no seek, pause, commit or lag read of a partition it no longer holds (aiokafka
raises on each - a lag read killed an orchestrator's consume loop mid-rollout in the third hog
run), and the partitions it still holds are committed as usual."""
from __future__ import annotations

from types import SimpleNamespace

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from services.kit.messaging import bus
from services.kit.messaging.retry import Backoff, PartitionPauser

A, B = TopicPartition("uf.t", 0), TopicPartition("uf.t", 1)


class RebalancingConsumer:
    """Holds A and B; `revoke(B)` is what a rebalance does. Every call on a partition it does
    not hold raises as aiokafka does."""

    def __init__(self) -> None:
        self.held = {A, B}
        self.committed: list[dict[TopicPartition, int]] = []
        self.pending = {A: [SimpleNamespace(topic="uf.t", partition=0, offset=o, key=b"wf-a") for o in (5, 6)],
                        B: [SimpleNamespace(topic="uf.t", partition=1, offset=o, key=b"wf-b") for o in (9,)]}

    def assignment(self) -> set[TopicPartition]:
        return set(self.held)

    def _held(self, tp: TopicPartition) -> None:
        if tp not in self.held:
            raise IllegalStateError(f"No current assignment for partition {tp}")

    async def getmany(self, timeout_ms: int, max_records: int):
        out, self.pending = self.pending, {}
        return out

    def seek(self, tp, offset):
        self._held(tp)

    def pause(self, *tps):
        for tp in tps:
            self._held(tp)

    def resume(self, *tps):
        for tp in tps:
            self._held(tp)

    def highwater(self, tp):
        assert tp in self.held, "Partition is not assigned"
        return 10

    async def commit(self, offsets):
        for tp in offsets:
            self._held(tp)
        self.committed.append(dict(offsets))


async def test_partitions_taken_away_mid_batch_are_left_to_their_new_owner():
    loop = object.__new__(bus.ConsumeLoop)  # no broker, no Kafka identity: only the loop's bookkeeping
    consumer = RebalancingConsumer()
    loop.consumer = consumer  # type: ignore[assignment]
    loop.service, loop.group_id, loop.flush, loop.linger, loop.processed = "t", "g", None, None, 0
    loop.pauser = PartitionPauser("t", Backoff())

    async def handle_one(msg) -> None:
        consumer.held.discard(B)  # the rebalance lands while A's records are handled

    loop.handle_one = handle_one  # type: ignore[method-assign]
    await loop._poll_once()
    assert consumer.committed == [{A: 7}]
    assert loop.processed == 2
