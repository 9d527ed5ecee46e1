"""Starts and stops the five services on this machine (the local stand-in for Kubernetes):
one background process each, pid file in var/run, log in var/log, and `up` returns only when
every service answers /ready. Used by `make up/down`, `make run` and the tests."""
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
from services.kit.runtime.service_table import SERVICES, http_port


def _pidfile(name: str) -> Path:
    return VAR / "run" / f"svc-{name}.pid"


def _pid(name: str) -> int | None:
    try:
        pid = int(_pidfile(name).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None




def ready(name: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port(name)}/ready", timeout=3) as r:
            return r.status == 200, r.read().decode()
    except Exception as exc:  # HTTPError 503 carries the failing checks
        body = exc.read().decode() if hasattr(exc, "read") else exc.__class__.__name__
        return False, body


def start(name: str) -> None:
    if _pid(name):
        return
    (VAR / "run").mkdir(parents=True, exist_ok=True)
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "UF_HTTP_PORT": str(http_port(name)), "PYTHONUNBUFFERED": "1"}
    if "UF_TRACE_EXPORTER" not in os.environ:  # locally: spans as JSON lines, one file per instance
        env.update(UF_TRACE_EXPORTER="file", UF_TRACE_FILE=str(VAR / "traces" / f"{name}.jsonl"))
    log = open(VAR / "log" / f"{name}.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    _pidfile(name).write_text(str(proc.pid))
    scrape_targets.announce(name, service=name, port=http_port(name), colour=env.get("UF_COLOUR") or "blue",
                            version=env.get("UF_VERSION") or __version__)


def wait_ready(names: list[str], timeout_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    pending = list(names)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            if _pid(name) is None:
                break
            if ready(name)[0]:
                pending.remove(name)
        else:
            time.sleep(0.3)
            continue
        break  # a process died
    return pending


def stop(name: str, sig: int = signal.SIGTERM, timeout_s: float = 15) -> None:
    scrape_targets.withdraw(name)
    pid = _pid(name)
    if pid is not None:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout_s
        while _pid(name) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid(name):
            os.killpg(pid, signal.SIGKILL)
            time.sleep(0.2)
    _pidfile(name).unlink(missing_ok=True)


def tail(name: str, n: int = 20) -> str:
    try:
        return "\n".join((VAR / "log" / f"{name}.log").read_text(errors="replace").splitlines()[-n:])
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
        print(f"launcher: {name} ready on :{http_port(name)}")
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
            stop(name)
        return 0
    if args.action == "kill":  # crash simulation: SIGKILL, no clean shutdown
        for name in names:
            stop(name, signal.SIGKILL, timeout_s=5)
        return 0
    if args.action == "restart":
        for name in names:
            stop(name)
        return up(names, args.timeout)
    status = {n: {"pid": _pid(n), "ready": ready(n)[0] if _pid(n) else False} for n in names}
    print(json.dumps(status, indent=2))
    return 0 if all(s["ready"] for s in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
