"""What compliance costs. (1) ValidateTransition latency on loopback with the real Redis
look-ups, token check and decision event; (2) the same end-to-end workload with validation on
and with a bypass that exists only in this benchmark (bench/orchestrator_bypass.py), same run.

    .venv/bin/python bench/validation.py [--calls 2000] [--rate 200] [--workflows 100] [--suite-rate 0]

`--suite-rate R` publishes the workflows at R per second instead of all at once: at moderate load
the latency difference between the two runs is what compliance adds to one workflow (in a
burst it is mostly queueing behind the slower run's backlog).

Throughput counts COMPLETED workflows only; a run in which any workflow did not complete is
reported first and no overhead ratio is computed from it. Needs the suite up (`make up`).
Swaps the orchestrator for the bypass and back.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from bench.e2e import run_suite, suite_running
from services.kit.contracts import topics
from services.kit.messaging.bus import producer_config, publish
from services.kit.rpc import validator_pb2, validator_pb2_grpc
from services.kit.runtime import service_table
from services.kit.runtime.config import ServiceSettings
from services.kit.runtime.service_table import http_port
from services.kit.security import jwt_tokens as tokens
from services.kit.security import kafka_auth, tls
from services.kit.security.signing import configure_signing
from ufctl import publishing

# this bench connects to Kafka as the CLI/publisher does (mutual TLS, services/kit/security/kafka_auth.py)
kafka_auth.configure_kafka_identity(os.environ.get("UF_KAFKA_PRINCIPAL") or "ufctl")

BYPASS_COLOUR = "bench-bypass"  # stamped on every event the bypass writes, so audits can tell


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def latency(calls: int, target: str, rate: float) -> dict:
    """`calls` calls one after another, started at `rate` calls/s (0 = back to back)."""
    tag = uuid.uuid4().hex[:6]
    user, session, subjects = f"lat-{tag}", f"sess-lat-{tag}", [f"lat-{tag}-{i}" for i in range(3)]
    configure_signing(os.environ.get("UF_PUBLISHER_ID") or "ufctl")  # consumers refuse unsigned records
    producer = AIOKafkaProducer(**producer_config(ServiceSettings().kafka_bootstrap))
    await producer.start()
    await publish(producer, topics.SESSIONS, publishing.session_event(user, session, 1.0))
    for s in subjects:
        await publish(producer, topics.CONSENT, publishing.consent_event(s, "marketing", True))
    await producer.stop()
    token = tokens.issue(user)
    req = validator_pb2.ValidateTransitionRequest(
        snapshot=validator_pb2.WorkflowSnapshot(workflow_id=f"wf-lat-{tag}", session_id=session, current_phase="",
                                                purpose="marketing", subject_ids=subjects, requester_id=user,
                                                correlation_id=f"wf-lat-{tag}"),
        target_phase=target, actor=validator_pb2.Actor(user_id=user, auth_token=token))
    samples, allowed = [], 0
    async with tls.secure_channel(service_table.grpc_addr("validator"), "orchestrator") as ch:
        stub = validator_pb2_grpc.ValidatorStub(ch)
        for _ in range(50):  # warm-up (projection barrier, connections)
            await stub.ValidateTransition(req, timeout=5)
        started = time.perf_counter()
        for i in range(calls):
            if rate > 0:
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            t = time.perf_counter()
            d = await stub.ValidateTransition(req, timeout=5)
            samples.append((time.perf_counter() - t) * 1000)
            allowed += d.allowed
    return {"calls": calls, "allowed": allowed, "p50": pct(samples, 50), "p99": pct(samples, 99), "mean": statistics.mean(samples)}


async def floors(calls: int, rate: float) -> dict[str, dict]:
    """What no decision can be faster than, measured beside it: (1) the same call refused at the
    door (a workflow that must start with INITIALIZATION: gRPC, mutual TLS, the interceptors and
    the state guard's first check, no rule, no Redis, no Kafka) and (2) a bare acked produce of a
    decision-sized record (acks=all, idempotent, TLS) to a scratch topic - the write every
    decision waits for before it may answer."""
    tag = uuid.uuid4().hex[:6]
    req = validator_pb2.ValidateTransitionRequest(
        snapshot=validator_pb2.WorkflowSnapshot(workflow_id=f"wf-floor-{tag}", current_phase=""), target_phase="BATCH_DISCOVERY")
    door: list[float] = []
    async with tls.secure_channel(service_table.grpc_addr("validator"), "orchestrator") as ch:
        stub = validator_pb2_grpc.ValidatorStub(ch)
        for i in range(50 + calls):
            t = time.perf_counter()
            try:
                await stub.ValidateTransition(req, timeout=5)
                raise SystemExit("bench: the validator answered a made-up state")
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
            if i >= 50:
                door.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(1 / rate if rate else 0)
    kafka_auth.configure_kafka_identity(kafka_auth.ADMIN)  # a super user: the scratch topic
    bootstrap = ServiceSettings().kafka_bootstrap
    topic = f"uf.scratch.bench.floor-{tag}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_auth.client_args())
    await admin.start()
    await admin.create_topics([NewTopic(topic, 4, 1)])
    producer = AIOKafkaProducer(**producer_config(bootstrap, linger_ms=0))
    produce: list[float] = []
    try:
        await producer.start()
        deadline = time.monotonic() + 30
        while True:  # a new topic refuses writes until its leaders are elected: not measured
            try:
                await producer.send_and_wait(topic, b"x", key=b"k")
                break
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        for i in range(calls):
            t = time.perf_counter()
            await producer.send_and_wait(topic, b"x" * 1700, key=str(i).encode())
            produce.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(1 / rate if rate else 0)
    finally:
        await producer.stop()
        await admin.delete_topics([topic])
        await admin.close()
        kafka_auth.configure_kafka_identity(os.environ.get("UF_KAFKA_PRINCIPAL") or "ufctl")
    return {name: {"p50": pct(v, 50), "p99": pct(v, 99)} for name, v in (("door", door), ("produce", produce))}


def validator_breakdown() -> dict[str, tuple[float, float]]:
    """(sum, count) of the validator's own evaluate/record histograms, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port('validator')}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for key, name in (("evaluate", "uf_validator_evaluate_seconds"), ("record", "uf_validator_record_seconds")):
        total = count = 0.0
        for line in text.splitlines():
            if line.startswith(f"{name}_sum"):
                total += float(line.rsplit(" ", 1)[1])
            elif line.startswith(f"{name}_count"):
                count += float(line.rsplit(" ", 1)[1])
        out[key] = (total, count)
    return out


def wait_ready(port: int, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            pass
        time.sleep(0.3)
    raise SystemExit("bench: orchestrator did not become ready")


def launcher(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "services.launcher", *args], cwd=ROOT, check=True, capture_output=True)


def print_latency(init: dict, parts: dict[str, float], rate: float, floor: dict[str, dict]) -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"ValidateTransition -> INITIALIZATION (token + session + consent look-ups + decision event), {init['calls']} calls"
          f" at {rate:.0f}/s:" if rate else f"ValidateTransition -> INITIALIZATION, {init['calls']} calls back to back:")
    print(f"  p50 {init['p50']:.2f} ms, p99 {init['p99']:.2f} ms, mean {init['mean']:.2f} ms ({init['allowed']} allowed)")
    print(f"  inside the validator (means): rules {parts['evaluate']:.2f} ms, recording the decision event {parts['record']:.2f} ms")
    print(f"  floors, same run and rate: the call refused at the door p50 {floor['door']['p50']:.2f} ms, p99 {floor['door']['p99']:.2f} ms;"
          f" a bare acked produce p50 {floor['produce']['p50']:.2f} ms, p99 {floor['produce']['p99']:.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0, help="ValidateTransition calls per second (0: back to back)")
    parser.add_argument("--workflows", type=int, default=100)
    parser.add_argument("--recipients", type=int, default=3)
    parser.add_argument("--suite-rate", type=float, default=0.0,
                        help="workflows/s for the end-to-end runs (0: a burst, all at once)")
    parser.add_argument("--latency-only", action="store_true", help="measure ValidateTransition only (no workflows, no bypass)")
    args = parser.parse_args()
    if not suite_running():
        raise SystemExit("bench: the suite is not up; run `make up` first")
    before = validator_breakdown()
    init = asyncio.run(latency(args.calls, "INITIALIZATION", args.rate))
    after = validator_breakdown()
    parts = {k: (after[k][0] - before[k][0]) / max(1, after[k][1] - before[k][1]) * 1000 for k in after}
    floor = asyncio.run(floors(args.calls, args.rate))
    if args.latency_only:
        print_latency(init, parts, args.rate, floor)
        return 0
    on = asyncio.run(run_suite(args.workflows, args.recipients, args.suite_rate))
    launcher("down", "orchestrator")
    port = http_port("orchestrator")
    log = open(ROOT / "var" / "log" / "orchestrator-bypass.log", "ab")
    bypass_proc = subprocess.Popen([sys.executable, "bench/orchestrator_bypass.py"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "UF_HTTP_PORT": str(port), "UF_COLOUR": BYPASS_COLOUR}, start_new_session=True)
    try:
        wait_ready(port)
        off = asyncio.run(run_suite(args.workflows, args.recipients, args.suite_rate))
    finally:
        os.killpg(bypass_proc.pid, signal.SIGTERM)
        bypass_proc.wait(timeout=30)
        launcher("up", "orchestrator")
    print_latency(init, parts, args.rate, floor)
    pace = f"at {args.suite_rate:g} workflows/s" if args.suite_rate else "published at once"
    print(f"end to end, {args.workflows} workflows x {args.recipients} recipients, {pace} (throughput: COMPLETED only):")
    incomplete = [(name, r) for name, r in (("validation on", on), ("bypass", off)) if r["completed"] < r["workflows"]]
    for name, r in incomplete:  # first: a ratio from such a run would measure failures, not compliance
        print(f"  NOT ALL COMPLETED with {name}: {r['completed']}/{r['workflows']} COMPLETED ({r['finished']} finished)")
    for name, r in (("validation on ", on), ("bypass (bench)", off)):
        print(f"  {name}: {r['workflows_per_s']:.1f} workflows/s, p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms "
              f"({r['completed']}/{r['workflows']} completed), {sum(r['cpu_ms_per_workflow'].values()):.0f} CPU-ms per workflow; "
              f"{r['redis_saves']}")
    if incomplete:
        print("  throughput overhead of compliance: not computed (not every workflow completed)")
        return 1
    overhead = 1 - on["workflows_per_s"] / off["workflows_per_s"]
    cpu_on, cpu_off = (sum(r["cpu_ms_per_workflow"].values()) for r in (on, off))
    if args.suite_rate:  # the pace sets the throughput: only latency and CPU compare
        print(f"  added latency of compliance at {args.suite_rate:g} workflows/s: p50 {on['p50_ms'] - off['p50_ms']:.0f} ms, "
              f"p95 {on['p95_ms'] - off['p95_ms']:.0f} ms, p99 {on['p99_ms'] - off['p99_ms']:.0f} ms; "
              f"CPU overhead {(cpu_on / cpu_off - 1) * 100:.1f} % ({cpu_on:.0f} vs {cpu_off:.0f} CPU-ms per workflow)")
        print("  throughput overhead of compliance: not measured in a paced run (the pace sets it; run a burst)")
        return 0
    print(f"  throughput overhead of compliance: {overhead * 100:.1f} %; added latency p50 {on['p50_ms'] - off['p50_ms']:.0f} ms, "
          f"p99 {on['p99_ms'] - off['p99_ms']:.0f} ms; "
          f"CPU overhead {(cpu_on / cpu_off - 1) * 100:.1f} % ({cpu_on:.0f} vs {cpu_off:.0f} CPU-ms per workflow)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
