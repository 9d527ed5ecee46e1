"""Who this process is to Kafka: every Kafka client of the suite connects over mutual TLS with the
certificate of its principal (the certificate's common name = the Kafka principal `User:<cn>`).

The broker has no unauthenticated listener (infra/stack.py, docker-compose.yml, k8s): a client
without a certificate from the suite's CA does not get past the handshake, and a client with a
certificate only does what the ACLs derived from `infra/topics.yaml` give its principal (the
topics tool applies them, `services/kit/contracts/acls.py`). There is no PLAINTEXT mode to fall
back to: missing certificate files are an error at start, never a silent downgrade (fail closed).

The certificates are the same files the gRPC mutual TLS uses (services/kit/security/tls.py:
UF_TLS_CA_FILE / UF_TLS_CERT_FILE / UF_TLS_KEY_FILE, default var/tls/<principal>.{crt,key},
created by `make up`; on Kubernetes mounted from the service's Secret). One identity per service
on both the bus and the RPC.

Wiring: `configure_kafka_identity("orchestrator")` once at start (services do it in
services/kit/runtime/app.py, ufctl in its main); every kit client then calls `client_args()`.
Tests and tools that need another principal pass it explicitly: `client_args("admin")`.
"""
from __future__ import annotations

import os
import ssl
import threading
from typing import Any

from services.kit.security import tls

SECURITY_PROTOCOL = "SSL"
ADMIN = "admin"  # the topics tool's principal (a Kafka super user: creates topics and ACLs)

_identity: str | None = None
_contexts: dict[str, ssl.SSLContext] = {}
_guard = threading.Lock()


class KafkaAuthError(Exception):
    """No Kafka identity configured, or its certificate files are unreadable (names the file)."""


def configure_kafka_identity(principal: str) -> None:
    """Set the principal this process's Kafka clients present; call once at start."""
    global _identity
    with _guard:
        _identity = principal


def identity() -> str:
    """The configured principal, else UF_KAFKA_PRINCIPAL, else UF_SERVICE_NAME; none is an error."""
    name = _identity or os.environ.get("UF_KAFKA_PRINCIPAL") or os.environ.get("UF_SERVICE_NAME")
    if not name:
        raise KafkaAuthError("no Kafka identity: call configure_kafka_identity(name) or set UF_KAFKA_PRINCIPAL")
    return name


def ssl_context(principal: str) -> ssl.SSLContext:
    """A client TLS context presenting `principal`'s certificate and trusting only the suite's CA
    (hostname checked: local broker certificates name 127.0.0.1 and localhost)."""
    with _guard:
        ctx = _contexts.get(principal)
        if ctx is None:
            ca, crt, key = tls.ca_file(), tls.cert_file(principal), tls.key_file(principal)
            for path in (ca, crt, key):
                if not path.is_file():
                    raise KafkaAuthError(f"cannot read {path} (run `make up`, or set "
                                         "UF_TLS_CA_FILE/UF_TLS_CERT_FILE/UF_TLS_KEY_FILE)")
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(crt), str(key))
            _contexts[principal] = ctx
        return ctx


def client_args(principal: str | None = None) -> dict[str, Any]:
    """Keyword arguments for every aiokafka client (producer, consumer, admin)."""
    return {"security_protocol": SECURITY_PROTOCOL, "ssl_context": ssl_context(principal or identity())}
