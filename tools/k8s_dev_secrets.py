"""Key material for the dev overlay (k8s/overlays/dev), generated locally and never committed.

In production the operator provides the same objects (Secrets `uf-signing-keys`, `uf-auth`,
`uf-endpoints`; ConfigMap `uf-trusted-keys`) from their secret store; in dev, kustomize's
generators read the files this writes into k8s/overlays/dev/secrets/ (git-ignored):

    signing-keys.env   <service>=<Ed25519 seed, hex>      -> Secret uf-signing-keys (UF_SIGNING_KEY)
    trusted-keys.env   <key id>.pub=<public key, hex>      -> ConfigMap uf-trusted-keys (UF_TRUSTED_KEYS_DIR)
    jwt-hs256.key      HS256 key, hex                      -> Secret uf-auth (UF_AUTH_KEY_FILE)
    tls/               dev CA + one certificate per service -> Secret uf-tls (UF_TLS_DIR; mTLS for gRPC
                       and Kafka; `admin` for the topics Job) (the CA key stays here, outside the cluster)
    tls/kafka.*.p12    the broker's key/trust stores + password -> Secret uf-kafka-broker
    redis-users/       one password per Redis ACL user -> Secret uf-redis-users (UF_REDIS_PASSWORD_FILE);
                       users.acl + admin.password -> Secret uf-redis-acl (the server)
    search/            opensearch.yml + the security plugin's roles (search_roles.py) -> Secret
                       uf-search-config; the node's certificate (tls/opensearch.*) -> Secret uf-search-tls

Idempotent: existing files are kept (so pods keep their keys across `skaffold dev` restarts).
Public keys are not secret, so they travel in a ConfigMap.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.kit.contracts import redis_users, search_roles
from services.kit.runtime.paths import ROOT
from services.kit.security import tls
from services.kit.security.signing import Signer

SERVICES = ("orchestrator", "validator", "pii", "audit", "delivery")
DEFAULT_DIR = ROOT / "k8s" / "overlays" / "dev" / "secrets"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def generate(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Write whatever is missing; return the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    signing = directory / "signing-keys.env"
    if not signing.exists():
        _write_private(signing, "".join(f"{s}={secrets.token_hex(32)}\n" for s in SERVICES))
        written.append(signing)
    trusted = directory / "trusted-keys.env"
    if not trusted.exists() or signing in written:
        lines = []
        for raw in signing.read_text().splitlines():
            service, seed = raw.split("=", 1)
            signer = Signer(service, Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed)))
            lines.append(f"{signer.key_id}.pub={signer.public_hex}\n")
        trusted.write_text("".join(lines))
        written.append(trusted)
    jwt_key = directory / "jwt-hs256.key"
    if not jwt_key.exists():
        _write_private(jwt_key, secrets.token_hex(32))
        written.append(jwt_key)
    tls_dir = directory / "tls"
    # admin: the topics Job (ACLs); the broker; the search node (TLS, security plugin)
    for service in (*SERVICES, "admin", tls.BROKER_NAME, tls.SEARCH_NODE):
        crt = tls_dir / f"{service}.crt"
        if not crt.exists():
            tls.issue(service, tls_dir)
            written.append(crt)
    users = directory / "redis-users"
    if not (users / "users.acl").exists():
        written.append(redis_users.write_acl_file(users))
    stores = [tls_dir / name for name in tls.BROKER_FILES]
    if not all(p.exists() for p in stores):
        written += list(tls.broker_keystore(tls_dir))
    search = directory / "search"
    if not (search / "opensearch.yml").exists():
        search_roles.write_image_config(search)
        written.append(search / "opensearch.yml")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    for path in generate(args.dir):
        print(f"k8s-dev-secrets: wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
