"""Audit replay and verify rates against a plain aiokafka read of the same topics, in one run.

    .venv/bin/python bench/replay.py [--rounds 3] [--no-replay]

Raw read: an AIOKafkaConsumer (read_committed, no group) reading every audited topic from its
first offset to its end offsets, counting records. Verify: `ufctl audit verify` on the same
topics (leaf + content hashes, signature policy, checkpoint checks, diff). Replay: `ufctl audit
replay` without a filter (rebuild to a new generation + swap; it is safe on a live suite). Each
figure is events/s over the records present when the round starts; rounds interleave so machine
noise hits all three alike. Needs the suite up (`make up`).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis

from services.audit.config import AuditSettings
from services.audit.evidence.sigpolicy import load_policy
from services.audit.live.checkpoint_store import CheckpointStore
from services.audit.tools.replay import Replayer
from services.audit.tools.replay_filter import ReplayFilter
from services.audit.tools.verify import verify
from services.kit.contracts import topics
from services.kit.messaging import logreader
from services.kit.security import kafka_auth, redis_auth, search_auth
from services.kit.security.signing import TrustStore

# this bench connects to Kafka as the CLI/publisher does (mutual TLS, services/kit/security/kafka_auth.py)
kafka_auth.configure_kafka_identity(os.environ.get("UF_KAFKA_PRINCIPAL") or "ufctl")

S = AuditSettings()


async def raw_read() -> tuple[int, float]:
    """Plain aiokafka: assign every partition, read to the end offsets taken at the start."""
    from aiokafka import AIOKafkaConsumer

    t0 = time.perf_counter()  # same scope as verify/replay: connect, metadata, read
    c = AIOKafkaConsumer(bootstrap_servers=S.kafka_bootstrap, enable_auto_commit=False, isolation_level="read_committed",
                         max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=16 * 1024 * 1024,
                         **kafka_auth.client_args())
    await c.start()
    try:
        tps = await logreader.partitions_of(c, topics.audited_topics())
        end = await c.end_offsets(tps)
        n = 0
        async for batch in logreader.read_batches(c, tps, end=end, timeout_s=600):
            n += sum(len(v) for v in batch.values())
        return n, time.perf_counter() - t0
    finally:
        await c.stop()


def _redis() -> aioredis.Redis:
    """Like `ufctl audit` (audit_commands._clients): the verifier reads every partition's
    checkpoints concurrently, so connections are queued for, not refused (MaxConnectionsError)."""
    pool = aioredis.BlockingConnectionPool.from_url(S.redis_url, max_connections=32, timeout=120, socket_timeout=10, **redis_auth.credentials())
    return aioredis.Redis(connection_pool=pool)


async def run_verify() -> tuple[int, float]:
    r, es = _redis(), search_auth.async_client(S.es_url, request_timeout=60)
    try:
        t0 = time.perf_counter()
        res = await verify(bootstrap=S.kafka_bootstrap, store=CheckpointStore(r, es, S.checkpoint_index), policy=load_policy(),
                           trust=TrustStore(), topics=topics.audited_topics())
        return res["summary"]["records"], time.perf_counter() - t0
    finally:
        await es.close()
        await r.aclose()


async def run_replay() -> tuple[int, float]:
    r, es = _redis(), search_auth.async_client(S.es_url, search_auth.WRITER, request_timeout=60)
    try:
        t0 = time.perf_counter()
        res = await Replayer(bootstrap=S.kafka_bootstrap, redis=r, es=es, alias=S.es_index,
                             consumer_group=S.consumer_group).run(ReplayFilter())
        return res["records_read"], time.perf_counter() - t0
    finally:
        await es.close()
        await r.aclose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-replay", action="store_true", help="only raw read and verify (read-only)")
    args = ap.parse_args()
    rates: dict[str, list[float]] = {"raw read": [], "verify": [], "replay": []}
    counts: dict[str, int] = {}
    for i in range(args.rounds):
        for name, fn in (("raw read", raw_read), ("verify", run_verify), ("replay", run_replay)):
            if name == "replay" and args.no_replay:
                continue
            n, secs = asyncio.run(fn())
            rates[name].append(n / secs)
            counts[name] = n
            print(f"round {i + 1} {name:<8} {n} records in {secs:.2f}s = {n / secs:,.0f} events/s", file=sys.stderr)
    raw = statistics.median(rates["raw read"])
    print(f"\nmachine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print(f"median of {args.rounds} rounds; records per round ~{counts.get('raw read', 0)}\n")
    print("| what | events/s (median) | vs raw read | target |")
    print("|---|---:|---:|---:|")
    for name, target in (("raw read", ""), ("verify", ">= 80 %"), ("replay", ">= 50 %")):
        if rates[name]:
            med = statistics.median(rates[name])
            print(f"| {name} | {med:,.0f} | {med / raw * 100:.0f} % | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
