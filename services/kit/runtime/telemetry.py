"""Prometheus metrics shared by all services, and the one exposition every /metrics serves.

Every exported sample carries `service`, `colour` and `version` (the identity set once by
`configure`), so a dashboard or a rollback trigger can compare two colours of one service
without any relabelling in Prometheus. Labels never carry PII: only service, handler, event
type, topic, partition, gRPC method and status, outcome and reason *codes*.

Metric names here are a contract with `monitoring/rules/uf.rules.yml` and the dashboards that
`tools/gen_dashboards.py` writes; `tests/unit/test_monitoring.py` fails when a rule or panel
names a metric that no service exports.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# No `<name>_created` series: no rule, dashboard or query reads them, and they were a third of
# the samples every scrape renders (a scrape every 2 s in the local stack, in every service).
disable_created_metrics()

IDENTITY_LABELS = ("service", "colour", "version")
_PLAIN_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")  # names the text format writes unescaped
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10)

# --- RED per Kafka handler (consume loops, the orchestrator's processor) -----------------------
EVENTS = Counter("uf_events_total", "Events handled, by outcome (ok, invalid = dead-lettered bad input, error)",
                 ["service", "handler", "event_type", "outcome"])
HANDLER_SECONDS = Histogram("uf_handler_seconds", "Handler duration", ["service", "handler"], buckets=_LATENCY_BUCKETS)

# --- RED per gRPC method (server side, recorded by services.kit.runtime.grpc_telemetry) -------
GRPC_REQUESTS = Counter("uf_grpc_requests_total", "gRPC calls served, by status code", ["method", "code"])
GRPC_SECONDS = Histogram("uf_grpc_server_seconds", "gRPC call duration on the server", ["method"], buckets=_LATENCY_BUCKETS)

# --- Kafka ------------------------------------------------------------------------------------
DEAD_LETTERS = Counter("uf_dead_letters_total", "Records sent to the dead-letter topic", ["service", "topic", "reason"])
CONSUMER_LAG = Gauge("uf_consumer_lag", "High-water mark minus the group's position", ["service", "group", "topic", "partition"])

# --- compliance ---------------------------------------------------------------------------------
VALIDATION_SECONDS = Histogram(
    "uf_validation_seconds", "Validator round-trip as seen by the caller", ["to_phase", "outcome"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 2),
)
VALIDATOR_DECISIONS = Counter("uf_validator_decisions_total", "Validator decisions; reason = the deciding rule's name",
                              ["to_phase", "decision", "reason"])
PII_FINDINGS = Counter("uf_pii_findings_total", "PII findings by type", ["service", "type"])
LOG_REDACTIONS = Counter("uf_log_redactions_total", "PII found (and redacted) in a log line by the privacy filter, by type",
                         ["type"])
# Back-pressure (issue 10): work that waits for a dependency or a decision, never a verdict.
PARKED_WORKFLOWS = Gauge("uf_parked_workflows", "Workflows parked on a durable timer, waiting out a transient failure; "
                         "kind = undecided | validator-unavailable | dependency", ["kind"])
PARKED_PARTITIONS = Gauge("uf_parked_partitions", "Partitions paused because a dependency is unavailable", ["consumer", "dependency"])
DEPENDENCY_RETRIES = Counter("uf_dependency_retries_total", "Records retried because a dependency was unavailable",
                             ["consumer", "dependency"])
SHED_REQUESTS = Counter("uf_shed_requests_total", "Requests refused with RESOURCE_EXHAUSTED before their deadline")

# --- resources against the configured limit (process_* come from prometheus_client) -----------
MEMORY_LIMIT = Gauge("uf_memory_limit_bytes", "Memory limit of this instance (UF_MEMORY_LIMIT_BYTES)")
CPU_LIMIT = Gauge("uf_cpu_limit_cores", "CPU limit of this instance in cores (UF_CPU_LIMIT_MILLICORES / 1000)")


@dataclass(frozen=True)
class Identity:
    service: str = "unknown"
    colour: str = "unknown"
    version: str = "unknown"


class _IdentityCollector(Collector):
    """The default registry's metrics with the identity labels set on every sample. The identity
    wins: a sample's own label of the same name and a different value is kept as
    `exported_<name>` (Prometheus' own convention), e.g. python_info's Python `version`."""

    def __init__(self) -> None:
        self.identity = Identity()

    def collect(self) -> Iterator[Metric]:
        i = self.identity
        ident = dict(zip(IDENTITY_LABELS, (i.service, i.colour, i.version), strict=True))
        for metric in REGISTRY.collect():
            out = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            out.samples = [Sample(s.name, _stamp(s.labels, ident), s.value, s.timestamp, s.exemplar) for s in metric.samples]
            yield out


def _stamp(labels: dict[str, str], ident: dict[str, str]) -> dict[str, str]:
    out = dict(labels)
    for key, value in ident.items():
        own = out.get(key)
        if own is not None and own != value:
            out[f"exported_{key}"] = own
        out[key] = value
    return out


_EXPOSED = _IdentityCollector()


def configure(identity: Identity, *, memory_limit_bytes: int, cpu_limit_millicores: int) -> None:
    """Stamp this process's identity on every metric and publish its resource limits."""
    _EXPOSED.identity = identity
    _RENDERED.clear()  # rendered label sets carry the identity
    MEMORY_LIMIT.set(memory_limit_bytes)
    CPU_LIMIT.set(cpu_limit_millicores / 1000)


# Sample name + label set (identity stamped) -> its rendered prefix `name{k="v",...} `. A series'
# labels do not change between scrapes, so each is escaped, sorted and formatted once instead of
# at every scrape: prometheus_client's generate_latest spends most of its time there (the audit
# service exposes ~950 series - per-partition lag and checkpoint gauges - every 2 s; issue 11).
_RENDERED: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
_MAX_RENDERED = 50_000  # series come and go (partitions, colours): bounded, rebuilt when full
_OM_SUFFIXES = ("_created", "_gsum", "_gcount")
_TYPES = {"counter": ("_total", "counter"), "info": ("_info", "gauge"), "stateset": ("", "gauge"),
          "gaugehistogram": ("", "histogram"), "unknown": ("", "untyped")}


class _NotPlain(Exception):
    """A sample this fast path does not render (see `exposition`)."""


def _prefix(name: str, labels: dict[str, str], ident: dict[str, str]) -> str:
    key = (name, tuple(labels.items()))
    out = _RENDERED.get(key)
    if out is None:
        if _PLAIN_NAME.fullmatch(name) is None:
            raise _NotPlain(name)
        if len(_RENDERED) >= _MAX_RENDERED:
            _RENDERED.clear()
        # generate_latest renders it: the text stays exactly prometheus_client's
        line = generate_latest(_OneSample(Sample(name, _stamp(labels, ident), 0.0))).decode()
        out = _RENDERED[key] = line.rsplit("\n", 2)[-2].rsplit(" ", 1)[0] + " "
    return out


class _OneSample(Collector):
    def __init__(self, sample: Sample) -> None:
        self.sample = sample

    def collect(self) -> Iterator[Metric]:
        m = Metric(self.sample.name, "", "gauge")
        m.samples = [self.sample]
        yield m


def exposition() -> bytes:
    """The text /metrics serves: byte for byte what `generate_latest(_EXPOSED)` renders
    (tests/unit/test_metrics_exposition.py), with each series' label set rendered once."""
    i = _EXPOSED.identity
    ident = dict(zip(IDENTITY_LABELS, (i.service, i.colour, i.version), strict=True))
    out: list[str] = []
    try:
        for metric in REGISTRY.collect():
            suffix, mtype = _TYPES.get(metric.type, ("", metric.type))
            mname = metric.name + suffix
            if _PLAIN_NAME.fullmatch(mname) is None:
                raise _NotPlain(mname)
            doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
            out.append(f"# HELP {mname} {doc}\n# TYPE {mname} {mtype}\n")
            for s in metric.samples:
                if s.timestamp is not None or s.name[len(metric.name):] in _OM_SUFFIXES:
                    raise _NotPlain(s.name)
                out.append(f"{_prefix(s.name, s.labels, ident)}{floatToGoString(s.value)}\n")
    except _NotPlain:  # not a shape this process exports (timestamps, OpenMetrics-only samples, UTF-8 names)
        return generate_latest(_EXPOSED)  # type: ignore[arg-type,unused-ignore]
    return "".join(out).encode("utf-8")


def exported_names() -> set[str]:
    """Every sample name this process can export (counters as `_total`, histograms as
    `_bucket`/`_sum`/`_count`, ...), for the rules/dashboards contract test."""
    names: set[str] = set()
    for metric in REGISTRY.collect():
        names.add(metric.name)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                    "summary": ("_sum", "_count"), "gauge": ("",), "info": ("_info",)}.get(metric.type, ("",))
        names.update(metric.name + s for s in suffixes)
    return names
