"""The verifier loads the stored checkpoint copies of every partition while it reads the log:
more partitions than a Redis pool holds connections (redis-py 8: 100) on a default stack. The
load must stay bounded - unbounded, `ufctl dr restore` failed with MaxConnectionsError."""
from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from services.audit.tools.verify import LOAD_CONCURRENCY, load_stored


class CountingStore:
    """Stands in for CheckpointStore: counts how many reads are in flight at once."""

    def __init__(self) -> None:
        self.now = self.peak = 0

    async def _read(self, result):
        self.now += 1
        self.peak = max(self.peak, self.now)
        await asyncio.sleep(0.001)
        self.now -= 1
        return result

    async def redis_checkpoints(self, topic: str, partition: int):
        return await self._read(([], []))

    async def es_checkpoints(self, topic: str, partition: int):
        return await self._read([])


def test_loading_many_partitions_stays_within_the_bound_and_keeps_order():
    store = CountingStore()
    tps = [TopicPartition(f"uf.t{n % 7}", n) for n in range(300)]
    out = asyncio.run(load_stored(store, tps, frozenset()))  # type: ignore[arg-type]
    assert len(out) == 300 and all(cps == [] and problems == [] for cps, problems in out)
    assert 1 < store.peak <= LOAD_CONCURRENCY
