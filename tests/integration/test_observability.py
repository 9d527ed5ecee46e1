"""What an SRE relies on, on the real stack: the stack's Prometheus (started by `infra/stack.py up`)
scrapes every service instance the launcher announced, with service/colour/version on the
series, evaluates the rules file; and one workflow is one OpenTelemetry trace across the five
services (spans read back from the per-service JSON-lines files the launcher configures)."""
from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections import defaultdict
from typing import Any

import pytest

from services import __version__
from services.kit.runtime import scrape_targets
from services.kit.runtime.paths import VAR
from services.kit.runtime.service_table import PROMETHEUS_URL, SERVICES, http_port
from services.kit.runtime.tracing import key_root
from tests.integration import helpers as h
from tests.integration.waiting import NotYet, eventually

pytestmark = pytest.mark.integration
COLOUR = os.environ.get("UF_COLOUR") or "blue"


def query(expr: str) -> list[dict[str, Any]]:
    url = f"{PROMETHEUS_URL}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as resp:
        doc = json.loads(resp.read())
    assert doc["status"] == "success", doc
    return doc["data"]["result"]


def announced() -> dict[str, str]:
    """scrape address -> service, of every instance the launcher announced (file_sd)."""
    out = {}
    for path in scrape_targets.TARGETS_DIR.glob("*.json"):
        for group in json.loads(path.read_text()):
            out.update({t: group["labels"]["service"] for t in group["targets"]})
    return out


def scraped_up() -> dict[str, dict[str, str]]:
    return {r["metric"]["instance"]: r["metric"] for r in query('up{job="uf-services"} == 1')}


def test_prometheus_scrapes_every_service_instance_with_its_identity(suite):
    def all_up() -> dict[str, dict[str, str]]:
        up, expected = scraped_up(), announced()
        if set(up) != set(expected) or {m["service"] for m in up.values()} != set(SERVICES):
            raise NotYet(f"scraped and up: {sorted(up)}, announced: {sorted(expected)}")
        return up

    up = eventually(all_up, timeout_s=60, what="Prometheus scraping every announced instance of the five services")
    for instance, labels in up.items():
        assert labels["service"] == announced()[instance]
        assert (labels["colour"], labels["version"]) == (COLOUR, __version__)
    assert f"127.0.0.1:{http_port('orchestrator')}" in up  # instance 0 on the service table's port

    # the services' own series carry the same identity (honor_labels: the exported labels)
    by_identity = {(r["metric"]["service"], r["metric"]["colour"], r["metric"]["version"])
                   for r in query('count by (service, colour, version) ({job="uf-services", __name__=~"uf_.+"})')}
    assert by_identity == {(name, COLOUR, __version__) for name in SERVICES}
    unlabelled = query('count({job="uf-services", __name__=~"uf_.+|process_.+", colour=""})')
    assert unlabelled == []


def test_a_new_instance_is_scraped_without_touching_prometheus(suite):
    """file_sd: the launcher announces one more delivery instance, Prometheus finds it by itself."""
    before = {i for i, m in scraped_up().items() if m["service"] == "delivery"}
    n = len(before)
    h.launcher("up", "delivery", "--scale", f"delivery={n + 1}")
    try:
        def two() -> set[str]:
            now = {i for i, m in scraped_up().items() if m["service"] == "delivery"}
            if len(now) != len(before) + 1:
                raise NotYet(f"delivery instances up: {sorted(now)}")
            return now - before

        (added,) = eventually(two, timeout_s=60, what="the added delivery instance scraped")
        series = query(f'count by (service, colour, version) ({{instance="{added}", __name__=~"uf_.+"}})')
        assert [(r["metric"]["service"], r["metric"]["colour"], r["metric"]["version"]) for r in series] == [("delivery", COLOUR, __version__)]
    finally:
        h.launcher("up", "delivery", "--scale", f"delivery={n}")  # scaling down stops the added instance
    eventually(lambda: {i for i, m in scraped_up().items() if m["service"] == "delivery"} == before, timeout_s=60,
               what="the stopped instance withdrawn")


