"""A replay indexes several batches at once (FLUSH_DEPTH), but the Redis state and the stored
resume point must still advance in log order: a batch whose documents the engine finished first
does not apply its Redis changes, or store its positions, before the batches ahead of it.
(An interrupted replay resumes from the stored positions; one stored ahead of an unwritten batch
would skip it.)"""
from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from typing import Any

from services.audit.tools import replay as replay_mod
from services.audit.tools.replay import FLUSH_DEPTH, Replayer, _drain


class RecordingPipeline:
    def __init__(self, log: list[str]) -> None:
        self.log, self.ops = log, []

    async def __aenter__(self) -> RecordingPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def sadd(self, key: str, *members: str) -> None:
        self.ops.append(("sadd", members))

    async def execute(self) -> None:
        await asyncio.sleep(0)
        self.log.append(f"redis:{sorted(m for _, ms in self.ops for m in ms)[0]}")


class RecordingRedis:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def pipeline(self, transaction: bool = False) -> RecordingPipeline:
        return RecordingPipeline(self.log)

    async def hset(self, key: str, mapping: dict[str, str]) -> None:
        if "positions" in mapping:
            self.log.append(f"positions:{json.loads(mapping['positions'])['t:0']}")

    async def get(self, key: str) -> bytes:
        return b"token"

    async def expire(self, key: str, ttl: int) -> None:
        return None


async def scenario(monkeypatch: Any, seed: int) -> list[str]:
    rng = random.Random(seed)
    log: list[str] = []

    async def slow_bulk(es: object, actions: list[dict[str, Any]], **kwargs: object) -> tuple[int, list[object]]:
        await asyncio.sleep(rng.random() * 0.02)  # the engine finishes batches in any order
        log.append(f"indexed:{actions[0]['_id']}")
        return len(actions), []

    monkeypatch.setattr(replay_mod, "async_bulk", slow_bulk)
    r = Replayer(bootstrap="unused", redis=RecordingRedis(log), es=object(), alias="a", consumer_group="g")  # type: ignore[arg-type]
    r.token, r.state = "token", {"positions": {}}
    in_flight: deque[asyncio.Task[None]] = deque()
    for batch in range(8):
        while len(in_flight) >= FLUSH_DEPTH:
            await in_flight.popleft()
        in_flight.append(asyncio.ensure_future(r._flush(
            [{"_id": f"b{batch}"}], [], {f"wf{batch}"}, "p:", {"t:0": batch + 1}, after=in_flight[-1] if in_flight else None)))
    await _drain(in_flight)
    return log


def test_redis_state_and_positions_advance_in_log_order(monkeypatch: Any) -> None:
    for seed in range(20):
        log = asyncio.run(scenario(monkeypatch, seed))
        applied = [e for e in log if not e.startswith("indexed:")]
        assert applied == [x for b in range(8) for x in (f"redis:wf{b}", f"positions:{b + 1}")], (seed, log)
        # each batch's Redis changes come after its own documents are indexed
        for b in range(8):
            assert log.index(f"indexed:b{b}") < log.index(f"redis:wf{b}")
    # and the engine did get batches at once: some batch finished indexing out of order
    orders = [[e for e in asyncio.run(scenario(monkeypatch, s)) if e.startswith("indexed:")] for s in range(20)]
    assert any(o != [f"indexed:b{b}" for b in range(8)] for o in orders)
