"""Prometheus metrics shared by all services. Labels never carry PII: only service, handler,
event type, topic, partition, outcome and reason *codes*."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("uf_events_total", "Events handled", ["service", "handler", "event_type", "outcome"])
HANDLER_SECONDS = Histogram(
    "uf_handler_seconds", "Handler duration", ["service", "handler"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DEAD_LETTERS = Counter("uf_dead_letters_total", "Records sent to the dead-letter topic", ["service", "topic", "reason"])
CONSUMER_LAG = Gauge("uf_consumer_lag", "High-water mark minus position", ["service", "topic", "partition"])
VALIDATION_SECONDS = Histogram(
    "uf_validation_seconds", "Validator round-trip as seen by the caller", ["to_phase", "outcome"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 2),
)
PII_FINDINGS = Counter("uf_pii_findings_total", "PII findings by type", ["service", "type"])
# Back-pressure (issue 10): work that waits for a dependency or a decision, never a verdict.
PARKED_WORKFLOWS = Gauge("uf_parked_workflows", "Workflows parked in their phase waiting for a decision", ["service", "reason"])
PARKED_PARTITIONS = Gauge("uf_parked_partitions", "Partitions paused because a dependency is unavailable", ["service", "dependency"])
DEPENDENCY_RETRIES = Counter("uf_dependency_retries_total", "Records retried because a dependency was unavailable", ["service", "dependency"])
SHED_REQUESTS = Counter("uf_shed_requests_total", "Requests refused with RESOURCE_EXHAUSTED before their deadline", ["service"])
