"""Search-engine identities: who may do what in OpenSearch, declared once (like the Kafka ACLs in
services/kit/contracts/acls.py and the Redis users in redis_users.py).

Authentication is the client certificate (OpenSearch security plugin, `clientcert` auth domain):
the user is the certificate's common name, the same identity the process has on Kafka, Redis and
gRPC (services/kit/security/tls.py). There are no passwords and no anonymous access; the HTTP
listener demands a certificate from the suite's CA (`clientauth_mode: REQUIRE`), so a client
without one does not get past the TLS handshake.

Least privilege: the audit service is the only writer of the trail (`uf-audit-*`: the monthly
event indices, their alias and the checkpoint copies); the CLI reads it. `ufctl audit replay`
and `ufctl dr restore` rebuild the audit service's projection, so they act as the audit writer
(they need its certificate - on Kubernetes they run in the audit pod). `admin` is the security
plugin's admin certificate (`plugins.security.authcz.admin_dn`): the stack's probe, the test
suite and break-glass only.

Stdlib only: infra/stack.py writes the plugin's configuration from it before the venv exists.
The files are JSON, which the plugin's YAML parser reads unchanged.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ORG = "universal-framework"
ADMIN = "admin"
NODE = "opensearch"  # the search node's own certificate (transport + HTTP TLS)
TRAIL = ["uf-audit-*"]  # every index of the audit trail (events, checkpoints)

# What an index writer needs on its own indices: documents, creating the monthly indices and the
# alias swap of a replay, mappings, refreshes and settings (refresh interval during a rebuild).
WRITE = ["indices_all"]
# a reader may refresh (make the writer's documents visible to its own search; changes nothing)
READ = ["read", "indices:admin/refresh*", "indices:admin/get", "indices:admin/aliases/get", "indices:admin/mappings/get", "indices:monitor/*"]

ROLES: dict[str, dict[str, Any]] = {
    "uf_trail_writer": {
        "description": "the audit service: writes the audit trail indices, nothing else",
        "cluster_permissions": ["cluster_composite_ops", "cluster_monitor", "indices:data/read/scroll*",
                                "indices:admin/template/*", "indices:admin/index_template/*"],
        "index_permissions": [{"index_patterns": TRAIL, "allowed_actions": WRITE}],
    },
    "uf_trail_reader": {
        "description": "the CLI (status, audit report/verify/prove/export): reads the trail, writes nothing",
        # scroll*: a scan (replay, export) clears its scroll context at the end
        "cluster_permissions": ["cluster_composite_ops_ro", "cluster_monitor", "indices:data/read/scroll*"],
        "index_permissions": [{"index_patterns": TRAIL, "allowed_actions": READ}],
    },
}

# certificate CN -> roles
USERS: dict[str, list[str]] = {
    "audit": ["uf_trail_writer"],
    "ufctl": ["uf_trail_reader"],
}


def dn(cn: str) -> str:
    """The certificate subject as the plugin compares it (RFC 2253, as tls.py issues it)."""
    return f"CN={cn},O={ORG}"


def node_settings(tls_dir: Path) -> dict[str, str | list[str]]:
    """The node settings that switch the plugin on with the suite's CA and the node's certificate
    (transport and HTTP TLS, client certificate required on HTTP). Lists stay lists: a DN given
    as a plain string would be split at its commas."""
    crt, key, ca = (str(tls_dir / n) for n in (f"{NODE}.crt", f"{NODE}.key", "ca.crt"))
    out: dict[str, str | list[str]] = {
        "plugins.security.authcz.admin_dn": [dn(ADMIN)],
        "plugins.security.nodes_dn": [dn(NODE)],
        "plugins.security.allow_default_init_securityindex": "true",
        "plugins.security.audit.type": "noop",  # the suite keeps its own, signed audit trail
        "plugins.security.ssl.http.enabled": "true",
        "plugins.security.ssl.http.clientauth_mode": "REQUIRE",
        "plugins.security.ssl.transport.enforce_hostname_verification": "false",
        "plugins.security.system_indices.enabled": "true",
        # lets the admin certificate re-apply config.yml on every start (infra/stack.py)
        "plugins.security.unsupported.restapi.allow_securityconfig_modification": "true",
    }
    for layer in ("http", "transport"):
        out[f"plugins.security.ssl.{layer}.pemcert_filepath"] = crt
        out[f"plugins.security.ssl.{layer}.pemkey_filepath"] = key
        out[f"plugins.security.ssl.{layer}.pemtrustedcas_filepath"] = ca
    return out


def opensearch_yml(tls_dir: Path) -> str:
    """node_settings as opensearch.yml lines (JSON values are YAML flow values)."""
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in node_settings(tls_dir).items())


def _meta(kind: str) -> dict[str, Any]:
    return {"_meta": {"type": kind, "config_version": 2}}


def config_files() -> dict[str, dict[str, Any]]:
    """The plugin's configuration directory (`opensearch-security/`), file name -> content."""
    authc = {"clientcert_auth_domain": {
        "description": "the certificate's CN is the user (services/kit/contracts/search_roles.py)",
        "http_enabled": True, "transport_enabled": False, "order": 0,
        "http_authenticator": {"type": "clientcert", "config": {"username_attribute": "cn"}, "challenge": False},
        "authentication_backend": {"type": "noop"},
    }}
    return {
        "config.yml": {**_meta("config"), "config": {"dynamic": {
            "http": {"anonymous_auth_enabled": False}, "authc": authc, "authz": {}}}},
        "roles.yml": {**_meta("roles"), **ROLES},
        "roles_mapping.yml": {**_meta("rolesmapping"), **role_mappings()},
        "internal_users.yml": _meta("internalusers"),
        "action_groups.yml": _meta("actiongroups"),
        "tenants.yml": _meta("tenants"),
        "nodes_dn.yml": _meta("nodesdn"),
        "allowlist.yml": {**_meta("allowlist"), "config": {"enabled": False}},
    }


