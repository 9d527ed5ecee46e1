"""One engine, one worker thread, micro-batches: concurrent scan calls (gRPC and Kafka) are
gathered for a couple of milliseconds and run as one `scan_many`, so spaCy's `nlp.pipe` sees
real batches, the GIL is not fought over by many threads, and the model is only ever used from
one thread.

Each distinct text is scanned once: identical texts within a batch are scanned once (the
validator's REVIEW decision runs two rules over the same generated emails, concurrently), and
results are remembered for a while (bounded, oldest first, `cache_ttl_s`) under the SHA-256 of
the text and the engine version - the engine is deterministic, so a repeat gets the same
findings without the NER pipeline (the largest cost of the service). Only digests, types and
offsets are kept, never a text."""
from __future__ import annotations

import asyncio
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

from uf_pii import Engine, Finding


class BatchingScanner:
    def __init__(self, engine: Engine, *, window_s: float = 0.002, max_texts: int = 512,
                 cache_size: int = 4096, cache_ttl_s: float = 600.0) -> None:
        self.engine, self.window_s, self.max_texts = engine, window_s, max_texts
        self._queue: asyncio.Queue[tuple[list[str], asyncio.Future]] = asyncio.Queue()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pii-engine")
        self.cache_size, self.cache_ttl_s = cache_size, cache_ttl_s
        self._cache: dict[bytes, tuple[float, tuple[Finding, ...]]] = {}
        self.scanned = 0  # texts that went through the engine (tests, metrics)

    def _key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.engine.version}\x00{text}".encode()).digest()

    def _cached(self, text: str) -> list[Finding] | None:
        entry = self._cache.get(self._key(text))
        if entry is None or entry[0] < time.monotonic():
            return None
        return list(entry[1])

    def _remember(self, text: str, findings: list[Finding]) -> None:
        self._cache[self._key(text)] = (time.monotonic() + self.cache_ttl_s, tuple(findings))
        while len(self._cache) > self.cache_size:
            del self._cache[next(iter(self._cache))]

    async def scan(self, texts: list[str]) -> list[list[Finding]]:
        hits = [self._cached(t) for t in texts]
        missing = [t for t, h in zip(texts, hits, strict=True) if h is None]
        if missing:
            future: asyncio.Future = asyncio.get_running_loop().create_future()
            await self._queue.put((missing, future))
            scanned = iter(await future)
            hits = [h if h is not None else next(scanned) for h in hits]
        return [h for h in hits if h is not None]

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.window_s
            while sum(len(t) for t, _ in batch) < self.max_texts:
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), max(0.0, deadline - loop.time())))
                except TimeoutError:
                    break
            texts = [t for ts, _ in batch for t in ts]
            unique = list(dict.fromkeys(texts))
            try:
                found = await loop.run_in_executor(self._pool, self.engine.scan_many, unique)
            except Exception as exc:  # every caller of this batch gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.scanned += len(unique)
            by_text = dict(zip(unique, found, strict=True))
            for t, fs in by_text.items():
                self._remember(t, fs)
            results = [list(by_text[t]) for t in texts]
            i = 0
            for ts, fut in batch:
                if not fut.done():
                    fut.set_result(results[i:i + len(ts)])
                i += len(ts)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
