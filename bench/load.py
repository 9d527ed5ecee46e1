"""Load test as SREs run it: Locust drives workflows through the running suite at a share of
its measured capacity, writes Locust's CSV and a PNG of throughput, p50/p99 and errors over
time, and checks the memory of every process at start and end.

    .venv/bin/python bench/load.py --profile sustained [--duration 10m] [--capacity WF_PER_S]
    .venv/bin/python bench/load.py --profile peak      [--duration 3m]

Profiles: `sustained` = 70 % of capacity (default 10 min; the seed asks for `--duration 1h`),
`peak` = 150 % (default 3 min; seed: 15 min). Capacity (completed workflows/s) is measured first
with a short closed burst unless given. Output in var/bench/load-<profile>-<time>/. Memory bound:
no process may grow by more than 25 % + 64 MiB of its start RSS (printed per process; exit 1 if
exceeded or if any workflow failed). Needs `make load-venv` (Locust in its own virtualenv,
see bench/load-requirements.txt) and the suite up (`make up`, any replicas).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.kit.runtime import service_table
from services.kit.runtime.paths import VAR

PROFILES = {"sustained": (0.7, "10m"), "peak": (1.5, "3m")}
LOAD_PY = ROOT / ".venv-load" / "bin" / "python"  # Locust's own virtualenv (`make load-venv`)
GROWTH_FACTOR, GROWTH_SLACK_MB = 1.25, 64.0


def seconds(duration: str) -> float:
    unit = {"s": 1, "m": 60, "h": 3600}[duration[-1]] if duration[-1] in "smh" else 1
    return float(duration.rstrip("smh")) * unit


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def processes() -> dict[str, int]:
    """Every service instance (var/run/instances.json) and infrastructure process (pid files)."""
    out: dict[str, int] = {}
    try:
        for row in json.loads((VAR / "run" / "instances.json").read_text()):
            out[row["name"]] = row["pid"]
    except (OSError, ValueError):
        pass
    for comp in ("kafka", "opensearch", "redis", "smtp"):
        try:
            out[comp] = int((VAR / "run" / f"{comp}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


def memory() -> dict[str, float]:
    return {name: mb for name, pid in processes().items() if (mb := rss_mb(pid)) is not None}


def post(url: str, timeout: float) -> int:
    req = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def calibrate(base: str, n: int = 20) -> float:
    """Completed workflows per second for a closed burst of n at once."""
    started = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        codes = list(pool.map(lambda _: post(f"{base}/workflow?timeout=600", 660), range(n)))
    elapsed = time.perf_counter() - started
    ok = sum(1 for c in codes if c == 200)
    print(f"capacity: {ok}/{n} COMPLETED in {elapsed:.1f}s -> {ok / elapsed:.2f} workflows/s (answers {sorted(set(codes))})")
    if ok == 0:
        raise SystemExit("bench/load.py: no workflow completed during calibration; is the suite up? see the gateway log")
    return ok / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="sustained")
    parser.add_argument("--duration", help="e.g. 3m, 1h (default: the profile's)")
    parser.add_argument("--capacity", type=float, help="workflows/s the suite completes (default: measured)")
    parser.add_argument("--pacing", type=float, default=30.0, help="seconds between one user's workflows")
    args = parser.parse_args()
    if not LOAD_PY.exists():
        print("bench/load.py needs Locust in its own virtualenv: `make load-venv`", file=sys.stderr)
        return 2
    share, default_duration = PROFILES[args.profile]
    duration = args.duration or default_duration
    out = VAR / "bench" / f"load-{args.profile}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    port = service_table.LOADGEN_PORT
    base = f"http://127.0.0.1:{port}"
    gateway = subprocess.Popen([sys.executable, str(ROOT / "bench" / "load_gateway.py"), "--port", str(port)], cwd=ROOT,
                               stdout=(out / "gateway.log").open("w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            if gateway.poll() is not None:
                raise SystemExit(f"bench/load.py: the gateway exited; see {out / 'gateway.log'}")
            try:
                urllib.request.urlopen(f"{base}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        capacity = args.capacity or calibrate(base)
        rate = capacity * share
        users = max(1, round(rate * args.pacing))
        mem_start = memory()
        print(f"{args.profile}: {share:.0%} of {capacity:.2f} workflows/s = {rate:.2f}/s -> {users} users, pacing {args.pacing:.0f}s, "
              f"for {duration}")
        env = {**os.environ, "UF_LOAD_PACING_S": str(args.pacing)}
        cmd = [str(LOAD_PY), "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless", "-u", str(users),
               "-r", f"{max(users / args.pacing, 0.1):.3f}", "-t", duration, "--host", base, "--csv", str(out / "locust"),
               "--csv-full-history", "--only-summary", "--stop-timeout", "660", "--loglevel", "WARNING"]
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        (out / "locust.log").write_text(res.stdout + res.stderr)
        mem_end = memory()
    finally:
        gateway.terminate()
        gateway.wait(10)
    subprocess.run([str(LOAD_PY), str(ROOT / "bench" / "load_plot.py"), str(out / "locust_stats_history.csv"), str(out / "load.png"),
                    f"{args.profile}: {rate:.2f} workflows/s offered, {duration}"], cwd=ROOT, check=False)
    stats = next((r for r in csv.DictReader((out / "locust_stats.csv").open()) if r["Name"] == "Aggregated"), None)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if stats is None:
        print(f"no Locust statistics; see {out / 'locust.log'}")
        return 1
    reqs, fails = int(stats["Request Count"]), int(stats["Failure Count"])
    print(f"{args.profile}: {reqs} workflows finished, {fails} not COMPLETED, {float(stats['Requests/s']):.2f} workflows/s achieved "
          f"(offered {rate:.2f}); publish->terminal p50 {float(stats['50%']) / 1000:.1f}s, p99 {float(stats['99%']) / 1000:.1f}s, "
          f"max {float(stats['Max Response Time']) / 1000:.1f}s")
    grown = []
    for name, start_mb in sorted(mem_start.items()):
        end_mb = mem_end.get(name)
        if end_mb is None:
            print(f"  memory {name}: {start_mb:.0f} MiB -> (exited)")
            grown.append(name)
            continue
        bound = start_mb * GROWTH_FACTOR + GROWTH_SLACK_MB
        verdict = "ok" if end_mb <= bound else "OVER"
        if end_mb > bound:
            grown.append(name)
        print(f"  memory {name}: {start_mb:.0f} -> {end_mb:.0f} MiB (bound {bound:.0f}) {verdict}")
    print(f"output: {out.relative_to(ROOT)}/ (locust_stats.csv, locust_stats_history.csv, load.png)")
    return 0 if not fails and not grown else 1


if __name__ == "__main__":
    sys.exit(main())
