"""End-to-end benchmark: N campaign workflows through the whole running suite, and in the same
run the raw aiokafka produce->consume rate for records of the same size, so the suite's figure
is read as a ratio of what Kafka alone does on this machine.

    .venv/bin/python bench/e2e.py [--workflows 200] [--recipients 3] [--profile] [--hog 2]

Prints the CPU time each process of the suite (services, Kafka broker, OpenSearch, Redis,
SMTP sink: every pid file under var/run/) spent per workflow, read from /proc around the run;
the suite is CPU-bound, so CPU-ms per workflow is throughput. `--profile` attaches py-spy to
every service for the run and writes SVG flame graphs to var/profiles/.

Needs the suite up (`make up`, any number of replicas); starts it (and stops it again) when it
is not. Besides speed it checks what a user relies on under load: no phase transition twice in
the committed log, each email delivered once (the SMTP sink's index), nothing dead-lettered.
`--hog N` runs N busy processes at normal priority for the whole burst (a bounded CPU hog: the
machine is busy with other work).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import proc_cpu
from bench.profiling import Profiler
from services.kit.contracts import (
    codec,
    topics,
)
from services.kit.messaging import logreader
from services.kit.messaging.bus import producer_config, publish, signed
from services.kit.runtime.config import ServiceSettings
from services.kit.runtime.paths import VAR
from services.kit.security import kafka_auth, redis_auth
from services.kit.security.signing import configure_signing
from services.kit.security.subject_keys import RedisKeyStore
from ufctl import publishing

# this bench connects to Kafka as the CLI/publisher does (mutual TLS, services/kit/security/kafka_auth.py)
kafka_auth.configure_kafka_identity(os.environ.get("UF_KAFKA_PRINCIPAL") or "ufctl")

BOOTSTRAP = ServiceSettings().kafka_bootstrap


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


async def end_offsets(consumer: AIOKafkaConsumer, names: list[str]) -> dict[TopicPartition, int]:
    _, end = await logreader.bounds(consumer, await logreader.partitions_of(consumer, names))
    return end


async def count_events(before: dict[TopicPartition, int], after: dict[TopicPartition, int], keys: set[str]) -> int:
    """Records (not offsets: transaction markers take offsets too) of these workflows."""
    consumer = logreader.new_consumer(BOOTSTRAP)
    await consumer.start()
    try:
        wanted = {k.encode() for k in keys}
        count = 0
        async for batch in logreader.read_batches(consumer, list(after), end=after, start=before, timeout_s=60):
            count += sum(1 for msgs in batch.values() for m in msgs if m.key in wanted)
        return count
    finally:
        await consumer.stop()


async def send_signed(producer: AIOKafkaProducer, topic: str, event: dict, key: bytes) -> None:
    """Queue one record signed as the registered publisher (zero trust: consumers dead-letter
    unsigned records); `publishing.configure_publisher()` must have run."""
    value = codec.encode(event)
    await producer.send(topic, value, key=key, headers=signed(topic, key, value))


def emails_by_message_id(tag: str) -> dict[str, int]:
    """Messages the SMTP sink received for this run, counted per Message-ID (exactly once = 1)."""
    counts: dict[str, int] = {}
    index = ROOT / "var" / "smtp" / "index.jsonl"
    if index.exists():
        for line in index.read_text().splitlines():
            with contextlib.suppress(ValueError):
                row = json.loads(line)
                if f".{tag}@" in " ".join(row.get("rcpt_tos") or []):
                    counts[row.get("message_id", "")] = counts.get(row.get("message_id", ""), 0) + 1
    return counts


@contextlib.contextmanager
def cpu_hog(processes: int, max_s: float = 3600):
    """N busy processes at normal priority, stopped on exit (and after max_s whatever happens)."""
    code = f"import time\nend = time.monotonic() + {max_s}\nwhile time.monotonic() < end:\n    pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(processes)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def request_doc(tag: str, i: int, recipients: int) -> dict:
    return {
        "workflow_id": f"wf-bench-{tag}-{i}", "session_id": f"sess-bench-{tag}", "requester_id": f"bench-{tag}",
        "purpose": "marketing", "auto_approve": True,
        "campaign": {"name": "Bench", "goal": "announce", "subject": "Bench run", "sender": "bench@shop.example", "variables": {}},
        "contacts": [{"subject_id": f"b-{tag}-{i}-{r}", "email": f"r{r}.w{i}.{tag}@example.com", "name": f"Reader {r}"}
                     for r in range(recipients)],
    }


def step_medians(published_ms: dict[str, float], stamps: dict[str, list[tuple[int, str]]]) -> list[tuple[str, float]]:
    """Where a workflow's latency goes: the median time of each step (publish -> first phase,
    then phase -> next phase, from the records' timestamps), in the order the steps happen.
    Phases committed in one transaction show ~0 ms."""
    steps: dict[str, list[float]] = {}
    for wf, seen in stamps.items():
        if wf not in published_ms:
            continue
        prev_t, prev = published_ms[wf], "publish"
        for t, phase in sorted(seen, key=lambda s: s[0]):  # stable: ties keep log order
            steps.setdefault(f"{prev}->{phase}", []).append(max(0.0, t - prev_t))
            prev_t, prev = t, phase
    return [(name, statistics.median(v)) for name, v in steps.items()]


async def run_suite(n: int, recipients: int, rate: float = 0.0) -> dict:
    """`n` workflows published at once (a burst), or at `rate` workflows/s (steady load: each
    input event then tends to arrive alone, as in production at moderate load)."""
    # The benchmark publishes like ufctl: as a registered publisher whose records are signed
    # (consumers dead-letter unsigned inbox records).
    configure_signing(os.environ.get("UF_PUBLISHER_ID") or "ufctl")
    tag = uuid.uuid4().hex[:6]
    docs = [request_doc(tag, i, recipients) for i in range(n)]
    producer = AIOKafkaProducer(**producer_config(BOOTSTRAP))
    await producer.start()
    saves_before = redis_background_saves()
    cpu_before, jit_before = proc_cpu.snapshot(VAR / "run"), proc_cpu.jit_seconds(VAR / "run")
    await publish(producer, topics.SESSIONS, publishing.session_event(f"bench-{tag}", f"sess-bench-{tag}", 2.0))
    for d in docs:
        for c in d["contacts"]:
            event = publishing.consent_event(c["subject_id"], "marketing", True)
            await send_signed(producer, topics.CONSENT, event, c["subject_id"].encode())
    await producer.flush()

    offsets = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, isolation_level="read_committed", enable_auto_commit=False,
                               **kafka_auth.client_args())
    await offsets.start()
    before = await end_offsets(offsets, topics.audited_topics())
    dlq_before = await end_offsets(offsets, [topics.DEAD_LETTER])
    watcher = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, isolation_level="read_committed", enable_auto_commit=False,
                               **kafka_auth.client_args())
    await watcher.start()
    wf_tps = [tp for tp in before if tp.topic == topics.WORKFLOW_EVENTS]
    watcher.assign(wf_tps)
    for tp in wf_tps:
        watcher.seek(tp, before[tp])

    # sealed at the edge as `ufctl publish` does: the CLI creates the workflow's and the contacts'
    # subject keys (the services' Redis users may only read them)
    keys = RedisKeyStore(ServiceSettings().redis_url)
    events = [publishing.request_event(d, keys) for d in docs]
    sizes = [len(codec.encode(e)) for e in events]
    published: dict[str, float] = {}
    published_ms: dict[str, float] = {}  # wall clock, to compare with the records' timestamps
    stamps: dict[str, list[tuple[int, str]]] = {}  # workflow -> (record timestamp ms, phase entered)
    done: dict[str, tuple[float, str]] = {}
    transitions: dict[tuple[str, str], int] = {}
    started = time.perf_counter()

    async def publish_requests() -> None:
        for i, e in enumerate(events):
            if rate > 0:
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            published[e["envelope"]["workflow_id"]] = time.perf_counter()
            published_ms[e["envelope"]["workflow_id"]] = time.time() * 1000
            await send_signed(producer, topics.REQUESTS, e, e["envelope"]["workflow_id"].encode())
        await producer.flush()

    publishing_task = asyncio.create_task(publish_requests())
    deadline = time.monotonic() + max(120, n * 1.0) + (n / rate if rate > 0 else 0)
    while len(done) < n and time.monotonic() < deadline:
        for msgs in (await watcher.getmany(timeout_ms=200)).values():
            for m in msgs:
                decoded = codec.decode(m.value)
                rec = decoded.record
                wf = rec["envelope"]["workflow_id"]
                if wf not in published or decoded.event_type != "WorkflowPhaseChanged":
                    continue
                transitions[(wf, rec["to_phase"])] = transitions.get((wf, rec["to_phase"]), 0) + 1
                stamps.setdefault(wf, []).append((m.timestamp, rec["to_phase"]))
                if rec["to_phase"] in ("COMPLETED", "FAILED", "REJECTED"):
                    done[wf] = (time.perf_counter(), rec["to_phase"])
    elapsed = time.perf_counter() - started
    await publishing_task
    await asyncio.sleep(1.0)  # let trailing confirmations land before counting
    cpu_after, jit_after = proc_cpu.snapshot(VAR / "run"), proc_cpu.jit_seconds(VAR / "run")
    saves_after = redis_background_saves()
    after = await end_offsets(offsets, topics.audited_topics())
    dlq_after = await end_offsets(offsets, [topics.DEAD_LETTER])
    await offsets.stop()
    await watcher.stop()
    await producer.stop()
    total_events = await count_events(before, after, set(published))
    lat = [done[wf][0] - published[wf] for wf in done] or [0.0]
    emails = emails_by_message_id(tag)
    reasons: dict[str, int] = {}
    for _, phase in done.values():
        reasons[phase] = reasons.get(phase, 0) + 1
    return {
        "tag": tag, "outcomes": reasons, "dead_letter_offsets": sum(dlq_after[tp] - dlq_before.get(tp, 0) for tp in dlq_after),
        "duplicate_transitions": sum(c - 1 for c in transitions.values() if c > 1),
        "emails": sum(emails.values()), "emails_expected": sum(1 for v in done.values() if v[1] == "COMPLETED") * recipients,
        "duplicate_emails": sum(c - 1 for c in emails.values() if c > 1),
        "workflows": n, "finished": len(done), "completed": sum(1 for v in done.values() if v[1] == "COMPLETED"),
        "elapsed_s": elapsed, "workflows_per_s": sum(1 for v in done.values() if v[1] == "COMPLETED") / elapsed, "events": total_events,
        "events_per_s": total_events / elapsed, "p50_ms": pct(lat, 50) * 1000, "p95_ms": pct(lat, 95) * 1000,
        "p99_ms": pct(lat, 99) * 1000, "avg_request_bytes": statistics.mean(sizes),
        "steps_ms": step_medians(published_ms, stamps),
        "cpu_ms_per_workflow": proc_cpu.per_unit_ms(cpu_before, cpu_after, n),
        "jit_ms_per_workflow": proc_cpu.per_unit_ms(jit_before, jit_after, n),
        "cpu_ms_per_event": sum(proc_cpu.per_unit_ms(cpu_before, cpu_after, total_events).values()),
        "redis_saves": saves_note(saves_before, saves_after),
        "cpu_busy": sum(cpu_after[k] - cpu_before[k] for k in cpu_after if k in cpu_before) / (elapsed + 1.0),
    }


async def run_raw(count: int, size: int) -> dict:
    """The same number of records of the same size, produced (acks=all, idempotent, like the
    suite) and consumed by plain aiokafka: what Kafka + client alone do on this machine."""
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    auth = kafka_auth.client_args(kafka_auth.ADMIN)  # its own scratch topic: the admin creates, writes and reads it
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **auth)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 3, 1)])
    producer = AIOKafkaProducer(**producer_config(BOOTSTRAP, **auth))
    consumer = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", **auth)
    await producer.start()
    await consumer.start()
    await consumer.topics()
    consumer.assign([TopicPartition(topic, p) for p in range(3)])
    payload = os.urandom(size)
    try:
        started = time.perf_counter()

        async def produce() -> None:
            for i in range(count):
                await producer.send(topic, payload, key=f"wf-{i % 200}".encode())
            await producer.flush()

        async def consume() -> None:
            seen = 0
            while seen < count:
                for msgs in (await consumer.getmany(timeout_ms=200)).values():
                    seen += len(msgs)

        await asyncio.gather(produce(), consume())
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
    return {"records": count, "elapsed_s": elapsed, "records_per_s": count / elapsed}


def redis_background_saves() -> int:
    """Snapshots (BGSAVE) plus AOF rewrites the stack's Redis has done since it started, or -1
    if it cannot be asked. A run during which this moved carries a fork and a rewrite of the
    whole dataset in Redis's CPU - on a long-lived stack (hundreds of MB) 15-30 CPU-ms per
    workflow of a burst that are the stack's history, not per-workflow work."""
    try:
        client = redis.Redis.from_url(ServiceSettings().redis_url, **redis_auth.credentials("admin"), socket_timeout=5)
        with contextlib.closing(client):
            info = client.info("persistence")
        return int(info.get("rdb_saves", 0)) + int(info.get("aof_rewrites", 0))
    except Exception:
        return -1


