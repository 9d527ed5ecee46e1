"""Where the integration tests find Kafka, Redis and the search engine, per component, in order:

1. the environment: `UF_KAFKA_BOOTSTRAP`, `UF_REDIS_URL`, `UF_ES_URL` name a server somebody
   else runs (CI service containers, a shared dev cluster) - used as given, nothing is started;
2. testcontainers, when a Docker-compatible engine answers (`DOCKER_HOST`, or Docker's default
   socket) and `UF_TESTCONTAINERS` is not `0`: the component's image runs as a container that
   publishes the same loopback port the local stack would use (services/kit/runtime/service_table.py,
   so `UF_PORT_OFFSET` and every default keep working). Images default to the ones in
   docker-compose.yml; `UF_TC_<COMPONENT>_IMAGE` picks another (e.g. a locally built one). An
   image the engine does not have and cannot pull falls through to:
3. the local stack (`infra/stack.py up <component>`), as before.

The SMTP sink and Prometheus always come from the local stack: the tests read the sink's files
(var/smtp) and Prometheus evaluates this repository's rules file.

Podman stands in for Docker through its Docker-compatible API (docs/operations.md,
"Integration tests with containers"): `podman system service` with the runc runtime and the
nofile/nproc limits of infra/images/podman-opts.sh in a containers.conf, and
TESTCONTAINERS_RYUK_DISABLED=true (the reaper image cannot be pulled here; `stop()` removes what
was started).
"""
from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.kit.runtime import service_table as table
from tests.integration.waiting import eventually

IMAGES = {  # same images and versions as docker-compose.yml (manifest drift pins the engine tags)
    "kafka": "docker.io/apache/kafka:4.4.0",
    "redis": "docker.io/library/redis:7.0.15",
    "opensearch": "docker.io/opensearchproject/opensearch:2.19.1",
}
ENV_OF = {"kafka": "UF_KAFKA_BOOTSTRAP", "redis": "UF_REDIS_URL", "opensearch": "UF_ES_URL"}


def _kafka_env(port: int) -> dict[str, str]:
    return {
        "KAFKA_NODE_ID": "1", "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://:{port},CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093", "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT", "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1", "KAFKA_HEAP_OPTS": "-Xmx512m -Xms256m",
    }


# component -> (container port, host port, container env); Kafka listens on the host port inside
# too, so the address it advertises is the one clients dial.
def _specs() -> dict[str, tuple[int, int, dict[str, str]]]:
    return {
        "kafka": (table.KAFKA_PORT, table.KAFKA_PORT, _kafka_env(table.KAFKA_PORT)),
        "redis": (6379, table.REDIS_PORT, {}),
        "opensearch": (9200, table.ELASTICSEARCH_PORT, {
            "discovery.type": "single-node", "DISABLE_SECURITY_PLUGIN": "true",
            "DISABLE_INSTALL_DEMO_CONFIG": "true", "OPENSEARCH_JAVA_OPTS": "-Xms512m -Xmx512m"}),
    }


@dataclass
class Resolution:
    """What each component resolved to, and why (printed in the pytest header)."""

    source: dict[str, str] = field(default_factory=dict)  # component -> env | container | local
    why: dict[str, str] = field(default_factory=dict)
    containers: list[Any] = field(default_factory=list)

    def local(self) -> list[str]:
        return [c for c, s in self.source.items() if s == "local"]

    def stop(self) -> None:
        for c in self.containers:
            try:
                c.stop()
            except Exception:  # best effort at teardown; the engine may be gone
                pass
        self.containers.clear()


def engine_answers() -> bool:
    """A Docker-compatible engine is reachable (the docker SDK's ping), and the fixtures may use it."""
    if os.environ.get("UF_TESTCONTAINERS", "") == "0":
        return False
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not os.path.exists(host[len("unix://"):]):
        return False
    try:
        import docker  # testcontainers' dependency; absent = no container path
    except ImportError:
        return False
    try:
        return bool(docker.from_env(timeout=5).ping())
    except Exception:  # any failure means "no engine"
        return False


def _port_answers(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def _has_image(image: str) -> tuple[bool, str]:
    import docker
    from docker.errors import APIError, ImageNotFound

    client = docker.from_env(timeout=30)
    try:
        client.images.get(image)
        return True, "present"
    except ImageNotFound:
        pass
    try:
        client.images.pull(image)
        return True, "pulled"
    except (APIError, ImageNotFound) as exc:
        return False, f"cannot pull {image}: {str(exc).splitlines()[0][:160]}"


def _start(component: str, image: str, wait: Callable[[int], bool], timeout_s: float) -> Any:
    from testcontainers.core.container import DockerContainer

    inner, host_port, env = _specs()[component]
    c = DockerContainer(image)
    for k, v in env.items():
        c = c.with_env(k, v)
    # loopback only, on the port the local stack would use
    # loopback only: the docker SDK takes an (address, port) binding, which with_bind_ports cannot express
    c.ports[str(inner)] = ("127.0.0.1", host_port)
    c.start()
    try:
        eventually(lambda: wait(host_port), timeout_s=timeout_s, what=f"{component} container ready")
    except AssertionError:
        logs = c.get_wrapped_container().logs(tail=20).decode(errors="replace")
        c.stop()
        raise RuntimeError(f"{component} container ({image}) not ready in {timeout_s:.0f}s:\n{logs}") from None
    return c


def resolve(probes: dict[str, Callable[[int], bool]]) -> Resolution:
    """Decide, and start containers where that is the choice. `probes[c](port)` is a readiness
    check (the local stack's own protocol probes)."""
    res = Resolution()
    engine = None
    for comp in ("kafka", "redis", "opensearch"):
        if os.environ.get(ENV_OF[comp]):
            res.source[comp], res.why[comp] = "env", f"{ENV_OF[comp]}={_redact(os.environ[ENV_OF[comp]])}"
            continue
        if engine is None:
            engine = engine_answers()
        if not engine:
            res.source[comp], res.why[comp] = "local", "no Docker-compatible engine answers"
            continue
        port = _specs()[comp][1]
        if _port_answers(port):
            res.source[comp], res.why[comp] = "local", f"port {port} already answers (a running stack)"
            continue
        image = os.environ.get(f"UF_TC_{comp.upper()}_IMAGE") or IMAGES[comp]
        ok, how = _has_image(image)
        if not ok:
            res.source[comp], res.why[comp] = "local", how
            continue
        res.containers.append(_start(comp, image, probes[comp], timeout_s=float(os.environ.get("UF_STACK_TIMEOUT") or 300)))
        res.source[comp], res.why[comp] = "container", f"{image} ({how})"
    return res


def _redact(url: str) -> str:
    """An endpoint for a log line: never its credentials."""
    parts = urllib.parse.urlsplit(url if "://" in url else "tcp://" + url)
    return f"{parts.hostname}:{parts.port}" if parts.hostname else "(set)"
