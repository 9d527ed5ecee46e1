"""Blue-green figures on the running local suite (`make up` first; UF_TEST_FAULTS=1 for faults):
one healthy promotion (hand-over times) and one faulty promotion per trigger (time from
promotion to detection and to the old colour consuming again). Light background traffic (one
campaign every 0.5 s) keeps the consumers busy. Prints one line per rollout.

    UF_TEST_FAULTS=1 .venv/bin/python -m bench.rollout [--service orchestrator] [--faults errors,latency,memory,cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time

from services.kit.runtime.paths import ROOT
from services.kit.security import kafka_auth
from tests.integration import helpers as h

kafka_auth.configure_kafka_identity(os.environ.get("UF_KAFKA_PRINCIPAL") or "ufctl")  # the traffic it publishes

ENV = {"memory": {"UF_MEMORY_LIMIT_BYTES": str(320 * 1024 * 1024)}, "cpu": {"UF_CPU_LIMIT_MILLICORES": "50"}}


def ufctl(*args: str, env: dict[str, str] | None = None) -> str:
    res = subprocess.run([sys.executable, "-m", "ufctl", *args], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, timeout=300)
    if res.returncode:
        raise SystemExit(f"ufctl {' '.join(args)}: {res.stderr.strip()}")
    return res.stdout


def status(service: str) -> dict:
    return json.loads(ufctl("rollout", "status", service, "--json"))


def wait_done(service: str, limit_s: float = 180) -> dict:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        st = status(service)
        if st["phase"] not in ("Preview", "Analysing"):
            return st
        time.sleep(1)
    raise SystemExit("rollout did not finish")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--service", default="orchestrator")
    p.add_argument("--faults", default="errors,latency,memory,cpu")
    args = p.parse_args()
    stop = threading.Event()

    def traffic() -> None:
        n = 0
        while not stop.is_set() and n < 400:  # bounded
            h.publish(h.campaign())
            n += 1
            time.sleep(0.5)

    threading.Thread(target=traffic, daemon=True).start()
    try:
        for fault in ["", *[f for f in args.faults.split(",") if f]]:
            ufctl("rollout", "start", args.service, "--version", f"bench-{fault or 'healthy'}",
                  *(["--fault", fault] if fault else []), env=ENV.get(fault))
            time.sleep(3)
            ufctl("rollout", "promote", args.service, *(["--analysis-s", "15"] if not fault else []))
            st = wait_done(args.service)
            prom = next(x for x in st["history"] if x["step"] == "promoted")
            last = st["history"][-1]
            line = (f"{args.service} {fault or 'healthy':8} -> {st['phase']:10} hand-over {prom['switch_ms']} ms "
                    f"(no consumer {prom['pause_ms']} ms)")
            if last["step"] == "rolled-back":
                line += (f"; {last['reason']}: detected {last['detected_after_ms']} ms after promotion, "
                         f"old colour consuming again after {last['rollback_done_after_ms']} ms "
                         f"(rollback hand-over {last['switch_ms']} ms)")
            print(line, flush=True)
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
