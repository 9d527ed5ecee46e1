"""The monitoring contract: the alert rules pass their `promtool test rules` unit tests, every
alert has a test that makes it fire, and every rule and dashboard query parses and names only
metrics the services export.

promtool ships with Debian's `prometheus`, which `make install` / `make test` install."""
from __future__ import annotations

import functools
import importlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from services.kit.runtime import telemetry
from services.kit.runtime.paths import ROOT
from services.kit.runtime.service_table import SERVICES

RULES = ROOT / "monitoring" / "rules" / "uf.rules.yml"
RULE_TESTS = ROOT / "monitoring" / "rules" / "tests" / "uf.rules.test.yml"
PROMETHEUS_OWN = {"up", "ALERTS"}  # series Prometheus makes itself


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing: `make install` (python3 infra/stack.py install prometheus) installs it")
        pytest.skip("promtool not installed (python3 infra/stack.py install prometheus)")
    return path


@functools.cache
def exported_metric_names() -> frozenset[str]:
    """Names the services can export: import every module that defines metrics (found by
    looking for prometheus_client imports), then read the shared registry."""
    for path in (ROOT / "services").rglob("*.py"):
        if "prometheus_client" in path.read_text(encoding="utf-8") and "/rpc/" not in str(path):
            importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return frozenset(telemetry.exported_names())