def saves_note(before: int, after: int) -> str:
    if before < 0 or after < 0:
        return "Redis background saves during the run: unknown"
    return f"Redis background saves during the run: {after - before}" + (
        " (Redis's CPU above includes a snapshot or AOF rewrite of its whole dataset)" if after > before else "")


def suite_running() -> bool:
    """Every service has a live process. Not `launcher status`'s exit code: that also needs every
    /ready to answer within 3 s, which a service just out of a burst can miss - a bench that then
    took the suite for down started it "again" and stopped the user's stack when it finished."""
    out = subprocess.run([sys.executable, "-m", "services.launcher", "status"], cwd=ROOT, capture_output=True, text=True).stdout
    try:
        status = json.loads(out)
    except ValueError:
        return False
    return bool(status) and all(entry.get("pid") for entry in status.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--recipients", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.0, help="workflows/s, paced (0: all at once, the issue's burst)")
    parser.add_argument("--hog", type=int, default=0, help="busy processes beside the burst (bounded CPU hog)")
    parser.add_argument("--profile", action="store_true", help="py-spy flame graphs of every service into var/profiles/")
    parser.add_argument("--settle-below", type=float, default=250.0,
                        help="first wait (up to 5 min) until the suite uses less than this many CPU-ms/s (leftovers done)")
    parser.add_argument("--warmup", type=int, default=0,
                        help="first run a burst of this many workflows, not counted (JIT warm-up of the JVMs)")
    parser.add_argument("--profile-format", choices=("flamegraph", "raw"), default="flamegraph",
                        help="raw: collapsed stacks (.txt) for bench/profile_top.py")
    args = parser.parse_args()
    was_up = suite_running()
    if not was_up:
        subprocess.run(["make", "up"], cwd=ROOT, check=True)
    if args.warmup:
        warm = asyncio.run(run_suite(args.warmup, args.recipients))
        print(f"warm-up: {warm['completed']}/{args.warmup} COMPLETED, not counted")
    idle = proc_cpu.settle(VAR / "run", below_ms_per_s=args.settle_below)
    profiler = Profiler(VAR / "run", VAR / "profiles", fmt=args.profile_format) if args.profile else None
    try:
        if profiler:
            profiler.start()
        try:
            with cpu_hog(args.hog):
                suite = asyncio.run(run_suite(args.workflows, args.recipients, args.rate))
        finally:
            if profiler:
                for path in profiler.stop():
                    print(f"profile: {path}")
        raw = asyncio.run(run_raw(max(suite["events"], 20_000), int(suite["avg_request_bytes"])))
    finally:
        if not was_up:
            subprocess.run(["make", "down"], cwd=ROOT)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"suite: {suite['finished']}/{suite['workflows']} workflows finished ({suite['completed']} COMPLETED), "
          f"{args.recipients} recipients each, in {suite['elapsed_s']:.2f}s"
          + (f", published at {args.rate:g} workflows/s" if args.rate > 0 else ", published at once"))
    print(f"  {suite['workflows_per_s']:.1f} COMPLETED workflows/s, {suite['events_per_s']:.0f} events/s ({suite['events']} events)")
    print(f"  exactly once: {suite['duplicate_transitions']} duplicate transitions, {suite['emails']} emails for "
          f"{suite['emails_expected']} expected ({suite['duplicate_emails']} duplicates), "
          f"dead-letter topic +{suite['dead_letter_offsets']} offsets; outcomes {suite['outcomes']}; "
          f"CPU hog: {args.hog} busy process(es)")
    print(f"  publish->COMPLETED latency p50 {suite['p50_ms']:.0f} ms, p95 {suite['p95_ms']:.0f} ms, p99 {suite['p99_ms']:.0f} ms")
    print("  median per step (ms): " + ", ".join(f"{name} {ms:.0f}" for name, ms in suite["steps_ms"]))
    print(f"raw aiokafka produce->consume, {raw['records']} records of {int(suite['avg_request_bytes'])} B: "
          f"{raw['records_per_s']:.0f} records/s")
    print(f"ratio suite events/s : raw records/s = {suite['events_per_s'] / raw['records_per_s']:.3f}")
    print("\n".join(proc_cpu.table(suite["cpu_ms_per_workflow"], "workflow")))
    jit = suite["jit_ms_per_workflow"]
    if jit:
        print("  of which JIT compiler threads (JVM warm-up, not per-workflow work): "
              + ", ".join(f"{name} {ms:.1f}" for name, ms in sorted(jit.items())))
    per_wf_events = suite["events"] / max(suite["workflows"], 1)
    print(f"  per committed event: {suite['cpu_ms_per_event']:.2f} CPU-ms ({per_wf_events:.1f} events per workflow in this run; "
          f"comparable between runs that did not all finish); suite idle before the run: {idle:.0f} CPU-ms/s")
    print(f"  {suite['redis_saves']}")
    print(f"  (suite processes used {suite['cpu_busy']:.2f} cores on average during the run; machine load average "
          f"{os.getloadavg()[0]:.1f} at the end)")
    ok = suite["completed"] == suite["workflows"] and not suite["duplicate_transitions"] and not suite["duplicate_emails"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
