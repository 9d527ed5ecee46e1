"""/metrics renders each series' labels once (issue 11); what it serves must stay exactly what
prometheus_client's own renderer writes for the same registry, or Prometheus, the rules and the
rollout analysis would read something else."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info, generate_latest

from services.kit.runtime import telemetry

_COUNTER = Counter("uf_test_exposition_total", "Odd help: back\\slash and\nnewline", ["topic", "reason"])
_GAUGE = Gauge("uf_test_exposition_lag", "A per-partition gauge", ["topic", "partition", "version"])
_HIST = Histogram("uf_test_exposition_seconds", "A histogram", ["handler"], buckets=(0.001, 0.5, 2))
_INFO = Info("uf_test_exposition_build", "An info metric")


_MOVING = (b"process_", b"python_gc_")  # the process's own CPU, memory and GC counts move between two reads


def _steady(body: bytes) -> list[bytes]:
    return [line for line in body.split(b"\n") if not line.lstrip(b"# HELPTYE").startswith(_MOVING)]


def _same_as_library() -> bool:
    ours = telemetry.exposition()
    return _steady(ours) == _steady(generate_latest(telemetry._EXPOSED))  # type: ignore[arg-type]


def test_exposition_is_byte_for_byte_the_library_rendering() -> None:
    telemetry.configure(telemetry.Identity("audit", "blue", "1.2.3"), memory_limit_bytes=512, cpu_limit_millicores=500)
    _COUNTER.labels('uf.q"uote', "back\\slash\nnl").inc(3)
    _GAUGE.labels("uf.workflow.events", "7", "own-version").set(1.5e-7)
    _GAUGE.labels("uf.workflow.events", "8", "1.2.3").set(float("inf"))
    _HIST.labels("project").observe(0.2)
    _INFO.info({"commit": "abc"})
    assert _same_as_library()
    _GAUGE.labels("uf.workflow.events", "7", "own-version").set(42)  # cached label sets, new values
    _HIST.labels("project").observe(3)
    assert _same_as_library()
    assert b'uf_test_exposition_lag{colour="blue",exported_version="own-version",partition="7",service="audit",' \
           b'topic="uf.workflow.events",version="1.2.3"} 42.0' in telemetry.exposition()


def test_a_new_identity_is_stamped_on_already_rendered_series() -> None:
    _GAUGE.labels("uf.agent.tasks", "1", "x").set(1)
    telemetry.configure(telemetry.Identity("audit", "blue", "1"), memory_limit_bytes=512, cpu_limit_millicores=500)
    telemetry.exposition()
    telemetry.configure(telemetry.Identity("audit", "green", "2"), memory_limit_bytes=512, cpu_limit_millicores=500)
    assert _same_as_library()
    body = telemetry.exposition()
    assert b'colour="green"' in body and b'colour="blue"' not in body