_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (label matchers, label lists of by/on/..., ranges,
    strings and function names removed). Deliberately simple: our expressions, not all PromQL."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_promtool_rule_unit_tests_pass():
    res = subprocess.run([promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_rules_file_is_valid():
    res = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_alert_has_a_test_that_fires_it():
    alerts = {r["alert"] for r in rules() if "alert" in r}
    fired = {case["alertname"] for t in yaml.safe_load(RULE_TESTS.read_text())["tests"]
             for case in t.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert alerts - fired == set()
    seed_triggers = {"UfHighErrorRate", "UfSlowResponses", "UfMemoryNearLimit", "UfCpuNearLimit"}
    on_call = {"UfConsumerLagGrowing", "UfDeadLetters", "UfAuditCheckpointStale", "UfDenyRateJump", "UfPiiInLogLine"}
    assert seed_triggers | on_call <= alerts


def test_rules_name_only_exported_metrics():
    exported = exported_metric_names() | PROMETHEUS_OWN
    recorded = {r["record"] for r in rules() if "record" in r}
    unknown = {(r.get("alert") or r.get("record")): metric_names(r["expr"]) - exported - recorded for r in rules()}
    assert {k: v for k, v in unknown.items() if v} == {}


def test_every_metric_carries_service_colour_and_version():
    from prometheus_client.parser import text_string_to_metric_families

    telemetry.configure(telemetry.Identity("delivery", "green", "9.9.9"), memory_limit_bytes=1, cpu_limit_millicores=500)
    telemetry.EVENTS.labels("delivery", "h", "E", "ok").inc()
    families = list(text_string_to_metric_families(telemetry.exposition().decode()))
    samples = [s for f in families for s in f.samples]
    assert samples
    assert all({"service", "colour", "version"} <= s.labels.keys() for s in samples)
    assert {s.labels["colour"] for s in samples} == {"green"}
    assert {s.value for s in samples if s.name == "uf_cpu_limit_cores"} == {0.5}
    python_info = next(s for s in samples if s.name == "python_info")  # its own `version` is Python's
    assert python_info.labels["version"] == "9.9.9" and python_info.labels["exported_version"].startswith("3.")


def test_metric_name_extraction():
    expr = 'sum by (service, le) (rate(uf_a_bucket{x="y"}[1m]) or rate(b_total[5m] offset 1h)) / on(instance) up > 2 * c'
    assert metric_names(expr) == {"uf_a_bucket", "b_total", "up", "c"}


def test_promql_names_helper_rejects_an_unknown_metric():
    # the contract test above can fail: a misspelt metric is caught
    assert "uf_evnts_total" in metric_names("rate(uf_evnts_total[1m])") - exported_metric_names()



# --- dashboards (tools/gen_dashboards.py -> monitoring/dashboards/*.json) ---------------------------

DASHBOARDS = ROOT / "monitoring" / "dashboards"
_VARIABLES = {"$__rate_interval": "1m", "$service": "orchestrator", "$colour": ".*"}


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expr) for every query of every panel, variables filled in as
    Grafana would."""
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for var, value in _VARIABLES.items():
                    expr = expr.replace(var, value)
                out.append((path.stem, panel["title"], expr))
    return out


def test_dashboards_are_generated_and_fresh():
    res = subprocess.run([sys.executable, "-m", "tools.gen_dashboards", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    names = {p.stem for p in DASHBOARDS.glob("*.json")}
    assert {"overview", "rollout", *(f"service-{s}" for s in SERVICES)} <= names


def test_every_panel_query_parses(tmp_path):
    queries = panel_queries()
    assert len(queries) > 50
    # promtool parses PromQL offline only inside a rules file: one recording rule per query
    doc = {"groups": [{"name": "dashboard-queries",
                       "rules": [{"record": f"dashboard:query_{i}", "expr": expr} for i, (_, _, expr) in enumerate(queries)]}]}
    rules_file = tmp_path / "dashboard-queries.yml"
    rules_file.write_text(yaml.safe_dump(doc))
    res = subprocess.run([promtool(), "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_check_catches_a_broken_query(tmp_path):
    rules_file = tmp_path / "bad.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "x:y", "expr": "sum by (a (rate(b[1m]))"}]}]}))
    assert subprocess.run([promtool(), "check", "rules", str(rules_file)], capture_output=True, timeout=60).returncode != 0


def test_panels_name_only_exported_metrics():
    exported = exported_metric_names() | PROMETHEUS_OWN
    recorded = {r["record"] for r in rules() if "record" in r}
    unknown = {(d, title): metric_names(expr) - exported - recorded for d, title, expr in panel_queries()}
    assert {k: v for k, v in unknown.items() if v} == {}


def test_dashboards_import_into_a_stock_grafana():
    """What Grafana's file provisioning needs: a uid, a title, panels bound to the `datasource`
    variable whose type is prometheus (the provisioned data source is named Prometheus)."""
    for path in DASHBOARDS.glob("*.json"):
        d = json.loads(path.read_text())
        assert d["uid"] and d["title"] and d["panels"], path
        ds = next(t for t in d["templating"]["list"] if t["name"] == "datasource")
        assert ds["type"] == "datasource" and ds["query"] == "prometheus"
        graphs = [p for p in d["panels"] if p["type"] != "row"]
        assert all(p["datasource"] == "${datasource}" and p["targets"] for p in graphs), path
        assert len({p["id"] for p in d["panels"]}) == len(d["panels"])


def test_pii_in_a_log_line_is_counted_by_type_and_never_labelled_with_the_value(capsys):
    """What the UfPiiInLogLine alert reads: the service's privacy filter counts each redaction."""
    import logging

    from prometheus_client import REGISTRY

    from services.kit.runtime.logs import configure_logging

    def counted() -> dict[str, float]:
        return {s.labels["type"]: s.value for m in REGISTRY.collect() if m.name == "uf_log_redactions" for s in m.samples
                if s.name == "uf_log_redactions_total"}

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("delivery")
        before = counted()
        logging.getLogger("uf.test").warning("sending to %s", "ada.lovelace@example.com")
        after = counted()
    finally:
        root.handlers[:], root.level = saved
    grown = {t: v - before.get(t, 0) for t, v in after.items() if v != before.get(t, 0)}
    assert list(grown.values()) == [1]
    assert "ada.lovelace" not in capsys.readouterr().out
    assert "ada.lovelace" not in telemetry.exposition().decode()


def test_prometheus_configs_are_valid(tmp_path):
    """The local stack's generated config and docker-compose's (the Kubernetes one uses pod
    discovery, which Debian's promtool is built without; k8s checks render it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("uf_stack", ROOT / "infra" / "stack.py")
    assert spec and spec.loader
    stack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stack)
    local = stack.prometheus_config(stack.Config())
    assert "honor_labels: true" in local and str(RULES) in local
    for name, text in {"local.yml": local, "compose.yml": (ROOT / "monitoring/prometheus/compose.yml").read_text()}.items():
        path = tmp_path / name
        path.write_text(text)
        res = subprocess.run([promtool(), "check", "config", "--syntax-only", str(path)], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
