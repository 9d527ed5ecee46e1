"""Starts and stops the five services on this machine (the local stand-in for Kubernetes):
one background process per instance, pid file in var/run, log in var/log, and `up` returns only
when every instance answers /ready. Used by `make up/down`, `make run` and the tests.

Replicas: `up --replicas N` runs N instances of every service, `--scale orchestrator=3` sets
one service's count (remembered in var/run/replicas.json, so a later `up NAME` after a crash
restarts the same number; `up --scale`/`--replicas` with a smaller count stops the instances above it). Instance i of a service has its own HTTP port
(`service_table.instance_http_port`); gRPC instances share their service's one address (the
kernel spreads connections over them, SO_REUSEPORT). Consumers share work through their
consumer groups; an instance without partitions is a ready standby.

Names: `orchestrator` means every instance of the service, `orchestrator@1` one instance
(instance 0 keeps the historical pid/log names `svc-orchestrator.pid`, `orchestrator.log`).

**For scrapers (monitoring):** every `up`/`down`/`kill` rewrites `var/run/instances.json`:
a list of {"service", "instance", "name", "pid", "http_port", "grpc_port", "metrics_url"}
for each running instance.

Blue-green (ufctl rollout): every instance reads its role (active/preview) from a role file
(`var/run/role/<instance>.labels`, the Kubernetes Downward API labels format) that the launcher
writes. A rollout's second colour runs as many instances as the first (`<service>-green`,
`<service>-green@1`, ...) on the blue instances' ports + COLOUR_PORT_STEP; `var/run/colours/<service>` records which colour is active, and an
instance `up` starts while the other colour is active comes up as a preview (ready, consuming
nothing)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from services import __version__
from services.kit.runtime import scrape_targets
from services.kit.runtime.paths import ROOT, VAR
from services.kit.runtime.role import ACTIVE, PREVIEW, write_role
from services.kit.runtime.service_table import COLOURS, HOST, SERVICES, colour_grpc_port, colour_http_port, instance_http_port

MAX_REPLICAS = 20


def _split(instance: str) -> tuple[str, int]:
    name, _, idx = instance.partition("@")
    return name, int(idx or 0)


def _iname(name: str, i: int) -> str:
    return name if i == 0 else f"{name}@{i}"


def _pidfile(instance: str) -> Path:
    return VAR / "run" / f"svc-{instance}.pid"


def _logfile(instance: str) -> Path:
    return VAR / "log" / f"{instance}.log"


def _pid(instance: str) -> int | None:
    try:
        pid = int(_pidfile(instance).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def _replicas_file() -> Path:
    return VAR / "run" / "replicas.json"


def replicas() -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads(_replicas_file().read_text()).items()}
    except (FileNotFoundError, ValueError):
        return {}


def _set_replicas(counts: dict[str, int]) -> None:
    _replicas_file().parent.mkdir(parents=True, exist_ok=True)
    _replicas_file().write_text(json.dumps({**replicas(), **counts}, indent=2))


def instances_of(name: str, *, running: bool = False) -> list[str]:
    """Configured instances of a service (or, with running=True, every instance that has a pid file)."""
    if running:
        found = {_iname(name, 0)} | {p.name[4:-4] for p in (VAR / "run").glob(f"svc-{name}@*.pid")}
        return sorted(found, key=lambda n: _split(n)[1])
    return [_iname(name, i) for i in range(replicas().get(name, 1))]


def write_instances() -> None:
    rows = []
    for name, spec in SERVICES.items():
        for inst in instances_of(name, running=True):
            pid = _pid(inst)
            if pid is None:
                continue
            port = instance_http_port(name, _split(inst)[1])
            rows.append({"service": name, "instance": _split(inst)[1], "name": inst, "pid": pid, "http_port": port,
                         "grpc_port": spec.grpc_port, "metrics_url": f"http://{HOST}:{port}/metrics"})
    (VAR / "run").mkdir(parents=True, exist_ok=True)
    tmp = VAR / "run" / "instances.json.tmp"
    tmp.write_text(json.dumps(rows, indent=2))
    tmp.replace(VAR / "run" / "instances.json")


def ready(instance: str) -> tuple[bool, str]:
    name, i = _split(instance)
    try:
        with urllib.request.urlopen(f"http://{HOST}:{instance_http_port(name, i)}/ready", timeout=3) as r:
            return r.status == 200, r.read().decode()
    except Exception as exc:  # HTTPError 503 carries the failing checks
        body = exc.read().decode() if hasattr(exc, "read") else exc.__class__.__name__
        return False, body


def start(instance: str) -> None:
    if _pid(instance):
        return
    name, i = _split(instance)
    (VAR / "run").mkdir(parents=True, exist_ok=True)
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    if live_colour(name) != "blue" and colour_pid(name, live_colour(name)) is None:
        set_live_colour(name, "blue")  # a colour file left by an earlier stack: nobody else consumes
    role = ACTIVE if live_colour(name) == "blue" else PREVIEW  # never a second active colour
    write_role(role_file(instance), role)
    env = {**os.environ, "UF_HTTP_PORT": str(instance_http_port(name, i)), "UF_INSTANCE": str(i), "PYTHONUNBUFFERED": "1",
           "UF_COLOUR": "blue", "UF_ROLE_FILE": str(role_file(instance)), **_grpc_env(name, "blue")}
    env.setdefault("UF_TRACE_EXPORTER", "file")  # locally: spans as JSON lines, one file per instance
    if env["UF_TRACE_EXPORTER"] == "file" and not env.get("UF_TRACE_FILE"):
        env["UF_TRACE_FILE"] = str(VAR / "traces" / f"{instance}.jsonl")
    log = open(_logfile(instance), "ab")
    proc = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    _pidfile(instance).write_text(str(proc.pid))
    scrape_targets.announce(instance, service=name, port=instance_http_port(name, i), colour=env.get("UF_COLOUR") or "blue",
                            version=env.get("UF_VERSION") or __version__)


def _grpc_env(name: str, colour: str) -> dict[str, str]:
    """A gRPC service serves its colour's own address too; the production one only while active."""
    return {"UF_GRPC_PREVIEW_PORT": str(colour_grpc_port(name, colour))} if SERVICES[name].grpc_port else {}


