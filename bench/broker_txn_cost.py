"""What the Kafka broker spends per orchestrator-style transaction, against plain produces of
the same records - the broker's CPU from `/proc`, on the running stack.

    .venv/bin/python bench/broker_txn_cost.py [--ops 300]

Why: the broker is the largest single cost per workflow (docs/benchmarks.md) and the
orchestrator commits one transaction per input partition per poll (a transactional producer per
partition, the pre-KIP-447 fencing aiokafka allows). At moderate load a poll holds about one
record per partition, so nearly every input event is a transaction of its own. This measures
what that costs the broker, per shape, with the same mutual-TLS connections the suite uses:

* `plain`: one record produced and awaited (acks=all, idempotent), as the validator records a decision;
* `txn x1`: begin, one record, the consumed offset, commit - what the orchestrator does per event today;
* `txn x10`: the same transaction carrying ten records and ten partitions' offsets - what batching
  across partitions (one producer per instance, KIP-447) would make of ten events;
* `txn x2` / `txn x2 flushed`: two records, without and with the records delivered before the
  offsets are added. Without, the broker's transaction check (KIP-890) answers a produce that
  races the AddOffsetsToTxn with NOT_ENOUGH_REPLICAS and aiokafka retries it 100 ms later (the
  "retried" column); the orchestrator flushes first.

Each shape runs `--ops` times; the broker's idle CPU over the same time (measured just before)
is subtracted. A scratch topic `uf.scratch.bench.txn-<random>` (4 partitions) is created and deleted.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import proc_cpu
from services.kit.runtime.config import ServiceSettings
from services.kit.security import kafka_auth

TOPIC = f"uf.scratch.bench.txn-{uuid.uuid4().hex[:8]}"  # a new name per run: a recreated name races its deletion
GROUP = "uf-bench-txn"
RUN = ROOT / "var" / "run"


class _Retries(logging.Handler):
    """Counts aiokafka's "retrying" warnings (a produce the broker refused for now) instead of printing them."""

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            retried.append(record.getMessage())


retried: list[str] = []


def broker_ticks() -> int:
    pid = int((RUN / "kafka.pid").read_text().split()[0])
    return proc_cpu.group_cpu_ticks().get(os.getpgid(pid), 0)


def ms(ticks: int) -> float:
    return ticks * 1000 / proc_cpu.CLK_TCK


async def idle_rate(seconds: float) -> float:
    t0, c0 = time.monotonic(), broker_ticks()
    await asyncio.sleep(seconds)
    return ms(broker_ticks() - c0) / (time.monotonic() - t0)


async def plain(bootstrap: str, ops: int) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=0,
                         **kafka_auth.client_args())
    await p.start()
    try:
        for i in range(ops):
            await p.send_and_wait(TOPIC, b"x" * 1300, key=str(i).encode(), partition=i % 4)
    finally:
        await p.stop()


async def transactions(bootstrap: str, ops: int, records: int, flush_first: bool = False) -> None:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2,
                         transactional_id=f"uf-bench-txn-{uuid.uuid4().hex[:8]}", **kafka_auth.client_args())
    await p.start()
    try:
        for i in range(ops):
            await p.begin_transaction()
            for r in range(records):
                await p.send(TOPIC, b"x" * 1300, key=f"{i}-{r}".encode(), partition=(i + r) % 4)
            if flush_first:
                await p.flush()  # as the orchestrator does: the records delivered before the offsets
            await p.send_offsets_to_transaction({TopicPartition(TOPIC, r % 4): i + 1 for r in range(records)}, GROUP)
            await p.commit_transaction()
    finally:
        await p.stop()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=300)
    args = ap.parse_args()
    kafka_auth.configure_kafka_identity(kafka_auth.ADMIN)  # a super user: scratch topic, any transactional id
    sender = logging.getLogger("aiokafka.producer.sender")
    sender.addHandler(_Retries())
    sender.propagate = False
    bootstrap = ServiceSettings().kafka_bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_auth.client_args())
    await admin.start()
    await admin.create_topics([NewTopic(TOPIC, 4, 1, topic_configs={"min.insync.replicas": "1"})])
    try:
        await plain(bootstrap, 4)  # a new topic refuses writes until its leaders are in sync: not measured
        shapes = (("plain", lambda: plain(bootstrap, args.ops), 1), ("txn x1", lambda: transactions(bootstrap, args.ops, 1), 1),
                  ("txn x10", lambda: transactions(bootstrap, args.ops, 10), 10),
                  ("txn x2", lambda: transactions(bootstrap, args.ops, 2), 2),
                  ("txn x2 flushed", lambda: transactions(bootstrap, args.ops, 2, flush_first=True), 2))
        print(f"broker CPU per operation, {args.ops} operations per shape (broker idle rate subtracted)")
        for name, run, per_op in shapes:
            idle = await idle_rate(5.0)
            retried.clear()
            t0, c0 = time.monotonic(), broker_ticks()
            await run()
            secs, used = time.monotonic() - t0, ms(broker_ticks() - c0)
            net = max(0.0, used - idle * secs)
            print(f"  {name:15s} {net / args.ops:7.3f} CPU-ms per operation, {net / (args.ops * per_op):7.3f} per record, "
                  f"{secs * 1000 / args.ops:5.1f} ms wall per operation, {len(retried)} produce(s) retried "
                  f"({secs:.1f} s, broker {used:.0f} CPU-ms, idle {idle:.0f} CPU-ms/s)")
    finally:
        await admin.delete_topics([TOPIC])
        await admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
