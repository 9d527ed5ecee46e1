"""What tracing and metrics cost per workflow, in CPU time of the five service processes
(utime + stime from /proc/<pid>/stat), on the running local stack.

    .venv/bin/python bench/telemetry_cost.py [--bursts 5] [--burst 20] [--rounds 2]
    .venv/bin/python bench/telemetry_cost.py --rounds 0     # only the in-process figures (seconds)

Tracing: A/B in the same run. The services are restarted with UF_TRACE_EXPORTER=file (what
`make up` does) and =none, alternately `--rounds` times; each phase runs a warm-up burst and then
`--bursts` bursts of `--burst` workflows, published as ufctl does, and the CPU the five processes used is
divided by the workflows.
Metrics cannot be switched off (every handler records them), so their cost is measured
directly: the instrumentation calls one Kafka hop makes, timed in a loop, times the hops per
workflow; and the CPU the orchestrator process spends per /metrics scrape (300 scrapes), times
the scrapes per second.
Restores the services with the default exporter at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e import request_doc
from services.kit.contracts import topics
from services.kit.runtime import telemetry
from services.kit.runtime.config import ServiceSettings
from services.kit.runtime.paths import VAR
from services.kit.runtime.service_table import SERVICES, http_port
from services.kit.security.subject_keys import RedisKeyStore
from ufctl import publishing, queries

TICK = os.sysconf("SC_CLK_TCK")
SETTINGS = ServiceSettings()


def run_burst(n: int, recipients: int) -> int:
    """Publish n workflows the way ufctl does (signed as the registered publisher, subjects' PII
    sealed), wait until each is terminal; returns how many COMPLETED."""
    tag = uuid.uuid4().hex[:6]
    docs = [request_doc(tag, i, recipients) for i in range(n)]
    keys = RedisKeyStore(SETTINGS.redis_url)
    events = [(topics.SESSIONS, publishing.session_event(f"bench-{tag}", f"sess-bench-{tag}", 2.0))]
    events += [(topics.CONSENT, publishing.consent_event(c["subject_id"], "marketing", True)) for d in docs for c in d["contacts"]]
    events += [(topics.REQUESTS, publishing.request_event(d, keys)) for d in docs]
    asyncio.run(publishing.send_events(SETTINGS.kafka_bootstrap, events))
    pending, completed = {d["workflow_id"] for d in docs}, 0
    deadline = time.monotonic() + 300
    while pending and time.monotonic() < deadline:
        for wf in list(pending):
            try:
                phase = queries.workflow_status(SETTINGS.redis_url, wf)["phase"]
            except Exception:  # not projected yet
                continue
            if phase in ("COMPLETED", "FAILED", "REJECTED", "CANCELLED"):
                pending.discard(wf)
                completed += phase == "COMPLETED"
        time.sleep(0.2)
    return completed


def cpu_ms() -> dict[str, float]:
    """CPU used so far by each service process (the launcher's pid is the service's python)."""
    out = {}
    for name in SERVICES:
        pid = int((VAR / "run" / f"svc-{name}.pid").read_text())
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) * 1000 / TICK  # utime + stime
    return out


def restart(exporter: str) -> None:
    env = {**os.environ, "UF_TRACE_EXPORTER": exporter}
    if exporter == "default":
        env.pop("UF_TRACE_EXPORTER")
    subprocess.run([sys.executable, "-m", "services.launcher", "restart"], cwd=ROOT, env=env, check=True, capture_output=True)


def phase(exporter: str, bursts: int, burst: int, recipients: int) -> dict[str, float]:
    """Workflows in bursts of `burst` (bounded, so a busy machine does not push the validator
    calls past their deadline), CPU counted over all of them."""
    restart(exporter)
    run_burst(5, recipients)  # warm-up: connections, caches, lazy imports
    before = cpu_ms()
    completed = sum(run_burst(burst, recipients) for _ in range(bursts))
    after = cpu_ms()
    workflows = bursts * burst
    if completed != workflows:
        raise SystemExit(f"traces={exporter}: only {completed}/{workflows} COMPLETED")
    used = {n: after[n] - before[n] for n in SERVICES}
    return {**{n: v / workflows for n, v in used.items()}, "total": sum(used.values()) / workflows}


def metrics_micro() -> tuple[float, float, int]:
    """(µs of the metric calls of one handled Kafka record, CPU-ms the orchestrator spends on one
    /metrics scrape, its number of series)."""
    n = 20_000
    started = time.process_time()
    for _ in range(n):
        telemetry.EVENTS.labels("bench", "handle", "WorkflowPhaseChanged", "ok").inc()
        telemetry.HANDLER_SECONDS.labels("bench", "handle").observe(0.003)
        telemetry.CONSUMER_LAG.labels("bench", "g", "uf.workflow.events", "0").set(0)
    per_record_us = (time.process_time() - started) / n * 1e6
    url = f"http://127.0.0.1:{http_port('orchestrator')}/metrics"
    before = cpu_ms()["orchestrator"]
    for _ in range(300):
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read().decode()
    series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
    return per_record_us, (cpu_ms()["orchestrator"] - before) / 300, series


def tracing_micro(n: int = 3000) -> float:
    """µs CPU per consume span in this process: open, attributes, header injection, close and
    its export by the file exporter (flushed every 500 spans, so none is dropped)."""
    import tempfile

    from opentelemetry import trace

    from services.kit.runtime import tracing

    class Record:
        topic, partition, offset, key = "uf.workflow.events", 1, 5, b"wf-bench"
        headers = [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]

    tracing.configure(service="bench", version="0", colour="blue", exporter="file", otlp_endpoint="",
                      trace_file=str(Path(tempfile.mkdtemp()) / "spans.jsonl"))
    started = time.process_time()
    for i in range(n):
        with tracing.consume_span(Record, "bench") as span:
            span.set_attributes({"uf.event_type": "WorkflowPhaseChanged", "uf.workflow_id": "wf-bench"})
            tracing.trace_headers()
        if i % 500 == 499:  # stay under the batch processor's queue (2048): nothing dropped
            trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    return (time.process_time() - started) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20, help="workflows published at once")
    parser.add_argument("--recipients", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"file": [], "none": []}
    if args.rounds == 0:  # the in-process figures only
        per_record_us, scrape_ms, series = metrics_micro()
        span_us = tracing_micro()
        print(f"metrics: {per_record_us:.1f} µs CPU per handled record; one /metrics scrape of the orchestrator "
              f"({series} series) {scrape_ms:.2f} CPU-ms")
        print(f"tracing: {span_us:.0f} µs CPU per consume span (open, attributes, inject, close, file export)")
        return 0
    try:
        for _ in range(args.rounds):
            for exporter in ("file", "none"):
                results[exporter].append(phase(exporter, args.bursts, args.burst, args.recipients))
                r = results[exporter][-1]
                print(f"  traces={exporter:<4} {r['total']:.1f} CPU-ms/workflow  " +
                      " ".join(f"{n}={r[n]:.1f}" for n in SERVICES), flush=True)
        per_record_us, scrape_ms, series = metrics_micro()  # while the orchestrator has its full set of series
    finally:
        restart("default")
    on = statistics.median(r["total"] for r in results["file"])
    off = statistics.median(r["total"] for r in results["none"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.bursts} bursts of {args.burst} workflows x {args.recipients} recipients per phase, {args.rounds} rounds, "
          "median of rounds")
    print(f"CPU-ms per workflow, five services: tracing on (file exporter) {on:.1f}, off {off:.1f}: "
          f"tracing costs {on - off:.1f} ms ({(on - off) / off * 100:.1f} %)")
    print(f"metrics: {per_record_us:.1f} µs CPU per handled record (28 audited records per workflow, "
          f"~{per_record_us * 28 * 3 / 1000:.2f} ms/workflow counting ~3 handlings per record); "
          f"one /metrics scrape of the orchestrator ({series} series) {scrape_ms:.2f} CPU-ms "
          f"(x 5 services every 2 s = {scrape_ms * 5 / 2 / 10:.2f} % of one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
