"""Where a replay's time goes: `ufctl audit replay`'s steps on a timeline (start, duration), and
the CPU of the replaying process and of every suite component over the whole replay.

    .venv/bin/python bench/replay_phases.py

Rebuilds the projections like `bench/replay.py` (safe on a live suite). The steps are timed by
wrapping the replayer's own methods, so the figures name the code to look at: the passes over
the log, `bounds` (log start/end offsets), the live committed offsets, the swap prepared, the pause, the swap.
"""
from __future__ import annotations

import asyncio
import functools
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import proc_cpu
from bench.replay import run_replay
from services.audit.tools import replay as replay_mod

STEPS = ("_pass", "_live_committed", "_carry_over", "_prepare_swap", "_pause", "_swap")


def timed(timeline: list[tuple[str, float, float]], t0: float, name: str,
          fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            timeline.append((name, started - t0, time.perf_counter() - started))
    return wrapper


def main() -> int:
    timeline: list[tuple[str, float, float]] = []
    t0 = time.perf_counter()  # the timeline's zero: just before the replay starts
    for name in STEPS:
        setattr(replay_mod.Replayer, name, timed(timeline, t0, name, getattr(replay_mod.Replayer, name)))
    replay_mod.logreader.bounds = timed(timeline, t0, "bounds", replay_mod.logreader.bounds)  # type: ignore[method-assign]
    run_dir = ROOT / "var" / "run"
    before, own = proc_cpu.snapshot(run_dir), resource.getrusage(resource.RUSAGE_SELF)
    records, seconds = asyncio.run(run_replay())
    after, own_after = proc_cpu.snapshot(run_dir), resource.getrusage(resource.RUSAGE_SELF)
    print(f"replay: {records} records in {seconds:.2f} s = {records / seconds:,.0f} events/s")
    print("step               start s   took s")
    for name, start, took in timeline:
        print(f"  {name:<16} {start:8.2f} {took:8.3f}")
    cpu = own_after.ru_utime + own_after.ru_stime - own.ru_utime - own.ru_stime
    print(f"CPU seconds during the replay: replaying process {cpu:.2f}", end="")
    for name in sorted(after, key=lambda n: -(after[n] - before.get(n, after[n]))):
        used = after[name] - before.get(name, after[name])
        if used >= 0.1:
            print(f", {name} {used:.2f}", end="")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
