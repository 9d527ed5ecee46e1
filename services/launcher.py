"""Starts and stops the five services on this machine (the local stand-in for Kubernetes):
one background process each, pid file in var/run, log in var/log, and `up` returns only when
every service answers /ready. Used by `make up/down`, `make run` and the tests.

Blue-green (ufctl rollout): a service can run in two colours at once. Each instance has a role
file (`var/run/role/<service>-<colour>.labels`, the same `role="..."` format as the Kubernetes
Downward API labels file) that the launcher writes and the instance watches; the colour whose
role is active is recorded in `var/run/colours/<service>`, and `up`/`status` act on that one."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from services import __version__
from services.kit.runtime import scrape_targets
from services.kit.runtime.paths import ROOT, VAR
from services.kit.runtime.role import ACTIVE, write_role
from services.kit.runtime.service_table import COLOURS, SERVICES, http_port


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


def instance(name: str, colour: str | None = None) -> str:
    """Instance name: the service name for blue (as before rollouts existed), `<name>-green`."""
    colour = colour or live_colour(name)
    return name if colour == "blue" else f"{name}-{colour}"


def role_file(name: str, colour: str) -> Path:
    return VAR / "run" / "role" / f"{name}-{colour}.labels"


def _pidfile(name: str, colour: str | None = None) -> Path:
    return VAR / "run" / f"svc-{instance(name, colour)}.pid"


def pid(name: str, colour: str | None = None) -> int | None:
    """The running process of `name` in `colour` (default: the live colour), or None."""
    try:
        found = int(_pidfile(name, colour).read_text())
        os.kill(found, 0)
        return found
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def http_get(name: str, path: str, colour: str | None = None, timeout_s: float = 3) -> tuple[bool, str]:
    port = http_port(name, colour or live_colour(name))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as r:
            return r.status == 200, r.read().decode()
    except Exception as exc:  # HTTPError 503 carries the failing checks
        body = exc.read().decode() if hasattr(exc, "read") else exc.__class__.__name__
        return False, body


def ready(name: str, colour: str | None = None) -> tuple[bool, str]:
    return http_get(name, "/ready", colour)


def start(name: str, colour: str | None = None, role: str = ACTIVE, env_extra: dict[str, str] | None = None) -> None:
    """Start one instance of `name` in `colour` (default: the live one) with the given role."""
    colour = colour or live_colour(name)
    if pid(name, colour):
        return
    inst = instance(name, colour)
    (VAR / "run").mkdir(parents=True, exist_ok=True)
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    write_role(role_file(name, colour), role)
    env = {**os.environ, "UF_HTTP_PORT": str(http_port(name, colour)), "PYTHONUNBUFFERED": "1",
           "UF_COLOUR": colour, "UF_ROLE_FILE": str(role_file(name, colour)), **(env_extra or {})}
    if "UF_TRACE_EXPORTER" not in os.environ:  # locally: spans as JSON lines, one file per instance
        env.update(UF_TRACE_EXPORTER="file", UF_TRACE_FILE=str(VAR / "traces" / f"{inst}.jsonl"))
    with open(VAR / "log" / f"{inst}.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    _pidfile(name, colour).write_text(str(proc.pid))
    scrape_targets.announce(inst, service=name, port=http_port(name, colour), colour=colour,
                            version=env.get("UF_VERSION") or __version__)


def wait_ready(names: list[str], timeout_s: float, colour: str | None = None) -> list[str]:
    deadline = time.monotonic() + timeout_s
    pending = list(names)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            if pid(name, colour) is None:
                break
            if ready(name, colour)[0]:
                pending.remove(name)
        else:
            time.sleep(0.3)
            continue
        break  # a process died
    return pending


def stop(name: str, sig: int = signal.SIGTERM, timeout_s: float = 15, colour: str | None = None) -> None:
    scrape_targets.withdraw(instance(name, colour))
    found = pid(name, colour)
    if found is not None:
        try:
            os.killpg(found, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout_s
        while pid(name, colour) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid(name, colour):
            os.killpg(found, signal.SIGKILL)
            time.sleep(0.2)
    _pidfile(name, colour).unlink(missing_ok=True)


def stop_all_colours(name: str, sig: int = signal.SIGTERM, timeout_s: float = 15) -> None:
    for colour in COLOURS:
        stop(name, sig, timeout_s, colour)


def tail(name: str, n: int = 20, colour: str | None = None) -> str:
    try:
        return "\n".join((VAR / "log" / f"{instance(name, colour)}.log").read_text(errors="replace").splitlines()[-n:])
    except FileNotFoundError:
        return "(no log)"


def up(names: list[str], timeout_s: float = 90) -> int:
    from services.kit.security import tls

    tls.main(list(tls.SERVICES))  # the local CA and one certificate per service (kept if present)
    for name in names:
        start(name)
        # Each must be ready before the next: the orchestrator needs the validator, etc.
        if wait_ready([name], timeout_s):
            print(f"launcher: service {name} not ready after {timeout_s:.0f}s; last log lines:\n{tail(name)}\n"
                  f"launcher: see var/log/{name}.log; is the stack up (`make up`)?", file=sys.stderr)
            return 1
        print(f"launcher: {name} ready on :{http_port(name, live_colour(name))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status", "restart", "kill"])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--timeout", type=float, default=90)
    args = parser.parse_args(argv)
    names = args.names or list(SERVICES)
    unknown = set(names) - set(SERVICES)
    if unknown:
        print(f"launcher: unknown service(s) {sorted(unknown)}; known: {list(SERVICES)}", file=sys.stderr)
        return 2
    if args.action == "up":
        return up(names, args.timeout)
    if args.action == "down":
        for name in reversed(names):
            stop_all_colours(name)
        return 0
    if args.action == "kill":  # crash simulation: SIGKILL, no clean shutdown
        for name in names:
            stop(name, signal.SIGKILL, timeout_s=5)
        return 0
    if args.action == "restart":
        for name in names:
            stop(name)
        return up(names, args.timeout)
    status = {n: {"pid": pid(n), "colour": live_colour(n), "ready": ready(n)[0] if pid(n) else False} for n in names}
    print(json.dumps(status, indent=2))
    return 0 if all(s["ready"] for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
