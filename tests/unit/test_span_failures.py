"""A failed span names the exception's type and nothing else: no traceback is formatted and no
exception message (which can carry request data) is exported; a status set by the caller (a
gRPC status code) is kept."""
from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from services.kit.runtime import tracing


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("test"))
    return exporter


def test_a_failure_is_marked_by_its_type_without_message_or_traceback(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError), tracing.active_span("work"):
        raise ValueError("alice@example.com is not a valid recipient")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError"
    assert not span.events  # no `exception` event: no message, no stack trace
    assert "alice" not in repr(span.to_json())


def test_a_status_the_caller_set_is_kept(spans: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), tracing.active_span("rpc") as span:
        span.set_status(Status(StatusCode.ERROR, "FAILED_PRECONDITION"))
        raise RuntimeError("aborted")
    (done,) = spans.get_finished_spans()
    assert done.status.description == "FAILED_PRECONDITION"


def test_a_span_that_succeeds_stays_unset(spans: InMemorySpanExporter) -> None:
    with tracing.active_span("work"):
        pass
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET
