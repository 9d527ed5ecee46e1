"""The five service images start and do the job: real containers (podman, host network) against
the real local stack run the example campaign to COMPLETED - `make run`, with the services in
containers. Keys are provided the way Kubernetes does (read-only files, one signing key per
service), the root filesystem is read-only and the only writable path is the UF_VAR_DIR volume.

Needs the images: `make test-images` builds them (`make images`) and runs this with
UF_IMAGE_TEST=1 (its own CI step: the build takes minutes); plain `make test` skips it.
"""
from __future__ import annotations

import email
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.kit.runtime import service_table as table
from services.kit.runtime.paths import KEYS, ROOT, VAR
from services.kit.security import jwt_tokens, redis_auth, tls
from services.kit.security.signing import Signer
from tests.integration.waiting import eventually

pytestmark = [pytest.mark.skipif(not os.environ.get("UF_IMAGE_TEST"),
                                 reason="image test: `make test-images` builds the images and runs it"),
              pytest.mark.timeout(900)]

UID = 10001
PY = sys.executable


def _sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=check)


def _podman() -> list[str]:
    podman = _sh(str(ROOT / "infra/tools.sh"), "bin", "podman").stdout.strip()
    return [podman, *_sh(str(ROOT / "infra/images/podman-opts.sh"), "global").stdout.split()]


def _run_opts() -> list[str]:
    return _sh(str(ROOT / "infra/images/podman-opts.sh"), "run").stdout.split()


def _image(service: str) -> str:
    tag = os.environ.get("UF_IMAGE_TAG") or _sh(str(ROOT / "infra/images/tag.sh")).stdout.strip()
    return f"universal-framework/{service}:{tag}"


def _ufctl(*args: str) -> str:
    res = subprocess.run([PY, "-m", "ufctl", *args], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, f"ufctl {' '.join(args)}: {res.stderr.strip()}"
    return res.stdout.strip()


@pytest.fixture(scope="module")
def stack():
    """Kafka, OpenSearch, Redis and the SMTP sink on this worktree's ports; no local services
    (the containers take their ports)."""
    if _sh(PY, "-m", "services.launcher", "status", check=False).returncode == 0:
        pytest.fail("the local services are running (`make down` first): the containers need their ports")
    was_up = _sh(PY, "infra/stack.py", "status", check=False).returncode == 0
    if not was_up:
        res = _sh(PY, "infra/stack.py", "up", check=False)
        assert res.returncode == 0, f"local stack did not start:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}"
    _sh(PY, "-m", "services.kit.contracts.topics")
    yield
    if not was_up and not os.environ.get("UF_KEEP_STACK"):
        _sh(PY, "infra/stack.py", "down", check=False)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Per-service signing keys as read-only files (a Kubernetes Secret item each), their public
    keys in the trusted directory the host's ufctl uses too, and the validator's JWT key."""
    base = tmp_path_factory.mktemp("image-keys")
    KEYS.mkdir(parents=True, exist_ok=True)
    signing = {}
    for service in table.SERVICES:
        d = base / "signing" / service
        d.mkdir(parents=True)
        private = Ed25519PrivateKey.generate()
        signer = Signer(service, private)
        (d / f"{service}.ed25519").write_text(private.private_bytes_raw().hex())
        signer.write_public(KEYS)  # public: verifiers (audit in its container, ufctl here) trust it
        signing[service] = d
    auth = base / "auth"
    auth.mkdir()
    jwt_tokens.load_key(create=True)  # the key `ufctl session/token` signs with
    shutil.copyfile(jwt_tokens.key_file(), auth / "jwt-hs256.key")
    tls.main(list(table.SERVICES))  # the local CA + certificates (`make up` does the same)
    certs = {}
    for service in table.SERVICES:  # each container gets the CA and only its own certificate + key
        d = base / "tls" / service
        d.mkdir(parents=True)
        for name in ("ca.crt", f"{service}.crt", f"{service}.key"):
            shutil.copyfile(tls.TLS_DIR / name, d / name)
        certs[service] = d
    redis_pw = {}
    for service in table.SERVICES:  # its Redis ACL user's password (services/kit/contracts/redis_users.py)
        src = redis_auth.password_file(service)
        if src.exists():
            d = base / "redis" / service
            d.mkdir(parents=True)
            shutil.copyfile(src, d / "password")
            redis_pw[service] = d
    for path in [base, *base.rglob("*")]:
        os.chown(path, UID, UID)
        path.chmod(0o500 if path.is_dir() else 0o400)
    return {"signing": signing, "auth": auth, "tls": certs, "redis": redis_pw}


def _env(service: str) -> dict[str, str]:
    spec = table.SERVICES[service]
    env = {
        "UF_PORT_OFFSET": str(table.PORT_OFFSET),
        "UF_HTTP_HOST": table.HOST,
        "UF_HTTP_PORT": str(spec.http_port),
        "UF_SIGNING_KEYS_DIR": "/etc/uf/signing",
        "UF_TRUSTED_KEYS_DIR": "/etc/uf/trusted-keys",
        "UF_TLS_DIR": "/etc/uf/tls",
    }
    if spec.grpc_port:
        env |= {"UF_GRPC_HOST": table.HOST, "UF_GRPC_PORT": str(spec.grpc_port)}
    if service == "validator":
        env["UF_AUTH_KEY_FILE"] = "/etc/uf/auth/jwt-hs256.key"
    for name in ("UF_KAFKA_BOOTSTRAP", "UF_REDIS_URL", "UF_ES_URL", "UF_SMTP_HOST", "UF_SMTP_PORT"):
        if os.environ.get(name):  # endpoints from the environment win, as everywhere
            env[name] = os.environ[name]
    return env


@pytest.fixture(scope="module")
def containers(stack, keys):
    podman = _podman()
    names = {}
    for service in table.SERVICES:  # start order: what others call first
        name = f"uf-img-{service}-{table.PORT_OFFSET}"
        subprocess.run([*podman, "rm", "-f", name], capture_output=True)
        cmd = [*podman, "run", "-d", "--name", name, *_run_opts(), "--network", "host",
               "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
               # UF_VAR_DIR: an anonymous volume, initialised from the image's /var/lib/uf (owner 10001)
               "-v", "/var/lib/uf",
               "-v", f"{keys['signing'][service]}:/etc/uf/signing:ro",
               "-v", f"{KEYS}:/etc/uf/trusted-keys:ro",
               "-v", f"{keys['tls'][service]}:/etc/uf/tls:ro"]
        if service == "validator":
            cmd += ["-v", f"{keys['auth']}:/etc/uf/auth:ro"]
        if service in keys["redis"]:
            cmd += ["-v", f"{keys['redis'][service]}:/etc/uf/redis:ro", "-e", "UF_REDIS_PASSWORD_FILE=/etc/uf/redis/password"]
        for k, v in _env(service).items():
            cmd += ["-e", f"{k}={v}"]
        res = subprocess.run([*cmd, _image(service)], capture_output=True, text=True)
        assert res.returncode == 0, f"podman run {service}: {res.stderr.strip()}"
        names[service] = name
    try:
        for service, spec in table.SERVICES.items():
            url = f"http://{table.HOST}:{spec.http_port}/ready"
            eventually(lambda url=url, service=service: _alive(podman, names[service]) and _ready(url),
                       timeout_s=240, what=f"{service} container /ready")
        yield names
    finally:
        for service, name in names.items():
            logs = subprocess.run([*podman, "logs", "--tail", "30", name], capture_output=True, text=True)
            print(f"--- {service} container log (tail)\n{logs.stdout[-4000:]}{logs.stderr[-4000:]}")
            subprocess.run([*podman, "rm", "-f", "-v", "-t", "20", name], capture_output=True)


def _ready(url: str) -> bool:
    """True when /ready says so; otherwise raises with the body, which names the failing check."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{exc.code}: {exc.read().decode(errors='replace')[:500]}") from None


def _alive(podman: list[str], name: str) -> bool:
    """False while starting; a container that exited fails the test at once (its log is printed)."""
    state = _sh(*podman, "inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
    if state in ("exited", "stopped", "dead"):
        pytest.fail(f"container {name} {state}")
    return state == "running"


def test_images_are_hardened(containers):
    podman = _podman()
    for service, name in containers.items():
        info = json.loads(_sh(*podman, "inspect", name).stdout)[0]
        assert info["Config"]["User"] == f"{UID}:{UID}", service
        assert info["HostConfig"]["ReadonlyRootfs"] is True, service
        # the image's HEALTHCHECK exists and passes in the running container
        check = _sh(*podman, "healthcheck", "run", name, check=False)
        assert check.returncode == 0, f"{service}: healthcheck {check.stdout.strip()} {check.stderr.strip()}"
    has_spacy = {s: subprocess.run([*podman, "run", "--rm", *_run_opts(), "--network", "none", _image(s), "python", "-c", "import spacy"],
                                   capture_output=True).returncode == 0 for s in ("pii", "validator")}
    assert has_spacy == {"pii": True, "validator": False}


def test_example_campaign_completes_with_services_in_containers(containers):
    doc = json.loads((ROOT / "examples" / "campaign.json").read_text())
    _ufctl("session", "start", "--user", doc["requester_id"], "--session", doc["session_id"])
    _ufctl("consent", "grant", "--purpose", doc["purpose"], *[a for c in doc["contacts"] for a in ("--subject", c["subject_id"])])
    workflow_id = _ufctl("publish", str(ROOT / "examples" / "campaign.json"))
    status = json.loads(_ufctl("status", workflow_id, "--json", "--wait", "120"))
    assert status["phase"] == "COMPLETED", status

    def delivered() -> list[email.message.Message]:
        return [m for m in (email.message_from_bytes(p.read_bytes()) for p in (VAR / "smtp" / "messages").glob("*.eml"))
                if m.get("X-UF-Workflow-Id") == workflow_id]
    sent = eventually(delivered, timeout_s=30, what="emails of the workflow at the SMTP sink")
    opted_out = {c["email"] for c in doc["contacts"] if c.get("opted_in") is False}
    assert not opted_out & {m["To"] for m in sent}
    # the audit container projected the trail into OpenSearch
    timeline = eventually(lambda: json.loads(_ufctl("audit", "show", workflow_id, "--json")) or None, timeout_s=30,
                          what="audit timeline")
    assert timeline
