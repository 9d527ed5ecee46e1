"""Drift between the deployment manifests and the code, as a list of problems (empty = none).

A manifest that sets a variable no settings class reads, exposes a port no service listens on,
probes a path the ops server does not serve or dials an address no Service answers is wrong
in a way kubeconform cannot see (it is schema-valid). The truth is read from the code:
  * settings: each service's `services/<name>/config.py` class (pydantic-settings, UF_ prefix),
    plus the UF_* names the kit and the service read straight from os.environ;
  * image defaults: the ENV lines of the service's Dockerfile target (ports, UF_VAR_DIR);
  * routes: the paths `services/kit/runtime/ops.py` registers;
  * partitions: infra/topics.yaml (consumers never scale past them).
  * tuning: the load/fault settings in TUNING are set in compose, the Deployments and
    infra/local.env alike.
Used by tests/deploy/test_manifest_drift.py on the rendered kustomize output, compose and local.env.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.kit.runtime.config import ServiceSettings
from services.kit.runtime.paths import ROOT

SERVICES = ("orchestrator", "validator", "pii", "audit", "delivery")
Doc = dict[str, Any]

# Settings an operator sizes per environment to hold load and faults (issue 10: client pools,
# in-flight bounds, admission, deadlines, park budgets, circuit breaker, SMTP timeouts and retry
# schedule). Each is set explicitly, under the same name, in docker-compose.yml, the Kubernetes
# Deployments and infra/local.env, so all three show - and can change - the same knobs; a field
# renamed in the code without the manifests (or the reverse) is drift.
TUNING: dict[str, tuple[str, ...]] = {
    "orchestrator": ("validator_timeout_s", "validator_attempts", "validator_concurrency", "validator_channels",
                     "max_in_flight", "park_budget_s", "circuit_threshold", "circuit_cooldown_s"),
    "validator": ("pii_timeout_s", "decision_deadline_s", "max_concurrent_decisions", "admission_wait_s",
                  "redis_max_connections", "barrier_timeout_s"),
    "pii": ("max_texts_per_call", "max_chars_per_text"),
    "delivery": ("smtp_command_timeout_s", "smtp_data_init_timeout_s", "smtp_data_block_timeout_s",
                 "smtp_final_timeout_s", "smtp_retry_cap_s", "smtp_give_up_s", "liveness_ttl_s"),
}


def tuning_env(service: str) -> set[str]:
    """The UF_* names of the service's tuning settings (raises if the code no longer has one)."""
    fields = settings_class(service).model_fields
    missing = [f for f in TUNING.get(service, ()) if f not in fields]
    if missing:
        raise LookupError(f"manifest_drift.TUNING names {missing}, which services/{service}/config.py does not define")
    return {f"UF_{f.upper()}" for f in TUNING.get(service, ())}


def check_local_env(path: Path) -> list[str]:
    """infra/local.env sets every tuning setting (the local defaults an operator starts from)."""
    names = {line.split("=", 1)[0].strip() for line in path.read_text().splitlines()
             if "=" in line and not line.lstrip().startswith("#")}
    return [f"{path.name}: {service}'s {name} is not set" for service in SERVICES
            for name in sorted(tuning_env(service) - names)]


# ---- what the code says ------------------------------------------------------------------------

def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"services.{service}.config")
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, ServiceSettings) and v is not ServiceSettings]
    if len(found) != 1:
        raise LookupError(f"services/{service}/config.py: expected one settings class, found {len(found)}")
    return found[0]


_ENV_READ = re.compile(r"environ(?:\.get)?[\(\[]\s*[\"'](UF_[A-Z0-9_]+)[\"']")


def direct_env_names(service: str, root: Path = ROOT) -> set[str]:
    """UF_* names read with os.environ by the kit, the PII library or the service itself."""
    names: set[str] = set()
    for base in (root / "services" / "kit", root / "services" / service, root / "libs" / "uf-pii" / "uf_pii"):
        for path in base.rglob("*.py"):
            names.update(_ENV_READ.findall(path.read_text()))
    return names


def env_names(service: str, root: Path = ROOT) -> set[str]:
    """Every UF_* variable the service reads."""
    fields = {f"UF_{name.upper()}" for name in settings_class(service).model_fields}
    return fields | direct_env_names(service, root)


