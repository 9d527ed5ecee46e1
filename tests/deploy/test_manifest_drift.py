"""The Kubernetes package and compose agree with the code (tools/manifest_drift.py): every UF_*
variable is one the service reads, ports are the ones it listens on, probes hit served paths,
addresses name a Service that exposes that port, key files are where the settings look.

Renders the overlays with the pinned kustomize (infra/tools.sh installs it), or reads what
`make k8s-check` rendered (UF_K8S_RENDERED). The mutation tests prove each rule can fail."""
from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest

from services.kit.runtime.paths import ROOT
from tools import manifest_drift as drift
from tools.k8s_dev_secrets import generate

OVERLAYS = ("dev", "prod")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    given = os.environ.get("UF_K8S_RENDERED")
    if given:
        return {o: Path(given) / f"k8s_overlays_{o}.yaml" for o in OVERLAYS}
    out = tmp_path_factory.mktemp("rendered")
    generate()
    kustomize = subprocess.run([str(ROOT / "infra/tools.sh"), "bin", "kustomize"], check=True, capture_output=True, text=True).stdout.strip()
    files = {}
    for overlay in OVERLAYS:
        files[overlay] = out / f"{overlay}.yaml"
        files[overlay].write_text(subprocess.run([kustomize, "build", str(ROOT / "k8s/overlays" / overlay)],
                                                 check=True, capture_output=True, text=True).stdout)
    return files


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_matches_the_code(rendered, overlay):
    r = drift.load(rendered[overlay], overlay)
    assert {d["spec"]["template"]["metadata"]["labels"]["app"] for d in r.find("Deployment")} >= set(drift.SERVICES)
    assert drift.check_all(r) == []


def test_compose_matches_the_code():
    assert drift.check_compose(ROOT / "docker-compose.yml") == []


def test_local_env_sets_every_tuning_setting():
    assert drift.check_local_env(ROOT / "infra/local.env") == []


# ---- each rule fails when it should -----------------------------------------------------------

def _deployment(r: drift.Rendered, name: str) -> dict:
    return r.find("Deployment", name)[0]


def _mutated(rendered, change) -> list[str]:
    r = drift.load(rendered["dev"], "dev")
    r.docs = copy.deepcopy(r.docs)
    change(r)
    return drift.check_all(r)


def test_unknown_variable_is_drift(rendered):
    def change(r):
        _deployment(r, "audit")["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "UF_VALIDATOR_ADDR", "value": "validator:50051"})
    assert any("sets UF_VALIDATOR_ADDR" in p for p in _mutated(rendered, change))


def test_wrong_port_is_drift(rendered):
    def change(r):
        _deployment(r, "pii")["spec"]["template"]["spec"]["containers"][0]["ports"][1]["containerPort"] = 50052
    problems = _mutated(rendered, change)
    assert any("containerPort 'grpc' is 50052" in p for p in problems)


def test_unserved_probe_path_is_drift(rendered):
    def change(r):
        _deployment(r, "delivery")["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/healthz"
    assert any("/healthz is not served" in p for p in _mutated(rendered, change))


def test_address_without_service_is_drift(rendered):
    def change(r):
        env = _deployment(r, "validator")["spec"]["template"]["spec"]["containers"][0]["env"]
        next(e for e in env if e["name"] == "UF_PII_ADDR")["value"] = "pii:50052"
    assert any("UF_PII_ADDR dials pii:50052" in p for p in _mutated(rendered, change))


def test_bad_value_type_is_drift(rendered):
    def change(r):
        env = _deployment(r, "delivery")["spec"]["template"]["spec"]["containers"][0]["env"]
        next(e for e in env if e["name"] == "UF_SMTP_PORT")["value"] = "smtp"
    assert any("settings do not parse" in p for p in _mutated(rendered, change))


def test_missing_key_mount_is_drift(rendered):
    def change(r):
        spec = _deployment(r, "orchestrator")["spec"]["template"]["spec"]
        spec["containers"][0]["volumeMounts"] = [m for m in spec["containers"][0]["volumeMounts"] if m["name"] != "signing-key"]
    assert any("UF_SIGNING_KEYS_DIR" in p for p in _mutated(rendered, change))


def test_consumer_scaled_past_partitions_is_drift(rendered):
    def change(r):
        r.docs.append({"kind": "HorizontalPodAutoscaler", "metadata": {"name": "audit"},
                       "spec": {"scaleTargetRef": {"name": "audit"}, "maxReplicas": ceiling + 1}})
    ceiling = max(drift.partitions().values())
    assert any(f"past {ceiling} partitions" in p for p in _mutated(rendered, change))


def test_missing_tls_certificate_is_drift(rendered):
    def change(r):
        spec = _deployment(r, "pii")["spec"]["template"]["spec"]
        next(v for v in spec["volumes"] if v["name"] == "tls")["secret"]["items"].pop()  # pii.key
    assert any("UF_TLS_DIR: the volume at /etc/uf/tls has no pii.key" in p for p in _mutated(rendered, change))


def test_search_engine_image_off_the_pinned_version_is_drift(rendered, tmp_path):
    def change(r):
        r.find("StatefulSet", "opensearch")[0]["spec"]["template"]["spec"]["containers"][0]["image"] = \
            "docker.io/opensearchproject/opensearch:2.11.0"
    assert any("is not OPENSEARCH_VERSION=" in p for p in _mutated(rendered, change))
    compose = (ROOT / "docker-compose.yml").read_text().replace("opensearchproject/opensearch:", "opensearchproject/opensearch:9.")
    (tmp_path / "docker-compose.yml").write_text(compose)
    assert any("compose: opensearch: image" in p for p in drift.check_compose(tmp_path / "docker-compose.yml"))


def test_missing_tuning_setting_is_drift(rendered, tmp_path):
    def change(r):
        c = _deployment(r, "orchestrator")["spec"]["template"]["spec"]["containers"][0]
        c["env"] = [e for e in c["env"] if e["name"] != "UF_MAX_IN_FLIGHT"]
    assert any("does not set the tuning setting UF_MAX_IN_FLIGHT" in p for p in _mutated(rendered, change))
    local = tmp_path / "local.env"
    local.write_text("\n".join(line for line in (ROOT / "infra/local.env").read_text().splitlines()
                               if not line.startswith("UF_SMTP_GIVE_UP_S=")))
    assert drift.check_local_env(local) == ["local.env: delivery's UF_SMTP_GIVE_UP_S is not set"]
