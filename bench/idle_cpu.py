"""What the running suite costs while nothing happens: CPU-ms per second of every component
(pid files under var/run/), read from /proc over a window.

    .venv/bin/python bench/idle_cpu.py [--seconds 30]

Idle cost is paid per second, not per workflow: polls, long-poll fetches, heartbeats, scrapes. At
the 5-7 workflows/s of `bench/e2e.py` on this machine, every 100 CPU-ms/s of it is 15-20 CPU-ms of
each workflow's figure. Needs the suite up (`make up`) and quiet.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import proc_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    run_dir = ROOT / "var" / "run"
    before, started = proc_cpu.snapshot(run_dir), time.monotonic()
    time.sleep(args.seconds)
    after, elapsed = proc_cpu.snapshot(run_dir), time.monotonic() - started
    rates = {name: (after[name] - before[name]) * 1000 / elapsed for name in after if name in before}
    print(f"idle CPU over {elapsed:.0f} s (CPU-ms per second):")
    for name, rate in sorted(rates.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<16} {rate:8.1f}")
    print(f"  {'total':<16} {sum(rates.values()):8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