def image_env(service: str, root: Path = ROOT) -> dict[str, str]:
    """ENV of the service's Dockerfile target, following its FROM chain within the file."""
    stages: dict[str, tuple[str, dict[str, str]]] = {}
    current: str | None = None
    for raw in _logical_lines((root / "Dockerfile").read_text()):
        words = raw.split()
        if not words:
            continue
        op = words[0].upper()
        if op == "FROM":
            parent = words[1]
            current = words[3] if len(words) >= 4 and words[2].upper() == "AS" else None
            if current:
                stages[current] = (parent, {})
        elif op == "ENV" and current:
            for pair in words[1:]:
                if "=" in pair:
                    k, v = pair.split("=", 1)
                    stages[current][1][k] = v
    env: dict[str, str] = {}
    chain: list[dict[str, str]] = []
    name: str | None = service
    while name in stages:
        parent, own = stages[name]
        chain.append(own)
        name = parent
    for own in reversed(chain):
        env.update(own)
    return env


def _logical_lines(text: str) -> Iterable[str]:
    buf = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        yield buf + line
        buf = ""


def grpc_parties() -> set[str]:
    """Services on either end of a gRPC call (they need the mTLS CA, certificate and key)."""
    from services.kit.security.tls import ALLOWED_CALLERS

    callers = {c for allowed in ALLOWED_CALLERS.values() for c in allowed}
    servers = {s for s in SERVICES if "grpc_port" in settings_class(s).model_fields}
    return callers | servers


def served_paths(root: Path = ROOT) -> set[str]:
    return set(re.findall(r"add_get\(\"(/[^\"]*)\"", (root / "services/kit/runtime/ops.py").read_text()))


def partitions(root: Path = ROOT) -> dict[str, int]:
    doc = yaml.safe_load((root / "infra" / "topics.yaml").read_text())
    default = int(doc["defaults"]["partitions"])
    return {name: int((spec or {}).get("partitions", default)) for name, spec in doc["topics"].items()}


# ---- the rendered manifests --------------------------------------------------------------------

@dataclass
class Rendered:
    name: str  # which overlay, for messages
    docs: list[Doc]
    problems: list[str] = field(default_factory=list)

    def find(self, kind: str, name: str | None = None) -> list[Doc]:
        return [d for d in self.docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]

    def configmap_or_secret(self, kind: str, name: str) -> Doc | None:
        found = self.find(kind, name)
        return found[0] if found else None

    def bad(self, where: str, msg: str) -> None:
        self.problems.append(f"{self.name}: {where}: {msg}")


def load(path: Path, name: str | None = None) -> Rendered:
    return Rendered(name or path.name, [d for d in yaml.safe_load_all(path.read_text()) if d])


def _container_env(r: Rendered, container: Doc) -> dict[str, str | None]:
    """Name -> literal value (None when it comes from a Secret or is not known here)."""
    env: dict[str, str | None] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            cm = r.configmap_or_secret("ConfigMap", src["configMapRef"]["name"])
            env.update({k: str(v) for k, v in ((cm or {}).get("data") or {}).items()})
        if "secretRef" in src:
            sec = r.configmap_or_secret("Secret", src["secretRef"]["name"])
            env.update({k: None for k in {**((sec or {}).get("data") or {}), **((sec or {}).get("stringData") or {})}})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = _secret_literal(r, ref["name"], ref["key"])
        else:
            env[var["name"]] = None
    return env


def _secret_literal(r: Rendered, name: str, key: str) -> str | None:
    import base64

    sec = r.configmap_or_secret("Secret", name)
    if not sec:
        return None
    if key in (sec.get("stringData") or {}):
        return str(sec["stringData"][key])
    if key in (sec.get("data") or {}):
        return base64.b64decode(sec["data"][key]).decode()
    return None


def _host_port(addr: str) -> tuple[str, int]:
    addr = addr.split("://", 1)[-1].split("/", 1)[0].split("@")[-1]
    host, _, port = addr.rpartition(":")
    return host, int(port)


