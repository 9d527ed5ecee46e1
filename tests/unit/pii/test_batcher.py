"""The PII service's batching scanner: each distinct text goes through the engine once."""
from __future__ import annotations

import asyncio

from services.pii.batcher import BatchingScanner
from uf_pii import Finding


class CountingEngine:
    version = "test-1"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def scan_many(self, texts):
        self.texts += list(texts)
        return [[Finding("EMAIL_ADDRESS", 0, len(t), 1.0, "email")] if "@" in t else [] for t in texts]


async def _with_scanner(engine, body, **kw):
    scanner = BatchingScanner(engine, **kw)
    task = asyncio.create_task(scanner.run())
    try:
        return await body(scanner)
    finally:
        task.cancel()
        scanner.close()


def test_identical_texts_are_scanned_once_and_every_caller_gets_its_answer():
    engine = CountingEngine()

    async def body(scanner):
        # two rules of one decision ask about the same emails at the same time
        return await asyncio.gather(scanner.scan(["a@x.example", "plain"]), scanner.scan(["a@x.example", "b@y.example"]))

    first, second = asyncio.run(_with_scanner(engine, body))
    assert sorted(engine.texts) == ["a@x.example", "b@y.example", "plain"]
    assert [len(f) for f in first] == [1, 0] and [f[0].end for f in second] == [11, 11]


def test_a_repeat_is_answered_from_memory_until_it_expires():
    engine = CountingEngine()

    async def body(scanner):
        await scanner.scan(["a@x.example"])
        again = await scanner.scan(["a@x.example", "new"])
        scanner.cache_ttl_s = -1  # everything remembered from now on is already stale
        await scanner.scan(["z@x.example"])
        await scanner.scan(["z@x.example"])
        return again

    again = asyncio.run(_with_scanner(engine, body))
    assert engine.texts == ["a@x.example", "new", "z@x.example", "z@x.example"]
    assert again[0][0].type == "EMAIL_ADDRESS" and again[1] == []


def test_the_memory_is_bounded():
    engine = CountingEngine()

    async def body(scanner):
        for t in ("1", "2", "3", "1"):
            await scanner.scan([t])

    asyncio.run(_with_scanner(engine, body, cache_size=2))
    assert engine.texts == ["1", "2", "3", "1"]  # "1" was dropped first