def wait_ready(instances: list[str], timeout_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    pending = list(instances)
    while pending and time.monotonic() < deadline:
        for inst in list(pending):
            if _pid(inst) is None:
                return pending  # a process died
            if ready(inst)[0]:
                pending.remove(inst)
        if pending:
            time.sleep(0.3)
    return pending


def stop(instance: str, sig: int = signal.SIGTERM, timeout_s: float = 15) -> None:
    scrape_targets.withdraw(instance)
    pid = _pid(instance)
    if pid is not None:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout_s
        while _pid(instance) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid(instance):
            os.killpg(pid, signal.SIGKILL)
            time.sleep(0.2)
    _pidfile(instance).unlink(missing_ok=True)


def tail(instance: str, n: int = 20) -> str:
    try:
        return "\n".join(_logfile(instance).read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return "(no log)"


def up(groups: list[list[str]], timeout_s: float = 90) -> int:
    """Start group after group; the instances of one service start together."""
    from services.kit.security import tls

    tls.main(list(tls.PRINCIPALS))  # the local CA and one certificate per service/Kafka principal (kept if present)
    try:
        for insts in groups:
            for inst in insts:
                start(inst)
            # Each service must be ready before the next: the orchestrator needs the validator, etc.
            pending = wait_ready(insts, timeout_s)
            if pending:
                inst = pending[0]
                print(f"launcher: {inst} not ready after {timeout_s:.0f}s; last log lines:\n{tail(inst)}\n"
                      f"launcher: see {_logfile(inst).relative_to(ROOT)}; is the stack up (`make up`)?", file=sys.stderr)
                return 1
            for inst in insts:
                name, i = _split(inst)
                print(f"launcher: {inst} ready on :{instance_http_port(name, i)}")
        return 0
    finally:
        write_instances()


def _scale_down(names: list[str]) -> None:
    """`up` with a smaller count (`--scale audit=1` after 2) stops the instances above it, last
    first, once the kept ones are ready - as a Deployment scaled down would."""
    for name in names:
        keep = replicas().get(name, 1)
        extra = [i for i in instances_of(name, running=True) if _split(i)[1] >= keep and _pid(i) is not None]
        for inst in reversed(extra):
            stop(inst)
            print(f"launcher: {inst} stopped (scaled to {keep})")
    write_instances()


def _parse_scale(values: list[str]) -> dict[str, int]:
    counts = {}
    for v in values:
        name, _, n = v.partition("=")
        if name not in SERVICES or not n.isdigit() or not 1 <= int(n) <= MAX_REPLICAS:
            raise SystemExit(f"launcher: --scale wants SERVICE=N with N in 1..{MAX_REPLICAS}, got {v!r}")
        counts[name] = int(n)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status", "restart", "kill", "forget"])
    parser.add_argument("names", nargs="*", help="services (every instance) or instances (orchestrator@1)")
    parser.add_argument("--timeout", type=float, default=90)
    parser.add_argument("--replicas", type=int, default=None, help=f"instances of every service (1..{MAX_REPLICAS})")
    parser.add_argument("--scale", action="append", default=[], metavar="SERVICE=N", help="instances of one service")
    args = parser.parse_args(argv)
    names = args.names or list(SERVICES)
    unknown = {n for n in names if _split(n)[0] not in SERVICES}
    if unknown:
        print(f"launcher: unknown service(s) {sorted(unknown)}; known: {list(SERVICES)}", file=sys.stderr)
        return 2
    if args.replicas is not None:
        if not 1 <= args.replicas <= MAX_REPLICAS:
            print(f"launcher: --replicas must be 1..{MAX_REPLICAS}", file=sys.stderr)
            return 2
        _set_replicas({_split(n)[0]: args.replicas for n in names})
    if args.scale:
        _set_replicas(_parse_scale(args.scale))
    # Service order matters for `up` (what others call first), whatever order the names came in.
    order = [s for s in SERVICES if any(_split(n)[0] == s for n in names)]

    def selected(running: bool) -> list[list[str]]:
        groups = []
        for s in order:
            explicit = [_iname(*_split(n)) for n in names if "@" in n and _split(n)[0] == s]  # validator@0 = validator
            groups.append(explicit or instances_of(s, running=running))
        return groups

    if args.action == "forget":
        return forget()
    if args.action == "up":
        rc = up(selected(running=False), args.timeout)
        if rc == 0 and (args.scale or args.replicas is not None):  # a count given: more than it is a scale-down
            _scale_down(order)
        return rc
    try:
        if args.action == "down":
            for insts in reversed(selected(running=True)):
                for inst in insts:
                    stop(inst)
            for s in order:
                stop_colour(s, "green")
            return 0
        if args.action == "kill":  # crash simulation: SIGKILL, no clean shutdown
            for insts in selected(running=True):
                for inst in insts:
                    stop(inst, signal.SIGKILL, timeout_s=5)
            return 0
        if args.action == "restart":
            for insts in selected(running=True):
                for inst in insts:
                    stop(inst)
            return up(selected(running=False), args.timeout)
    finally:
        write_instances()
    # configured instances, and any running beyond them (started before a scale-down by hand)
    shown = [sorted(set(c) | {i for i in r if _pid(i) is not None}, key=lambda n: _split(n)[1])
             for c, r in zip(selected(running=False), selected(running=True))]
    status = {inst: {"pid": _pid(inst), "ready": ready(inst)[0] if _pid(inst) else False}
              for insts in shown for inst in insts}
    print(json.dumps(status, indent=2))
    return 0 if all(s["ready"] for s in status.values()) else 1


def forget() -> int:
    """With nothing running: forget the replica counts, active colours and role files of earlier
    runs, so a stack started from empty data starts with one blue instance of each service. A
    test session that failed mid-rollout left a service scaled to 2 with green live; the next
    session on a reset stack inherited both and failed on them."""
    running = sorted(p.name[4:-4] for p in (VAR / "run").glob("svc-*.pid") if _pid(p.name[4:-4]))
    if running:
        print(f"launcher: forget needs every service down; running: {running}", file=sys.stderr)
        return 1
    _replicas_file().unlink(missing_ok=True)
    for directory in (VAR / "run" / "colours", VAR / "run" / "role"):
        shutil.rmtree(directory, ignore_errors=True)
    return 0


# -- blue-green colours (ufctl rollout) ------------------------------------------------------
def live_colour(name: str) -> str:
    """The colour of `name` that is active (blue unless a rollout promoted green)."""
    try:
        colour = (VAR / "run" / "colours" / name).read_text().strip()
    except FileNotFoundError:
        return "blue"
    return colour if colour in COLOURS else "blue"


def set_live_colour(name: str, colour: str) -> None:
    path = VAR / "run" / "colours" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(colour + "\n")


def colour_instance(name: str, colour: str, i: int = 0) -> str:
    """Blue is the service's instances (`orchestrator`, `orchestrator@1`, ... as before rollouts
    existed); green is `<name>-green`, `<name>-green@1`, ..."""
    return _iname(name if colour == "blue" else f"{name}-{colour}", i)


def colour_replicas(name: str) -> int:
    """Instances per colour: the service's configured replicas (a rollout moves every one)."""
    return replicas().get(name, 1)


def role_file(instance: str) -> Path:
    return VAR / "run" / "role" / f"{instance}.labels"


def colour_role_file(name: str, colour: str, i: int = 0) -> Path:
    return role_file(colour_instance(name, colour, i))


def colour_pid(name: str, colour: str, i: int = 0) -> int | None:
    return _pid(colour_instance(name, colour, i))


def colour_get(name: str, path: str, colour: str, timeout_s: float = 3, i: int = 0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{colour_http_port(name, colour, i)}{path}", timeout=timeout_s) as r:
            return r.status == 200, r.read().decode()
    except Exception as exc:  # HTTPError 503 carries the failing checks
        body = exc.read().decode() if hasattr(exc, "read") else exc.__class__.__name__
        return False, body


def start_colour(name: str, colour: str, role: str, env_extra: dict[str, str] | None = None) -> None:
    """Start every instance of `name` in `colour` with the given role (the rollout's new colour)."""
    for i in range(colour_replicas(name)):
        _start_colour_instance(name, colour, i, role, env_extra)


def _start_colour_instance(name: str, colour: str, i: int, role: str, env_extra: dict[str, str] | None) -> None:
    inst = colour_instance(name, colour, i)
    if _pid(inst):
        return
    (VAR / "run").mkdir(parents=True, exist_ok=True)
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    write_role(role_file(inst), role)
    env = {**os.environ, "UF_HTTP_PORT": str(colour_http_port(name, colour, i)), "UF_INSTANCE": str(i), "PYTHONUNBUFFERED": "1",
           "UF_COLOUR": colour, "UF_ROLE_FILE": str(role_file(inst)), **_grpc_env(name, colour), **(env_extra or {})}
    if "UF_TRACE_EXPORTER" not in os.environ:
        env.update(UF_TRACE_EXPORTER="file", UF_TRACE_FILE=str(VAR / "traces" / f"{inst}.jsonl"))
    with open(_logfile(inst), "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    _pidfile(inst).write_text(str(proc.pid))
    scrape_targets.announce(inst, service=name, port=colour_http_port(name, colour, i), colour=colour,
                            version=env.get("UF_VERSION") or __version__)


def wait_colour_ready(name: str, colour: str, timeout_s: float) -> bool:
    """Every instance of the colour ready (False at once when one of them died)."""
    deadline = time.monotonic() + timeout_s
    pending = set(range(colour_replicas(name)))
    while time.monotonic() < deadline:
        for i in sorted(pending):
            if colour_pid(name, colour, i) is None:
                return False
            if colour_get(name, "/ready", colour, i=i)[0]:
                pending.discard(i)
        if not pending:
            return True
        time.sleep(0.3)
    return False


def colour_running(name: str, colour: str) -> bool:
    """Every instance of the colour has a live process."""
    return all(colour_pid(name, colour, i) is not None for i in range(colour_replicas(name)))


def stop_colour(name: str, colour: str, sig: int = signal.SIGTERM, timeout_s: float = 15) -> None:
    """Stop every instance of the colour (also ones beyond today's replica count)."""
    base = name if colour == "blue" else f"{name}-{colour}"
    found = {base} | {p.name[4:-4] for p in (VAR / "run").glob(f"svc-{base}@*.pid")}
    for inst in sorted(found):
        stop(inst, sig, timeout_s)


if __name__ == "__main__":
    sys.exit(main())
