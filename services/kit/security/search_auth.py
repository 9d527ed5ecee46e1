"""Who this process is to the search engine, and the one place its clients are built.

OpenSearch runs with its security plugin (infra/stack.py, docker-compose.yml, k8s): HTTPS only,
a client certificate from the suite's CA required on every connection, and the user is the
certificate's common name - the same identity and files as on Kafka, Redis and gRPC
(UF_TLS_CA_FILE / UF_TLS_CERT_FILE / UF_TLS_KEY_FILE, default var/tls/<identity>.{crt,key};
on Kubernetes the service's certificate Secret). What each identity may do is declared in
services/kit/contracts/search_roles.py (the audit service writes the trail, the CLI reads it).

Fail closed: a UF_ES_URL that is not https is refused here, never sent in clear; missing
certificate files are an error naming the file.
"""
from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

from opensearchpy import AsyncOpenSearch, OpenSearch

from services.kit.security import kafka_auth, tls

WRITER = "audit"  # the trail's only writer (replays and DR restores act as it)


class SearchAuthError(Exception):
    """The search engine URL is not https, or a certificate file is unreadable (names the
    scheme or the file, never key material)."""


def identity() -> str:
    """The process's identity: the same principal as on Kafka (configure_kafka_identity)."""
    return kafka_auth.identity()


def ssl_context(who: str | None = None) -> ssl.SSLContext:
    """Mutual TLS as `who` (default: this process), trusting only the suite's CA - for plain
    urllib requests (tools, tests); opensearch-py clients take client_args()."""
    return kafka_auth.ssl_context(who or identity())


def client_args(url: str, who: str | None = None) -> dict[str, Any]:
    """Keyword arguments for opensearch-py clients (sync and async alike)."""
    scheme = urlsplit(url).scheme
    if scheme != "https":
        raise SearchAuthError(f"the search engine URL must be https (got {scheme or 'no scheme'}://): "
                              "it demands a client certificate; set UF_ES_URL=https://...")
    name = who or identity()
    ca, crt, key = tls.ca_file(), tls.cert_file(name), tls.key_file(name)
    for path in (ca, crt, key):
        if not path.is_file():
            raise SearchAuthError(f"cannot read {path} (run `make up`, or set "
                                  "UF_TLS_CA_FILE/UF_TLS_CERT_FILE/UF_TLS_KEY_FILE)")
    # files, not an ssl.SSLContext: urllib3 (the sync client) sends no SNI to an IP address,
    # which a hostname-checking context refuses; with the files it checks the IP itself
    return {"hosts": [url], "use_ssl": True, "verify_certs": True, "ssl_show_warn": True,
            "ca_certs": str(ca), "client_cert": str(crt), "client_key": str(key)}


def client(url: str, who: str | None = None, **kwargs: Any) -> OpenSearch:
    return OpenSearch(**client_args(url, who), **kwargs)


def async_client(url: str, who: str | None = None, **kwargs: Any) -> AsyncOpenSearch:
    return AsyncOpenSearch(**client_args(url, who), **kwargs)
