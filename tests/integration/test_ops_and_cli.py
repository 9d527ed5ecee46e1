"""What SREs and users see: ops endpoints of every service, and ufctl's errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from unittest.mock import ANY

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.kit.runtime.service_table import SERVICES, http_port
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def ufctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ufctl", *args], cwd=h.ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


@pytest.mark.parametrize("name", list(SERVICES))
def test_every_service_serves_health_ready_and_metrics(suite, name):
    base = f"http://127.0.0.1:{http_port(name)}"
    assert get(f"{base}/health")[0] == 200
    status, body = get(f"{base}/ready")
    assert status == 200 and json.loads(body)["ready"] is True
    status, metrics = get(f"{base}/metrics")
    assert status == 200 and "uf_" in metrics


def test_metrics_count_handled_events_and_consumer_lag(suite):
    wf = h.publish(h.campaign())
    h.wait_phase(wf)
    _, metrics = get(f"http://127.0.0.1:{http_port('orchestrator')}/metrics")
    samples = [(s.name, s.labels) for f in text_string_to_metric_families(metrics) for s in f.samples]
    identity = {"service": "orchestrator", "colour": os.environ.get("UF_COLOUR", "blue")}
    assert ("uf_events_total", {**identity, "version": ANY, "event_type": "WorkflowRequested", "handler": "workflow", "outcome": "ok"}) in samples
    assert any(name == "uf_consumer_lag" and labels["group"] for name, labels in samples)
    assert ("uf_validation_seconds_count", {**identity, "version": ANY, "outcome": "allow", "to_phase": "COMPLETED"}) in samples


def test_ufctl_publish_status_review_and_audit_round_trip(suite, tmp_path):
    doc = h.campaign(auto_approve=False)
    path = tmp_path / "req.json"
    path.write_text(json.dumps(doc))
    res = ufctl("publish", str(path))
    assert res.returncode == 0, res.stderr
    wf = res.stdout.strip()
    assert wf == doc["workflow_id"]
    h.wait_phase(wf, "REVIEW")
    assert ufctl("review", "approve", wf).returncode == 0
    status = json.loads(ufctl("status", wf, "--json", "--wait", "30").stdout)
    assert status["phase"] == "COMPLETED" and status["history"][-1]["phase"] == "COMPLETED"
    def searchable_to_the_end() -> list[dict]:  # the trail is searchable within ES's refresh interval
        res = ufctl("audit", "show", wf, "--json")
        timeline = json.loads(res.stdout) if res.returncode == 0 else []
        return timeline if any(e["phase"] == "COMPLETED" for e in timeline) else []

    timeline = eventually(searchable_to_the_end, timeout_s=30, what="the whole timeline searchable")
    assert timeline[0]["event_type"] == "WorkflowRequested"


def test_ufctl_errors_are_one_clear_line(suite, tmp_path):
    res = ufctl("status", "wf-does-not-exist")
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "unknown workflow id" in res.stderr
    assert "unknown workflow id" in ufctl("audit", "show", "wf-does-not-exist").stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = ufctl("publish", str(bad))
    assert res.returncode == 1 and "not valid JSON (line 1" in res.stderr
    res = ufctl("publish", str(tmp_path / "missing.json"))
    assert res.returncode == 1 and "no such file" in res.stderr
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"session_id": "s"}))
    assert "missing field(s)" in ufctl("publish", str(partial)).stderr
    res = ufctl("publish", "examples/campaign.json", env={"UF_KAFKA_BOOTSTRAP": "127.0.0.1:1"})
    assert res.returncode == 1 and "cannot reach Kafka at 127.0.0.1:1" in res.stderr
    assert "Traceback" not in res.stderr


def test_review_of_a_workflow_not_in_review_is_refused(suite):
    wf = h.publish(h.campaign())
    h.wait_phase(wf)
    res = ufctl("review", "approve", wf)
    assert res.returncode == 1 and "not waiting for review" in res.stderr
