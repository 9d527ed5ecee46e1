"""Mutual TLS for internal gRPC: every server demands a client certificate from the suite's CA,
and every method has an allow-list of calling services (the certificate's common name).

Files (PEM), per service - on Kubernetes mounted from a Secret / cert-manager:
  UF_TLS_CA_FILE    the CA certificate both sides trust   (default var/tls/ca.crt)
  UF_TLS_CERT_FILE  this service's certificate, CN = service name (default var/tls/<service>.crt)
  UF_TLS_KEY_FILE   its private key                        (default var/tls/<service>.key)
Locally, `make up` (the launcher) creates a CA under var/tls/ and one certificate per service
(`python -m services.kit.security.tls SERVICE...`); the CA key stays in var/tls/ca.key (0600).

Who may call what (`ALLOWED_CALLERS`) is a contract between services, so it lives in the kit:
a call from an unlisted service is refused with PERMISSION_DENIED before any handler runs; a
peer without a certificate from the CA does not get past the TLS handshake.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.kit.runtime import paths

# method -> services whose certificates may call it
ALLOWED_CALLERS: dict[str, frozenset[str]] = {
    "/uf.v1.Validator/ValidateTransition": frozenset({"orchestrator"}),
    "/uf.v1.PiiScanner/Scan": frozenset({"validator"}),
}
SERVICES = ("orchestrator", "validator", "pii", "audit", "delivery")
# Kafka-only identities (services/kit/security/kafka_auth.py): the broker itself, the topics tool's
# admin, the CLI/publisher and the checkpoint witness. Each is a Kafka principal `User:<cn>`.
BROKER_NAME = "kafka"
KAFKA_ONLY = (BROKER_NAME, "admin", "ufctl", "witness")
# the search node's own certificate (transport + HTTP TLS; services/kit/contracts/search_roles.py)
SEARCH_NODE = "opensearch"
PRINCIPALS = SERVICES + KAFKA_ONLY + (SEARCH_NODE,)
TLS_DIR = paths.VAR / "tls"
VALID_DAYS = 365


def _dir() -> Path:
    return Path(os.environ.get("UF_TLS_DIR") or TLS_DIR)


def ca_file() -> Path:
    return Path(os.environ.get("UF_TLS_CA_FILE") or _dir() / "ca.crt")


def cert_file(service: str) -> Path:
    return Path(os.environ.get("UF_TLS_CERT_FILE") or _dir() / f"{service}.crt")


def key_file(service: str) -> Path:
    return Path(os.environ.get("UF_TLS_KEY_FILE") or _dir() / f"{service}.key")


class TlsError(Exception):
    """Certificates missing or unreadable (message names the file, never key material)."""


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise TlsError(f"cannot read {path} (run `make up`, or set UF_TLS_CA_FILE/UF_TLS_CERT_FILE/UF_TLS_KEY_FILE)") from None


# -- credentials -------------------------------------------------------------------------------
def server_credentials(service: str) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials([(_read(key_file(service)), _read(cert_file(service)))],
                                       root_certificates=_read(ca_file()), require_client_auth=True)


def channel_credentials(service: str) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(root_certificates=_read(ca_file()), private_key=_read(key_file(service)),
                                        certificate_chain=_read(cert_file(service)))


def secure_channel(address: str, service: str, **kwargs: Any) -> grpc.aio.Channel:
    """A channel to `address` presenting `service`'s certificate. The server's certificate must
    name the host we dial (all local certificates carry 127.0.0.1 and localhost)."""
    return grpc.aio.secure_channel(address, channel_credentials(service), **kwargs)


def caller_of(context: grpc.aio.ServicerContext) -> str:
    """The calling service: the common name of the verified client certificate ("" if none)."""
    names = (context.auth_context() or {}).get("x509_common_name") or []
    return names[0].decode() if names else ""


class CallerAllowList(grpc.aio.ServerInterceptor):
    """Refuses a call whose verified caller is not allowed for the method (PERMISSION_DENIED);
    a method missing from the table is refused to everyone (fail closed)."""

    def __init__(self, allowed: dict[str, frozenset[str]] | None = None) -> None:
        self.allowed = ALLOWED_CALLERS if allowed is None else allowed

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: Any) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        method, inner, allowed = details.method, handler.unary_unary, self.allowed.get(details.method, frozenset())

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            caller = caller_of(context)
            if caller not in allowed:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{caller or 'anonymous'} may not call {method}")
            return await inner(request, context)

        return grpc.unary_unary_rpc_method_handler(guarded, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)


# -- the local CA ----------------------------------------------------------------------------
def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "universal-framework"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ensure_ca(directory: Path | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    d = directory or _dir()
    d.mkdir(parents=True, exist_ok=True)
    crt, key = d / "ca.crt", d / "ca.key"
    if crt.exists() and key.exists():
        loaded = serialization.load_pem_private_key(key.read_bytes(), None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(crt.read_bytes()), loaded
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("uf-local-ca")).issuer_name(_name("uf-local-ca"))
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(ca_key, hashes.SHA256()))
    _write_private(key, _pem_key(ca_key))
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, ca_key


def issue(service: str, directory: Path | None = None, *, force: bool = False) -> Path:
    """A certificate for `service` (CN and DNS name = service; 127.0.0.1 and localhost as
    alternative names) signed by the local CA. Kept if it already exists."""
    d = directory or _dir()
    crt, key_path = d / f"{service}.crt", d / f"{service}.key"
    if crt.exists() and key_path.exists() and not force:
        return crt
    ca_cert, ca_key = ensure_ca(d)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName(service), x509.DNSName("localhost"),
                                       x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(_name(service)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
                                                  x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_private(key_path, _pem_key(key))
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return crt


BROKER_FILES = (f"{BROKER_NAME}.p12", f"{BROKER_NAME}.truststore.p12", f"{BROKER_NAME}.p12.password")


def broker_keystore(directory: Path | None = None) -> tuple[Path, Path, Path]:
    """The broker's stores as the JVM reads them without extra tooling: its key and certificate
    in a password-protected PKCS#12 keystore, the CA in a PKCS#12 truststore, and the file with
    their password - (keystore, truststore, password file), mode 0640 (the broker's container
    reads them through its group). Rewritten when missing or older than the certificate."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    d = directory or _dir()
    crt = issue(BROKER_NAME, d)
    store, trust, secret = (d / name for name in BROKER_FILES)
    if all(p.exists() for p in (store, trust, secret)) and store.stat().st_mtime >= crt.stat().st_mtime:
        return store, trust, secret
    password = os.urandom(18).hex().encode()
    key = serialization.load_pem_private_key((d / f"{BROKER_NAME}.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate((d / "ca.crt").read_bytes())
    keystore = pkcs12.serialize_key_and_certificates(BROKER_NAME.encode(), key, x509.load_pem_x509_certificate(crt.read_bytes()),
                                                     None, serialization.BestAvailableEncryption(password))
    truststore = pkcs12.serialize_java_truststore([pkcs12.PKCS12Certificate(ca, b"uf-ca")],
                                                  serialization.BestAvailableEncryption(password))
    for path, data in ((secret, password), (store, keystore), (trust, truststore)):
        _write_private(path, data)
        path.chmod(0o640)
    return store, trust, secret


def main(argv: list[str] | None = None) -> int:
    """`python -m services.kit.security.tls [NAME...]`: the local CA, one certificate per service
    and Kafka principal, and the broker's keystore."""
    names = (argv if argv is not None else sys.argv[1:]) or list(PRINCIPALS)
    for name in names:
        issue(name)
    if BROKER_NAME in names:
        broker_keystore()
    if SEARCH_NODE in names:  # the search node's image reads its key through the shared group
        key_file(SEARCH_NODE).chmod(0o640)
    print(f"tls: CA and {len(names)} certificate(s) in {_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
