"""CPU time of every long-running process of the local suite, read from `/proc`.

Every component keeps a pid file under `var/run/` (`<component>.pid` from infra/stack.py,
`svc-<service>.pid` from the launcher); each was started in its own process group, so the CPU of
a component is the user+system time of every live member of that group, plus what its already
reaped children used (cutime/cstime). Reading it before and after a run and dividing by the
work done gives CPU-ms per unit of work - steadier than wall-clock rates on a shared machine."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Display names for the pid files (infra components first, then the services).
STACK = {"kafka": "Kafka broker", "opensearch": "OpenSearch", "redis": "Redis", "smtp": "SMTP sink"}


@dataclass(frozen=True)
class Component:
    name: str
    pgid: int


def components(run_dir: Path) -> list[Component]:
    """Every component with a pid file under `run_dir` (the first line of each file is the pid)."""
    found = []
    for f in sorted(run_dir.glob("*.pid")):
        try:
            pid = int(f.read_text().split()[0])
        except (ValueError, IndexError, OSError):
            continue
        stem = f.stem
        name = stem[len("svc-"):] if stem.startswith("svc-") else STACK.get(stem, stem)
        found.append(Component(name, pid))
    return found


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    return text[text.rindex(")") + 2:].split()


def group_cpu_ticks() -> dict[int, int]:
    """Process group id -> CPU ticks (utime+stime+cutime+cstime) summed over its live members."""
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        f = _stat_fields(entry)
        if f is None:
            continue
        # After the name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14)
        pgrp = int(f[2])
        ticks[pgrp] = ticks.get(pgrp, 0) + int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return ticks


def snapshot(run_dir: Path) -> dict[str, float]:
    """Component name -> CPU seconds used so far."""
    ticks = group_cpu_ticks()
    return {c.name: ticks.get(c.pgid, 0) / CLK_TCK for c in components(run_dir)}


# JVM threads whose CPU is warm-up rather than work: HotSpot's JIT compilers ("C1 CompilerThre",
# "C2 CompilerThre"; thread names are cut to 15 characters in /proc). A freshly started broker or
# search engine spends a third to a half of its CPU compiling during the first few hundred
# workflows on this machine (issue 11), which a per-workflow figure from a short run charges to
# the workflows.
JIT_THREAD_PREFIXES = ("C1 CompilerThre", "C2 CompilerThre")


def jit_seconds(run_dir: Path) -> dict[str, float]:
    """Component name -> CPU seconds its JIT compiler threads used so far (JVM components only:
    any component with such threads)."""
    out = {}
    for c in components(run_dir):
        ticks, found = 0, False
        try:
            tasks = os.listdir(f"/proc/{c.pgid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                text = Path(f"/proc/{c.pgid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            if text[text.index("(") + 1:text.rindex(")")].startswith(JIT_THREAD_PREFIXES):
                f = text[text.rindex(")") + 2:].split()
                ticks += int(f[11]) + int(f[12])
                found = True
        if found:
            out[c.name] = ticks / CLK_TCK
    return out


def per_unit_ms(before: dict[str, float], after: dict[str, float], units: int) -> dict[str, float]:
    """CPU-ms per unit of work for every component present in both snapshots."""
    return {name: (after[name] - before[name]) * 1000 / max(units, 1) for name in after if name in before}


def table(cpu_ms: dict[str, float], unit: str) -> list[str]:
    """Lines of the CPU table, largest first, with the total."""
    lines = [f"CPU-ms per {unit} (from /proc, whole process groups):"]
    for name, ms in sorted(cpu_ms.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {name:<16} {ms:8.1f}")
    lines.append(f"  {'total':<16} {sum(cpu_ms.values()):8.1f}")
    return lines


def settle(run_dir: Path, *, below_ms_per_s: float, window_s: float = 5.0, max_s: float = 300.0) -> float:
    """Wait until the suite's processes together use less than `below_ms_per_s` CPU-ms per
    second over `window_s` (the previous run's leftovers are done), at most `max_s`. Returns the
    last rate seen: the suite's idle cost (polls, heartbeats, scrapes), which a slow run pays
    per second, not per workflow."""
    import time

    deadline = time.monotonic() + max_s
    while True:
        before, started = snapshot(run_dir), time.monotonic()
        time.sleep(window_s)
        after = snapshot(run_dir)
        rate = sum(after[k] - before[k] for k in after if k in before) * 1000 / (time.monotonic() - started)
        if rate < below_ms_per_s or time.monotonic() > deadline:
            return rate
