"""CPU of one /metrics scrape of an audit-sized registry (no servers): prometheus_client's
`generate_latest` over the identity-stamping collector (before issue 11's third pass) vs the
kit's `telemetry.exposition()` (each series' labels rendered once). The registry holds what the
audit service exposes with 9 audited workflow-keyed topics of 24 partitions: per-partition lag,
unattested-record, oldest-unattested and last-checkpoint gauges, plus the kit's own metrics.
CPU time of this process (`time.process_time`), N scrapes each.

    nice .venv/bin/python bench/metrics_exposition.py [N]
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import Gauge, generate_latest

from services.kit.runtime import telemetry


def fill() -> None:
    telemetry.configure(telemetry.Identity("audit", "blue", "1.0"), memory_limit_bytes=1 << 30, cpu_limit_millicores=1000)
    gauges = [Gauge(f"bench_{name}", "bench", ["topic", "partition"])
              for name in ("unattested_records", "oldest_unattested_seconds", "last_checkpoint_timestamp_seconds")]
    for t in range(9):
        for p in range(24):
            telemetry.CONSUMER_LAG.labels("audit", "uf-audit", f"uf.topic.{t}", str(p)).set(p)
            for g in gauges:
                g.labels(f"uf.topic.{t}", str(p)).set(1.5 * p)
    for event_type in ("WorkflowPhaseChanged", "ValidationDecided", "AgentTaskAssigned"):
        telemetry.EVENTS.labels("audit", "project", event_type, "ok").inc()
        telemetry.HANDLER_SECONDS.labels("audit", "project").observe(0.01)


def cpu_ms(render, n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        render()
    return (time.process_time() - started) * 1000 / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    fill()
    body = telemetry.exposition()
    library = cpu_ms(lambda: generate_latest(telemetry._EXPOSED), n)  # type: ignore[arg-type]
    ours = cpu_ms(telemetry.exposition, n)
    print(f"registry: {body.count(b'#' + b' TYPE')} metrics, {len(body.splitlines())} lines, {len(body)} bytes; {n} scrapes each")
    print(f"generate_latest (library, before): {library:.2f} CPU-ms per scrape")
    print(f"telemetry.exposition (after):      {ours:.2f} CPU-ms per scrape ({ours / library:.0%} of before)")
    print(f"at one scrape every 2 s: {library / 2:.1f} -> {ours / 2:.1f} CPU-ms per second")


if __name__ == "__main__":
    main()