def test_prometheus_evaluates_the_trigger_rules_on_live_series(suite):
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf)["phase"] == "COMPLETED"

    def per_service(expr: str) -> set[str]:
        found = {r["metric"]["service"] for r in query(expr)}
        if found != set(SERVICES):
            raise NotYet(f"{expr}: {sorted(found)}")
        return found

    # resource triggers exist for every instance; the error ratio is defined where work was done
    eventually(lambda: per_service("uf:memory_ratio > 0"), timeout_s=60, what="uf:memory_ratio")
    eventually(lambda: per_service("uf:cpu_ratio:rate1m >= 0"), timeout_s=90, what="uf:cpu_ratio:rate1m")
    # the error ratio is defined (0 here) for every service that handled work in the last minute
    ratios = eventually(lambda: {"orchestrator", "validator", "delivery"} <= {r["metric"]["service"] for r in query("uf:error_ratio:rate1m")}
                        and query("uf:error_ratio:rate1m"), timeout_s=90, what="uf:error_ratio:rate1m")
    assert all(r["metric"]["colour"] == COLOUR for r in ratios)
    rules = json.loads(urllib.request.urlopen(f"{PROMETHEUS_URL}/api/v1/rules", timeout=10).read())["data"]["groups"]
    assert all(r["health"] == "ok" for g in rules for r in g["rules"]), [r for g in rules for r in g["rules"] if r["health"] != "ok"]


def _spans() -> list[dict[str, Any]]:
    """Every finished span the services exported, the previous generation of a rotated file
    included; a line still being written (no newline yet) is left for the next look."""
    out = []
    for path in (VAR / "traces").glob("*.jsonl*"):
        text = path.read_text(encoding="utf-8")
        complete = text[: text.rfind("\n") + 1]
        out.extend(json.loads(line) for line in complete.splitlines() if line.strip())
    return out


@pytest.mark.skipif(os.environ.get("UF_TRACE_EXPORTER", "file") != "file", reason="suite exports traces elsewhere (UF_TRACE_EXPORTER)")
def test_one_workflow_is_one_trace_across_the_five_services(suite):
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf)["phase"] == "COMPLETED"

    def trace_of_workflow() -> list[dict[str, Any]]:
        spans = _spans()
        ids = {s["context"]["trace_id"] for s in spans if s["attributes"].get("uf.workflow_id") == wf}
        if len(ids) != 1:
            raise NotYet(f"trace ids of {wf}: {ids}")
        trace = [s for s in spans if s["context"]["trace_id"] in ids]
        services = {s["resource"]["attributes"]["service.name"] for s in trace}
        if services != set(SERVICES):
            raise NotYet(f"services in the trace so far: {sorted(services)}")
        # Every span links up to a span in the trace. A parent span ends (and is exported by its
        # service's batch processor) after its children, so an orphan is only an orphan once the
        # exporters had time to flush: an orphan that stays one fails the test with its name.
        span_ids = {s["context"]["span_id"] for s in trace} | {untraced_publisher}
        orphans = [(s["resource"]["attributes"]["service.name"], s["name"]) for s in trace if s["parent_id"] not in span_ids]
        if orphans:
            raise NotYet(f"spans whose parent is not (yet) in the trace: {orphans}")
        return trace

    # The request was published without a traceparent, so its consumers (orchestrator, audit) hang
    # off the parent derived from the workflow id.
    untraced_publisher = f"0x{key_root(wf.encode()).span_id:016x}"
    trace = eventually(trace_of_workflow, timeout_s=60, what=f"one connected trace for {wf} spanning the five services")
    first = {s["resource"]["attributes"]["service.name"] for s in trace if s["parent_id"] == untraced_publisher}
    assert first == {"orchestrator", "audit"}

    kinds = defaultdict(set)
    for s in trace:
        kinds[s["resource"]["attributes"]["service.name"]].add(s["kind"])
    assert "SpanKind.SERVER" in kinds["validator"] and "SpanKind.SERVER" in kinds["pii"]  # gRPC hops
    assert "SpanKind.CONSUMER" in kinds["delivery"] and "SpanKind.CONSUMER" in kinds["audit"]  # Kafka hops
    assert all(s["resource"]["attributes"]["uf.colour"] == COLOUR for s in trace)