def check_deployments(r: Rendered, root: Path = ROOT) -> None:
    paths = served_paths(root)
    for dep in r.find("Deployment"):
        service = dep["spec"]["template"]["metadata"]["labels"].get("app")
        if service not in SERVICES:
            continue
        where = f"Deployment {service}"
        pod = dep["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = _container_env(r, container)
        known = env_names(service, root)
        for name in env:
            if name.startswith("UF_") and name not in known:
                r.bad(where, f"sets {name}, which services/{service} does not read")
        for name in sorted(tuning_env(service) - set(env)):
            r.bad(where, f"does not set the tuning setting {name}")
        effective = {**image_env(service, root), **{k: v for k, v in env.items() if v is not None}}
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        http = int(effective.get("UF_HTTP_PORT", settings_class(service).model_fields["http_port"].default))
        if ports.get("http") != http:
            r.bad(where, f"containerPort 'http' is {ports.get('http')}, the service listens on {http}")
        if "grpc_port" in settings_class(service).model_fields:
            grpc = int(effective.get("UF_GRPC_PORT", settings_class(service).model_fields["grpc_port"].default))
            if ports.get("grpc") != grpc:
                r.bad(where, f"containerPort 'grpc' is {ports.get('grpc')}, the service listens on {grpc}")
        elif "grpc" in ports:
            r.bad(where, "exposes a grpc port but serves no gRPC")
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container.get(kind)
            if not probe:
                r.bad(where, f"has no {kind}")
                continue
            get = probe.get("httpGet", {})
            if get.get("path") not in paths:
                r.bad(where, f"{kind} path {get.get('path')} is not served (ops.py serves {sorted(paths)})")
            if get.get("port") not in ports and get.get("port") not in ports.values():
                r.bad(where, f"{kind} port {get.get('port')} is not a container port")
        _check_settings_parse(r, where, service, effective)
        _check_mounts(r, where, service, pod, container, effective)
        _check_addresses(r, where, env)


def _check_settings_parse(r: Rendered, where: str, service: str, env: dict[str, str]) -> None:
    import os
    from unittest import mock

    values = {k: v for k, v in env.items() if k.startswith("UF_")}
    with mock.patch.dict(os.environ, values, clear=False):
        try:
            settings_class(service)()
        except Exception as exc:  # a value of the wrong type
            r.bad(where, f"its settings do not parse: {exc}".splitlines()[0])


def _check_mounts(r: Rendered, where: str, service: str, pod: Doc, container: Doc, env: dict[str, str]) -> None:
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    read_only_root = container.get("securityContext", {}).get("readOnlyRootFilesystem")
    var_dir = env.get("UF_VAR_DIR")
    if read_only_root and (not var_dir or var_dir not in mounts or mounts[var_dir].get("readOnly")):
        r.bad(where, f"read-only root filesystem but UF_VAR_DIR ({var_dir}) is not a writable mount")
    checks: list[tuple[str, str | None]] = [("UF_SIGNING_KEYS_DIR", f"{service}.ed25519"), ("UF_TRUSTED_KEYS_DIR", None),
                                            ("UF_AUTH_KEY_FILE", "")]
    if service in grpc_parties():
        checks.append(("UF_TLS_DIR", f"{service}.key"))
    for var, filename in checks:
        value = env.get(var)
        if var == "UF_TLS_DIR" and value is None:
            r.bad(where, "speaks gRPC (mutual TLS) but UF_TLS_DIR is not set")
            continue
        if value is None or var not in env_names(service):
            continue
        directory = str(Path(value).parent) if var == "UF_AUTH_KEY_FILE" else value
        mount = mounts.get(directory)
        if mount is None:
            r.bad(where, f"{var}={value} but nothing is mounted at {directory}")
            continue
        vol = volumes.get(mount["name"], {})
        items = (vol.get("secret") or vol.get("configMap") or {}).get("items")
        want = Path(value).name if var == "UF_AUTH_KEY_FILE" else filename
        if want and items is not None and want not in {i["path"] for i in items}:
            r.bad(where, f"{var}: the volume at {directory} has no {want}")


def _check_addresses(r: Rendered, where: str, env: dict[str, str | None]) -> None:
    targets = [(v, env.get(v)) for v in ("UF_VALIDATOR_ADDR", "UF_PII_ADDR")]
    smtp_host, smtp_port = env.get("UF_SMTP_HOST"), env.get("UF_SMTP_PORT")
    if smtp_host and smtp_port:
        targets.append(("UF_SMTP_HOST/PORT", f"{smtp_host}:{smtp_port}"))
    for var in ("UF_KAFKA_BOOTSTRAP", "UF_REDIS_URL", "UF_ES_URL"):
        value = env.get(var)
        if value:
            targets.append((var, value.split(",")[0]))
    for var, value in targets:
        if not value:
            continue
        try:
            host, port = _host_port(value)
        except ValueError:
            r.bad(where, f"{var}={value} is not host:port")
            continue
        if "." in host:  # outside the namespace (prod): not ours to check
            continue
        services = r.find("Service", host)
        if not services:
            r.bad(where, f"{var} dials {host}:{port} but no Service {host} exists")
            continue
        svc_ports = {p["port"]: p for p in services[0]["spec"]["ports"]}
        if port not in svc_ports:
            r.bad(where, f"{var} dials {host}:{port} but Service {host} exposes {sorted(svc_ports)}")


def check_services(r: Rendered) -> None:
    """Every Service port lands on a named or numbered port of a pod it selects."""
    pods = [(w["spec"]["template"]["metadata"]["labels"], w["spec"]["template"]["spec"])
            for w in r.docs if w.get("kind") in ("Deployment", "StatefulSet")]
    for svc in r.find("Service"):
        selector = svc["spec"].get("selector") or {}
        matched = [spec for labels, spec in pods if selector and all(labels.get(k) == v for k, v in selector.items())]
        if not matched:
            r.bad(f"Service {svc['metadata']['name']}", f"selects no pod ({selector})")
            continue
        ports = [(p.get("name"), p["containerPort"]) for spec in matched for c in spec["containers"] for p in c.get("ports", [])]
        for sp in svc["spec"]["ports"]:
            target = sp.get("targetPort", sp["port"])
            if not any(target in (name, number) for name, number in ports):
                r.bad(f"Service {svc['metadata']['name']}", f"targetPort {target} is no container port of its pods")


def check_scaling(r: Rendered, root: Path = ROOT) -> None:
    """Kafka consumers never scale past the partitions of the workflow-keyed topics."""
    ceiling = max(partitions(root).values())
    for so in r.find("ScaledObject"):
        if so["spec"].get("maxReplicaCount", 100) > ceiling:
            r.bad(f"ScaledObject {so['metadata']['name']}", f"maxReplicaCount above {ceiling} partitions")
    consumers_only = {"orchestrator", "audit", "delivery"}
    for hpa in r.find("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]["name"]
        if target in consumers_only and hpa["spec"]["maxReplicas"] > ceiling:
            r.bad(f"HPA {target}", f"scales a Kafka consumer past {ceiling} partitions")
        if not r.find("Deployment", target):
            r.bad(f"HPA {hpa['metadata']['name']}", f"targets missing Deployment {target}")


# Infrastructure images that must run the version the local stack runs (infra/versions.env):
# image repository suffix -> the versions.env key of its tag.
PINNED_IMAGES = {"opensearchproject/opensearch": "OPENSEARCH_VERSION", "apache/kafka": "KAFKA_VERSION"}


def pinned_versions(root: Path = ROOT) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in (root / "infra" / "versions.env").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def image_version_problem(image: str, root: Path = ROOT) -> str | None:
    """An engine image whose tag is not the version the local stack and the client are pinned to."""
    repo, _, tag = image.rpartition(":")
    for suffix, key in PINNED_IMAGES.items():
        if repo.endswith(suffix):
            want = pinned_versions(root)[key]
            return None if tag == want else f"image {image} is not {key}={want} (infra/versions.env)"
    return None


def check_images(r: Rendered, root: Path = ROOT) -> None:
    for kind in ("Deployment", "StatefulSet"):
        for doc in r.find(kind):
            for c in doc["spec"]["template"]["spec"].get("containers", []):
                problem = image_version_problem(c.get("image", ""), root)
                if problem:
                    r.bad(f"{kind} {doc['metadata']['name']}", problem)


def check_all(r: Rendered, root: Path = ROOT) -> list[str]:
    check_deployments(r, root)
    check_services(r)
    check_scaling(r, root)
    check_images(r, root)
    return r.problems


def check_compose(path: Path, root: Path = ROOT) -> list[str]:
    """docker-compose.yml: the same variable and port rules for the five services."""
    doc = yaml.safe_load(path.read_text())
    problems: list[str] = []
    for name, spec in doc["services"].items():
        problem = image_version_problem(str(spec.get("image", "")), root)
        if problem:
            problems.append(f"compose: {name}: {problem}")
    for service in SERVICES:
        spec = doc["services"].get(service)
        if spec is None:
            problems.append(f"compose: service {service} is missing")
            continue
        env = {k: str(v) for k, v in (spec.get("environment") or {}).items()}
        known = env_names(service, root)
        for name in env:
            if name.startswith("UF_") and name not in known:
                problems.append(f"compose: {service} sets {name}, which services/{service} does not read")
        problems += [f"compose: {service} does not set the tuning setting {name}"
                     for name in sorted(tuning_env(service) - set(env))]
        target = (spec.get("build") or {}).get("target")
        if target != service:
            problems.append(f"compose: {service} builds Dockerfile target {target!r}")
        effective = {**image_env(service, root), **env}
        for var, other in (("UF_VALIDATOR_ADDR", "validator"), ("UF_PII_ADDR", "pii")):
            if var in env:
                host, port = _host_port(env[var])
                their = {**image_env(other, root), **{k: str(v) for k, v in (doc["services"][other].get("environment") or {}).items()}}
                if host != other or str(port) != their.get("UF_GRPC_PORT"):
                    problems.append(f"compose: {service} {var}={env[var]} but {other} listens on {their.get('UF_GRPC_PORT')}")
        hc = effective.get("UF_HTTP_PORT")
        if hc is None:
            problems.append(f"compose: {service} has no UF_HTTP_PORT")
    return problems