def role_mappings() -> dict[str, dict[str, Any]]:
    # the admin certificate manages the plugin (admin_dn) but is an ordinary user on the REST
    # API: it gets the built-in all_access role explicitly
    mapping: dict[str, dict[str, Any]] = {"all_access": {"users": [ADMIN], "backend_roles": [], "hosts": []}}
    for user, roles in USERS.items():
        for role in roles:
            mapping.setdefault(role, {"users": [], "backend_roles": [], "hosts": []})["users"].append(user)
    return mapping


def fingerprint() -> str:
    """SHA-256 of the declaration (what infra/stack.py compares with the node's applied one)."""
    return hashlib.sha256(json.dumps(config_files(), sort_keys=True).encode()).hexdigest()


def write_config(directory: Path) -> Path:
    """Write the configuration files into `directory` (read by the plugin when it initialises its
    index on the first start)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in config_files().items():
        (directory / name).write_text(json.dumps(content, indent=1) + "\n")
    return directory


IMAGE_CONFIG = "/usr/share/opensearch/config"  # the official image's config directory
IMAGE_TLS = IMAGE_CONFIG + "/uf-tls"  # where compose/k8s put the CA and the node's certificate


def write_image_config(directory: Path, tls_dir: str = IMAGE_TLS) -> Path:
    """For the official image (docker-compose.yml, k8s dev overlay): `opensearch.yml` (listen on
    all interfaces, the plugin's settings with the certificates under `tls_dir`) and the plugin's
    `opensearch-security/` directory."""
    write_config(directory / "opensearch-security")
    (directory / "opensearch.yml").write_text(
        "# generated by services/kit/contracts/search_roles.py\nnetwork.host: 0.0.0.0\n" + opensearch_yml(Path(tls_dir)))
    return directory


def main(argv: list[str] | None = None) -> int:
    """`python -m services.kit.contracts.search_roles DIR`: the image's configuration files
    (the compose certs job; tools/k8s_dev_secrets.py calls write_image_config)."""
    args = argv if argv is not None else sys.argv[1:]
    print(f"search security config: {write_image_config(Path(args[0]) if args else Path('search'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
