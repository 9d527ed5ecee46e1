"""What tracing and metrics cost per workflow, in CPU time of the five service processes
(utime + stime from /proc/<pid>/stat), on the running local stack.

    .venv/bin/python bench/telemetry_cost.py [--bursts 5] [--burst 20] [--rounds 2]

Tracing: A/B in the same run. The services are restarted with UF_TRACE_EXPORTER=file (what
`make up` does) and =none, alternately `--rounds` times; each phase runs a warm-up burst and then
`--bursts` bursts of `--burst` workflows through bench/e2e.py's driver, and the CPU the five processes used is
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e import run_suite
from services.kit.runtime import telemetry
from services.kit.runtime.paths import VAR
from services.kit.runtime.service_table import SERVICES, http_port

TICK = os.sysconf("SC_CLK_TCK")


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
    asyncio.run(run_suite(5, recipients))  # warm-up: connections, caches, lazy imports
    before = cpu_ms()
    results = [asyncio.run(run_suite(burst, recipients)) for _ in range(bursts)]
    after = cpu_ms()
    workflows = bursts * burst
    completed = sum(r["completed"] for r in results)
    if completed != workflows:
        raise SystemExit(f"traces={exporter}: only {completed}/{workflows} COMPLETED")
    used = {n: after[n] - before[n] for n in SERVICES}
    return {**{n: v / workflows for n, v in used.items()}, "total": sum(used.values()) / workflows,
            "events": sum(r["events"] for r in results) / workflows}


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--burst", type=int, default=20, help="workflows published at once")
    parser.add_argument("--recipients", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"file": [], "none": []}
    if args.rounds == 0:  # metrics figures only
        per_record_us, scrape_ms, series = metrics_micro()
        print(f"metrics: {per_record_us:.1f} µs CPU per handled record; one /metrics scrape of the orchestrator "
              f"({series} series) {scrape_ms:.2f} CPU-ms")
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
    events = statistics.median(r["events"] for r in results["file"])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.bursts} bursts of {args.burst} workflows x {args.recipients} recipients per phase, {args.rounds} rounds, "
          "median of rounds")
    print(f"CPU-ms per workflow, five services: tracing on (file exporter) {on:.1f}, off {off:.1f}: "
          f"tracing costs {on - off:.1f} ms ({(on - off) / off * 100:.1f} %)")
    print(f"metrics: {per_record_us:.1f} µs CPU per handled record ({events:.0f} audited records per workflow, "
          f"~{per_record_us * events * 3 / 1000:.2f} ms/workflow counting ~3 handlings per record); "
          f"one /metrics scrape of the orchestrator ({series} series) {scrape_ms:.2f} CPU-ms "
          f"(x 5 services every 2 s = {scrape_ms * 5 / 2 / 10:.2f} % of one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
