"""`--profile` for the benchmarks: attach py-spy (pinned in the dev dependencies) to every running
service for the duration of a run and write one SVG flame graph per service to `var/profiles/`.

Attaching (rather than restarting the services under the profiler) profiles exactly the
processes the run measures; `--nonblocking` samples without pausing them, so the profiled run
costs the services almost nothing extra (py-spy's own CPU is its own process, not theirs)."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.proc_cpu import STACK, components


class Profiler:
    def __init__(self, run_dir: Path, out_dir: Path, rate: int = 97, fmt: str = "flamegraph") -> None:
        """`fmt`: "flamegraph" (SVG) or "raw" (collapsed stacks, one `frame;frame;... count` line
        per stack: readable by `bench/profile_top.py` and by any flame graph tool)."""
        self.run_dir, self.out_dir, self.rate, self.fmt = run_dir, out_dir, rate, fmt
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if exe is None:
            raise SystemExit("--profile needs py-spy (pinned in the dev extras: `make venv`)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for c in components(self.run_dir):
            if c.name in STACK.values():
                continue  # JVMs, Redis and the sink are not Python services
            out = self.out_dir / f"{c.name}-{stamp}.{'svg' if self.fmt == 'flamegraph' else 'txt'}"
            self.procs[str(out)] = subprocess.Popen(
                [exe, "record", "--pid", str(c.pgid), "--rate", str(self.rate), "--nonblocking", "--format", self.fmt,
                 "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # let every sampler attach before the measured work starts

    def stop(self) -> list[str]:
        """SIGINT makes py-spy write its flame graph; returns the files written."""
        for proc in self.procs.values():
            proc.send_signal(signal.SIGINT)
        written = []
        for out, proc in self.procs.items():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if Path(out).exists():
                written.append(out)
            else:
                err = proc.stderr.read().decode(errors="replace")[-300:] if proc.stderr else ""
                print(f"profile: no flame graph for {out}: {err}", file=sys.stderr)
        return written
