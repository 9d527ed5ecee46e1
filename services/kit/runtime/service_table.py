"""The one table of the suite's parts and their loopback ports (stdlib only: `infra/stack.py`
imports it before the virtualenv exists).

`UF_PORT_OFFSET` shifts every default port at once, so a second complete suite (another
checkout, a CI job beside a developer's stack) runs on the same machine without collisions.
An explicit variable (`UF_KAFKA_BOOTSTRAP`, `UF_HTTP_PORT`, ...) still wins over the table."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PORT_OFFSET = int(os.environ.get("UF_PORT_OFFSET") or 0)
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    http_port: int  # /health /ready /metrics
    grpc_port: int | None = None


def _p(port: int) -> int:
    return port + PORT_OFFSET


# Start order: what others call first.
SERVICES: dict[str, ServiceSpec] = {
    s.name: s
    for s in (
        ServiceSpec("pii", _p(18083), _p(50052)),
        ServiceSpec("validator", _p(18082), _p(50051)),
        ServiceSpec("audit", _p(18084)),
        ServiceSpec("delivery", _p(18085)),
        ServiceSpec("orchestrator", _p(18081)),
    )
}

KAFKA_PORT = _p(19092)
KAFKA_CONTROLLER_PORT = _p(19093)
ELASTICSEARCH_PORT = _p(19200)
REDIS_PORT = _p(16379)
SMTP_PORT = _p(10025)
PROMETHEUS_PORT = _p(19090)
# The DR site (infra/dr_site.py): a second, single-broker Kafka cluster fed by MirrorMaker 2
KAFKA_DR_PORT = _p(19192)
KAFKA_DR_CONTROLLER_PORT = _p(19193)
# A throw-away Redis that tests/integration/test_redis_persistence.py restarts (never the suite's)
REDIS_SCRATCH_PORT = _p(16479)
# The local S3-compatible server of the DR backups' S3 target (infra/s3_site.py: s3proxy), started only by what needs it
S3_PORT = _p(19380)
LOADGEN_PORT = _p(18470)  # bench/load_gateway.py (x470: clear of every other port modulo the 1000-step offsets)

KAFKA_BROKER_PORT_STEP = 2  # broker n of a local cluster: 19092 + 2*(n-1), its controller one above (19094/95, 19096/97)
MAX_LOCAL_BROKERS = 3


def kafka_brokers() -> int:
    """Brokers of the local Kafka: `UF_KAFKA_BROKERS`, else what `infra/stack.py up --brokers N`
    recorded in var/run/kafka-brokers (so every later command - services, tests, ufctl - gets
    the whole cluster as bootstrap without exporting anything), else 1."""
    value = os.environ.get("UF_KAFKA_BROKERS")
    if not value:
        var = Path(os.environ.get("UF_VAR_DIR") or Path(os.environ.get("UF_ROOT") or Path(__file__).resolve().parents[3]) / "var")
        try:
            value = (var / "run" / "kafka-brokers").read_text().strip()
        except OSError:
            value = "1"
    return max(1, min(MAX_LOCAL_BROKERS, int(value or 1)))


def kafka_broker_port(node: int) -> int:
    return KAFKA_PORT + KAFKA_BROKER_PORT_STEP * (node - 1)


def kafka_controller_port(node: int) -> int:
    return KAFKA_CONTROLLER_PORT + KAFKA_BROKER_PORT_STEP * (node - 1)


KAFKA_BOOTSTRAP = ",".join(f"{HOST}:{kafka_broker_port(n)}" for n in range(1, kafka_brokers() + 1))
REDIS_URL = f"redis://{HOST}:{REDIS_PORT}/0"
ES_URL = f"https://{HOST}:{ELASTICSEARCH_PORT}"  # TLS + client certificate (security/search_auth.py)
PROMETHEUS_URL = f"http://{HOST}:{PROMETHEUS_PORT}"


def grpc_addr(name: str) -> str:
    port = SERVICES[name].grpc_port
    if port is None:
        raise KeyError(f"{name} serves no gRPC")
    return f"{HOST}:{port}"


def http_port(name: str, colour: str = "blue") -> int:
    """The service's HTTP port, honouring a per-service override (`UF_<NAME>_HTTP_PORT`). The
    second colour of a blue-green rollout listens `COLOUR_PORT_STEP` higher."""
    base = int(os.environ.get(f"UF_{name.upper()}_HTTP_PORT") or SERVICES[name].http_port)
    return base + (COLOUR_PORT_STEP if colour == "green" else 0)


COLOURS = ("blue", "green")
COLOUR_PORT_STEP = 200  # green (rollout) instance 0: 18281-18285 (+ UF_PORT_OFFSET)
INSTANCE_PORT_BASE = 18500  # instances 1..19 of service k listen on 18500 + 20*k + i (+ offset)


def colour_grpc_port(name: str, colour: str) -> int:
    """A colour's own gRPC address (always served locally, see grpc_roles.py); the production
    address is the service's gRPC port, served by whichever colour is active."""
    port = SERVICES[name].grpc_port
    if port is None:
        raise KeyError(f"{name} serves no gRPC")
    return port + (COLOUR_PORT_STEP if colour == "green" else 2 * COLOUR_PORT_STEP)


def colour_http_port(name: str, colour: str, instance: int = 0) -> int:
    """HTTP port of one instance of a colour: blue is `instance_http_port`, green the same
    `COLOUR_PORT_STEP` higher (instance 0: 18281-18285, the others 18700-18799 + offset, a block
    clear of every other default port modulo the 1000-step offsets)."""
    return instance_http_port(name, instance) + (COLOUR_PORT_STEP if colour == "green" else 0)


def instance_http_port(name: str, instance: int = 0) -> int:
    """HTTP port of one instance of a service (several instances run side by side locally).
    Instance 0 keeps the service's port; the others use 18500-18599 (+ UF_PORT_OFFSET), a block
    that no other default port shares modulo the 1000-step offsets of parallel suites.
    gRPC instances share the service's one port (SO_REUSEPORT), so callers keep one address."""
    if instance == 0:
        return http_port(name)
    return _p(INSTANCE_PORT_BASE + 20 * list(SERVICES).index(name) + instance)
