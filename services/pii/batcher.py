"""One engine, one worker thread, micro-batches: concurrent scan calls (gRPC and Kafka) are
gathered for a couple of milliseconds and run as one `scan_many`, so spaCy's `nlp.pipe` sees
real batches, the GIL is not fought over by many threads, and the model is only ever used from
one thread."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from uf_pii import Engine, Finding


class BatchingScanner:
    def __init__(self, engine: Engine, *, window_s: float = 0.002, max_texts: int = 512) -> None:
        self.engine, self.window_s, self.max_texts = engine, window_s, max_texts
        self._queue: asyncio.Queue[tuple[list[str], asyncio.Future]] = asyncio.Queue()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pii-engine")

    async def scan(self, texts: list[str]) -> list[list[Finding]]:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((texts, future))
        return await future

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
            try:
                results = await loop.run_in_executor(self._pool, self.engine.scan_many, texts)
            except Exception as exc:  # every caller of this batch gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            i = 0
            for ts, fut in batch:
                if not fut.done():
                    fut.set_result(results[i:i + len(ts)])
                i += len(ts)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
