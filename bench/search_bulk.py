"""How fast the search engine indexes audit documents by itself: bulk requests of real documents
(sampled from the live index) into a throw-away index with the replay's settings (refresh off,
async translog), one to eight requests at a time, with the engine's CPU from /proc.

    .venv/bin/python bench/search_bulk.py [--docs 20000]

The ceiling `ufctl audit replay` could reach on this machine if it fed the engine fully
(docs/benchmarks.md, sixth pass). Needs the suite up with some audited events (`make run`).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from opensearchpy.helpers import async_bulk

from bench import proc_cpu
from services.audit.config import AuditSettings
from services.kit.security import search_auth

S = AuditSettings()
SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1", "translog.durability": "async"}


async def run(n: int) -> None:
    es = search_auth.async_client(S.es_url, search_auth.WRITER, request_timeout=60)
    try:
        res = await es.search(index=S.es_index, body={"size": 2000, "query": {"match_all": {}}})
        docs = [h["_source"] for h in res["hits"]["hits"]]
        if not docs:
            raise SystemExit("bench: no audited documents to sample; run `make run` first")
        run_dir = ROOT / "var" / "run"
        for concurrency in (1, 2, 4, 8):
            index = f"{S.es_index}-2099.01-r99{concurrency}"  # a name the audit writer may create and drop
            await es.indices.delete(index=index, ignore=[404])
            await es.indices.create(index=index, body={"settings": SETTINGS})
            actions = [{"_index": index, "_id": str(i), "_source": docs[i % len(docs)]} for i in range(n)]
            step = max(1, n // (concurrency * 4))
            gate = asyncio.Semaphore(concurrency)

            async def one(chunk: list[dict], gate: asyncio.Semaphore = gate) -> None:
                async with gate:
                    await async_bulk(es, chunk, chunk_size=len(chunk), raise_on_error=True)

            before, started = proc_cpu.snapshot(run_dir), time.perf_counter()
            await asyncio.gather(*(one(actions[i:i + step]) for i in range(0, n, step)))
            took, after = time.perf_counter() - started, proc_cpu.snapshot(run_dir)
            engine = after.get("OpenSearch", 0.0) - before.get("OpenSearch", 0.0)
            print(f"{concurrency} request(s) at a time: {n / took:,.0f} docs/s ({took:.2f} s), "
                  f"engine CPU {engine:.2f} s = {engine / took:.2f} cores, {engine * 1e6 / n:.0f} us per document")
            await es.indices.delete(index=index, ignore=[404])
    finally:
        await es.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    asyncio.run(run(parser.parse_args().docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
