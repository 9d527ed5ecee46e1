"""OpenTelemetry traces, so that one workflow is one trace across the five services.

Why W3C `traceparent` in Kafka record headers: the workflow's work hops between processes only
through records and gRPC calls, so the context rides on exactly those (record headers here,
gRPC metadata in `grpc_telemetry`). Every consume loop opens a CONSUMER span whose parent is the
span that produced the record, and every record produced inside it carries that span onward.

With `trace_exporter = "none"` nothing is recorded, yet an incoming context is still passed on
unchanged (OpenTelemetry's non-recording spans keep the parent's ids), so a service with tracing
off does not break the chain of the others.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags

_TRACE_HEADERS = ("traceparent", "tracestate")
_tracer = trace.get_tracer("universal-framework")


class JsonLinesSpanExporter(SpanExporter):
    """One JSON document per finished span, appended to a file (a local stand-in for a collector:
    tests and `jq` read it without any tracing backend)."""

    def __init__(self, path: str | Path, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.path, self.max_bytes = Path(path), max_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the exporter
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(span_document(s), separators=(",", ":"), default=str) + "\n" for s in spans)
        with self._lock:
            if self._fh.tell() > self.max_bytes:  # keep one previous generation, bounded on disk
                self._fh.close()
                self.path.replace(self.path.with_name(self.path.name + ".1"))
                self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self._fh.write(lines)
            self._fh.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._fh.close()


def span_document(span: ReadableSpan) -> dict[str, Any]:
    """The fields of `ReadableSpan.to_json()` that matter, built directly (to_json pretty-prints,
    which costs more than the span itself). Ids as 0x-hex like to_json; times in Unix ns."""
    ctx = span.get_span_context()
    return {
        "name": span.name,
        "context": {"trace_id": f"0x{ctx.trace_id:032x}" if ctx else None, "span_id": f"0x{ctx.span_id:016x}" if ctx else None},
        "kind": str(span.kind),
        "parent_id": f"0x{span.parent.span_id:016x}" if span.parent else None,
        "start_time_unix_nano": span.start_time,
        "end_time_unix_nano": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "resource": {"attributes": dict(span.resource.attributes)},
    }


def _exporter(kind: str, otlp_endpoint: str, trace_file: str) -> SpanExporter | None:
    if kind == "none":
        return None
    if kind == "file":
        if not trace_file:
            raise ValueError("UF_TRACE_EXPORTER=file needs UF_TRACE_FILE")
        return JsonLinesSpanExporter(trace_file)
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=otlp_endpoint)
    raise ValueError(f"UF_TRACE_EXPORTER must be none, file or otlp, not {kind!r}")


def configure(*, service: str, version: str, colour: str, exporter: str, otlp_endpoint: str, trace_file: str) -> None:
    """Install the process's tracer provider (once, at service start)."""
    span_exporter = _exporter(exporter, otlp_endpoint, trace_file)
    if span_exporter is None:
        return
    resource = Resource.create({"service.name": service, "service.version": version, "service.namespace": "universal-framework",
                                "uf.colour": colour})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=500))
    trace.set_tracer_provider(provider)


def trace_headers() -> list[tuple[str, bytes]]:
    """Kafka headers carrying the current span's context (empty when there is none)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(k, v.encode()) for k, v in carrier.items()]


def context_from_headers(headers: Sequence[tuple[str, bytes]] | None, key: bytes | None = None) -> Any:
    """The producer's context from `traceparent`; for a record that has none (a publisher
    without tracing), a context derived from the record key, i.e. the workflow id."""
    carrier = {k: v.decode(errors="replace") for k, v in headers or () if k in _TRACE_HEADERS and v is not None}
    if "traceparent" not in carrier and key:
        return trace.set_span_in_context(NonRecordingSpan(key_root(key)))
    return propagate.extract(carrier)


def key_root(key: bytes) -> SpanContext:
    """A remote parent whose ids are a hash of the key. Why: the first record of a workflow is
    read by several consumers (the orchestrator, the audit); without a traceparent each would
    start its own trace, with this they all join the workflow's one trace. The parent itself is
    never exported: it stands for the untraced publisher."""
    digest = hashlib.sha256(b"uf-trace:" + key).digest()
    return SpanContext(trace_id=int.from_bytes(digest[:16], "big") or 1, span_id=int.from_bytes(digest[16:24], "big") or 1,
                       is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))


@contextmanager
def active_span(name: str, **kwargs: Any) -> Iterator[Span]:
    """`start_as_current_span`, but a failure is marked by the exception's type only. Why not
    OpenTelemetry's default (`record_exception`): it formats the whole traceback on every
    exception - three quarters of the CPU of a refused gRPC call, which an attacker can send at
    will - and exports the exception's message, which can carry request data (PII). A status
    the caller already set (a gRPC status code) is kept."""
    with _tracer.start_as_current_span(name, record_exception=False, set_status_on_exception=False, **kwargs) as span:
        try:
            yield span
        except BaseException as exc:
            status = getattr(span, "status", None)  # absent on a non-recording span
            if status is not None and status.status_code is StatusCode.UNSET:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


@contextmanager
def consume_span(msg: Any, handler: str) -> Iterator[Span]:
    """A CONSUMER span for one Kafka record, child of the span that produced it."""
    attributes = {"messaging.system": "kafka", "messaging.destination.name": msg.topic,
                  "messaging.kafka.destination.partition": msg.partition, "messaging.kafka.message.offset": msg.offset,
                  "uf.handler": handler}
    with active_span(f"{msg.topic} process", context=context_from_headers(msg.headers, msg.key),
                     kind=SpanKind.CONSUMER, attributes=attributes) as span:
        yield span
