"""Generate the Grafana dashboards in `monitoring/dashboards/` with grafanalib (`make dashboards`).

Why generated: the panels are PromQL over metric names that live in
`services/kit/runtime/telemetry.py`; writing them as code keeps the five service dashboards
alike, and `tests/unit/test_dashboards.py` checks every query parses (promtool) and names only
metrics the services export. It also writes the ConfigMaps of k8s/components/monitoring.
`--check` fails when anything committed is stale.

Dashboards: `uf-overview` (the suite at a glance), `uf-service-<name>` (one per service, RED per
handler and gRPC method, lag, dead letters, resources, plus what is special to the service) and
`uf-rollout` (one service's colours side by side on the rollback triggers).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

import yaml
from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard, GridPos, RowPanel, Target, Template, Templating, Time, TimeSeries

from services.kit.runtime.paths import ROOT
from services.kit.runtime.service_table import SERVICES

OUT = ROOT / "monitoring" / "dashboards"
K8S_OUT = ROOT / "k8s" / "components" / "monitoring" / "configmaps.yaml"
DS = "${datasource}"
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    title: str
    queries: list[tuple[str, str]]  # (expr, legend)
    unit: str = "short"
    description: str = ""
    max: float | None = None


@dataclass
class Section:
    title: str
    panels: list[Panel] = field(default_factory=list)


def _sel(**labels: str) -> str:
    return "{" + ", ".join(f'{k}=~"{v}"' for k, v in labels.items()) + "}"


def red_panels(s: str) -> list[Panel]:
    """Rate, errors and duration of the Kafka handlers and gRPC methods of the selected service(s)."""
    return [
        Panel("Events handled / s by handler and outcome",
              [(f"sum by (service, handler, outcome) (rate(uf_events_total{s}[{RATE}]))", "{{service}} {{handler}} {{outcome}}")],
              "ops"),
        Panel("Handler duration p50 / p99",
              [(f"histogram_quantile(0.5, sum by (service, handler, le) (rate(uf_handler_seconds_bucket{s}[{RATE}])))", "p50 {{handler}}"),
               (f"histogram_quantile(0.99, sum by (service, handler, le) (rate(uf_handler_seconds_bucket{s}[{RATE}])))", "p99 {{handler}}")],
              "s"),
        Panel("gRPC calls / s by method and code",
              [(f"sum by (service, method, code) (rate(uf_grpc_requests_total{s}[{RATE}]))", "{{method}} {{code}}")], "reqps"),
        Panel("gRPC server duration p50 / p99",
              [(f"histogram_quantile(0.5, sum by (service, method, le) (rate(uf_grpc_server_seconds_bucket{s}[{RATE}])))", "p50 {{method}}"),
               (f"histogram_quantile(0.99, sum by (service, method, le) (rate(uf_grpc_server_seconds_bucket{s}[{RATE}])))", "p99 {{method}}")],
              "s"),
    ]


def trigger_panels(s: str, by: str = "service") -> list[Panel]:
    """The rollback triggers (recording rules in monitoring/rules/uf.rules.yml)."""
    return [
        Panel("Error ratio (trigger: > 5 %)", [(f"uf:error_ratio:rate1m{s}", f"{{{{{by}}}}}")], "percentunit",
              "Handler errors after retries plus gRPC server failures, over all work handled."),
        Panel("p99 response time (trigger: > 2 s)", [(f"uf:latency_p99_seconds:1m{s}", f"{{{{{by}}}}}")], "s"),
        Panel("Memory / limit (trigger: > 90 %)", [(f"max by (service, colour, version) (uf:memory_ratio{s})", f"{{{{{by}}}}}")],
              "percentunit"),
        Panel("CPU / limit (trigger: > 95 %)", [(f"max by (service, colour, version) (uf:cpu_ratio:rate1m{s})", f"{{{{{by}}}}}")],
              "percentunit"),
    ]


def kafka_panels(s: str) -> list[Panel]:
    return [
        Panel("Consumer lag by group", [(f"sum by (service, group) (uf_consumer_lag{s})", "{{service}} {{group}}")], "short"),
        Panel("Dead letters / s by reason",
              [(f"sum by (service, reason) (rate(uf_dead_letters_total{s}[{RATE}]))", "{{service}} {{reason}}")], "ops"),
    ]


def resource_panels(s: str) -> list[Panel]:
    return [
        Panel("Resident memory vs limit",
              [(f"process_resident_memory_bytes{s}", "{{service}} {{uf_instance}}"),
               (f"uf_memory_limit_bytes{s}", "limit {{service}} {{uf_instance}}")], "bytes"),
        Panel("CPU cores used vs limit",
              [(f"rate(process_cpu_seconds_total{s}[{RATE}])", "{{service}} {{uf_instance}}"),
               (f"uf_cpu_limit_cores{s}", "limit {{service}} {{uf_instance}}")], "short"),
        Panel("PII redacted from log lines / s (should be 0)",
              [(f"sum by (service, type) (rate(uf_log_redactions_total{s}[{RATE}]))", "{{service}} {{type}}")], "ops"),
        Panel("Instances up", [('up{job="uf-services", service=~"$service"}', "{{service}} {{instance}}")], "short"),
    ]


SPECIAL: dict[str, list[Panel]] = {
    "orchestrator": [
        Panel("Validator round trip seen by the orchestrator, p99 by outcome",
              [(f"histogram_quantile(0.99, sum by (outcome, le) (rate(uf_validation_seconds_bucket{{service=\"orchestrator\"}}[{RATE}])))",
                "{{outcome}}")], "s"),
        Panel("Parked workflows (waiting out a transient failure)", [('sum(uf_parked_workflows{service="orchestrator"})', "parked")]),
        Panel("Circuit to the validator open", [('max by (dependency) (uf_circuit_open{service="orchestrator"})', "{{dependency}}")]),
    ],
    "validator": [
        Panel("Decisions / s: denials by reason (deciding rule)",
              [(f'sum by (reason) (rate(uf_validator_decisions_total{{service="validator", decision="deny"}}[{RATE}]))', "{{reason}}")],
              "ops"),
        Panel("Deny ratio, 5 min vs 1 h (alert: jump)",
              [("uf:validator_deny_ratio:rate5m", "5 min"), ("uf:validator_deny_ratio:rate1h", "1 h")], "percentunit"),
        Panel("Rule evaluation p99 by target phase",
              [(f"histogram_quantile(0.99, sum by (to_phase, le) (rate(uf_validator_evaluate_seconds_bucket[{RATE}])))", "{{to_phase}}")],
              "s"),
        Panel("Policy in force", [("max by (policy_version) (uf_policy_active)", "{{policy_version}}")]),
    ],
    "pii": [
        Panel("PII findings / s by type", [(f'sum by (type) (rate(uf_pii_findings_total{{service="pii"}}[{RATE}]))', "{{type}}")], "ops"),
    ],
    "audit": [
        Panel("Age of the newest checkpoint by topic",
              [("time() - max by (topic) (uf_audit_last_checkpoint_timestamp_seconds)", "{{topic}}")], "s"),
        Panel("Audit lag: oldest record waiting for a checkpoint (alert: > 2 min)",
              [("max by (topic) (uf_audit_oldest_unattested_seconds)", "{{topic}}")], "s"),
        Panel("Records not yet attested", [("sum by (topic) (uf_audit_unattested_records)", "{{topic}}")]),
        Panel("Checkpoints / s and failures / s",
              [(f"sum(rate(uf_audit_checkpoints_total[{RATE}]))", "checkpoints"),
               (f"sum by (stage) (rate(uf_audit_checkpoint_failures_total[{RATE}]))", "failed {{stage}}"),
               (f"sum by (reason) (rate(uf_audit_signature_failures_total[{RATE}]))", "bad signature {{reason}}")], "ops"),
    ],
    "delivery": [],
}


def _dashboard(uid: str, title: str, sections: list[Section], templates: list[Template], tags: list[str]) -> Dashboard:
    panels: list[object] = []
    y = 0
    for section in sections:
        panels.append(RowPanel(title=section.title, gridPos=GridPos(h=1, w=24, x=0, y=y)))
        y += 1
        for i, p in enumerate(section.panels):
            panels.append(TimeSeries(
                title=p.title, description=p.description, dataSource=DS, unit=p.unit, valueMax=p.max,
                targets=[Target(expr=expr, legendFormat=legend, refId=chr(ord("A") + n), datasource=DS)
                         for n, (expr, legend) in enumerate(p.queries)],
                gridPos=GridPos(h=8, w=12, x=12 * (i % 2), y=y + 8 * (i // 2)),
            ))
        y += 8 * ((len(section.panels) + 1) // 2)
    return Dashboard(uid=uid, title=title, tags=["universal-framework", *tags], panels=panels, refresh="10s",
                     time=Time("now-1h", "now"), templating=Templating([_datasource(), *templates]), timezone="utc").auto_panel_ids()


def _datasource() -> Template:
    return Template(name="datasource", label="Prometheus", query="prometheus", type="datasource", default="Prometheus")


def _label_values(name: str, label: str, selector: str, *, multi: bool = True, default: str = "") -> Template:
    return Template(name=name, label=label.capitalize(), query=f"label_values({selector}, {label})", dataSource=DS,
                    includeAll=multi, multi=multi, allValue=".*" if multi else None, default=default or None, refresh=2)


def overview() -> Dashboard:
    s = _sel(service="$service", colour="$colour")
    return _dashboard("uf-overview", "Universal Framework / Overview", [
        Section("Rollback triggers by service", trigger_panels(s)),
        Section("Traffic and errors", red_panels(s)),
        Section("Kafka", kafka_panels(s)),
        Section("Resources and hygiene", resource_panels(s)),
        Section("Compliance", [
            Panel("Alerts firing", [('sum by (alertname, service) (ALERTS{alertstate="firing"})', "{{alertname}} {{service}}")]),
            SPECIAL["validator"][0], SPECIAL["audit"][1], SPECIAL["orchestrator"][1],
        ]),
    ], [_label_values("service", "service", 'up{job="uf-services"}'), _label_values("colour", "colour", 'up{job="uf-services"}')],
        ["overview"])


def service_dashboard(name: str) -> Dashboard:
    s = _sel(service=name, colour="$colour")
    sections = [
        Section("Rollback triggers", trigger_panels(s, by="colour")),
        Section("RED: Kafka handlers and gRPC methods", red_panels(s)),
        Section("Kafka", kafka_panels(s)),
        Section("Resources", resource_panels(s)),
    ]
    if SPECIAL[name]:
        sections.append(Section(name.capitalize(), SPECIAL[name]))
    service_var = Template(name="service", query=name, type="constant", hide=2)  # keeps the shared panels' $service working
    return _dashboard(f"uf-service-{name}", f"Universal Framework / {name}", sections,
                      [service_var, _label_values("colour", "colour", f'up{{job="uf-services", service="{name}"}}')], ["service", name])


def rollout() -> Dashboard:
    """One service, every colour side by side: what the automatic analysis looks at."""
    s = _sel(service="$service")
    return _dashboard("uf-rollout", "Universal Framework / Rollout (colours compared)", [
        Section("Rollback triggers by colour", trigger_panels(s, by="colour")),
        Section("Traffic by colour", [
            Panel("Events handled / s by colour", [(f"sum by (colour, version) (rate(uf_events_total{s}[{RATE}]))", "{{colour}} {{version}}")],
                  "ops"),
            Panel("gRPC calls / s by colour", [(f"sum by (colour, version) (rate(uf_grpc_requests_total{s}[{RATE}]))", "{{colour}} {{version}}")],
                  "reqps"),
            Panel("Consumer lag by colour", [(f"sum by (colour, group) (uf_consumer_lag{s})", "{{colour}} {{group}}")]),
            Panel("Dead letters / s by colour", [(f"sum by (colour, reason) (rate(uf_dead_letters_total{s}[{RATE}]))", "{{colour}} {{reason}}")],
                  "ops"),
            Panel("Instances up by colour and version",
                  [('count by (colour, version) (up{job="uf-services", service=~"$service"} == 1)', "{{colour}} {{version}}")]),
            Panel("Rollback alerts firing", [('sum by (alertname, colour) (ALERTS{alertstate="firing", service=~"$service"})',
                                              "{{alertname}} {{colour}}")]),
        ]),
    ], [_label_values("service", "service", 'up{job="uf-services"}', multi=False, default="orchestrator")], ["rollout"])


def dashboards() -> dict[str, Dashboard]:
    out = {"overview": overview(), "rollout": rollout()}
    out.update({f"service-{name}": service_dashboard(name) for name in SERVICES})
    return out


def render(d: Dashboard) -> str:
    return json.dumps(d.to_json_data(), cls=DashboardEncoder, indent=2, sort_keys=True) + "\n"


class _Literal(str):
    pass


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


def k8s_configmaps(rendered: dict[str, str]) -> str:
    """ConfigMaps of the monitoring component. Why generated: kustomize refuses files outside a
    kustomization's directory, and the dashboards, rules and provisioning files have one home
    (monitoring/); `--check` keeps this copy in step."""
    yaml.SafeDumper.add_representer(_Literal, _literal)
    mon = ROOT / "monitoring"

    def cm(name: str, files: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, object]:
        meta: dict[str, object] = {"name": name, "labels": {"app.kubernetes.io/part-of": "universal-framework", **(labels or {})}}
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {k: _Literal(v) for k, v in files.items()}}

    compact = {n: json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True) + "\n" for n, text in rendered.items()}
    # one ConfigMap per dashboard: each stays far below kubectl's 256 KiB last-applied annotation
    docs = [
        *(cm(f"uf-grafana-dashboard-{n.removesuffix('.json')}", {n: text}, {"grafana_dashboard": "1"}) for n, text in compact.items()),
        cm("uf-grafana-provisioning", {
            "datasources.yml": (mon / "grafana/provisioning/datasources/prometheus.yml").read_text(),
            "dashboards.yml": (mon / "grafana/provisioning/dashboards/universal-framework.yml").read_text()}),
        cm("uf-prometheus", {"prometheus.yml": (mon / "prometheus/kubernetes.yml").read_text(),
                             "uf.rules.yml": (mon / "rules/uf.rules.yml").read_text()}),
    ]
    header = "# Generated by tools/gen_dashboards.py (`make dashboards`) from monitoring/; do not edit.\n"
    return header + yaml.safe_dump_all(docs, sort_keys=False, width=1000)


def main() -> int:
    rendered = {f"{name}.json": render(d) for name, d in dashboards().items()}
    manifests = k8s_configmaps(rendered)
    if "--check" in sys.argv:
        stale = [n for n, text in rendered.items() if not (OUT / n).is_file() or (OUT / n).read_text() != text]
        if not K8S_OUT.is_file() or K8S_OUT.read_text() != manifests:
            stale.append(str(K8S_OUT.relative_to(ROOT)))
        extra = sorted(p.name for p in OUT.glob("*.json") if p.name not in rendered)
        if stale or extra:
            print(f"dashboards stale: {stale + extra}; run `make dashboards`", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.glob("*.json"):
        if p.name not in rendered:
            p.unlink()
    for n, text in rendered.items():
        (OUT / n).write_text(text)
    K8S_OUT.parent.mkdir(parents=True, exist_ok=True)
    K8S_OUT.write_text(manifests)
    print(f"wrote {len(rendered)} dashboards to {OUT.relative_to(ROOT)} and {K8S_OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
