"""Privacy log filter cost, this checkout against an earlier revision of ``uf_pii``, in one run.

Run from the repo root::

    PYTHONPATH=. nice -n 5 .venv/bin/python -m bench.pii_log_ab --baseline 040d684 --lines 3000 --rounds 3

The baseline's ``libs/uf-pii/uf_pii`` is extracted with ``git archive`` into a temporary directory;
each round runs :func:`bench.pii.log_filter_cost` (same log lines, distinct values per line) once in
a child process importing the baseline and once importing this checkout, alternating, so both see
the same machine load.  The median µs per line (CPU time, from /proc via ``time.process_time``) of
each is printed side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_CHILD = "import sys; sys.path.insert(0, sys.argv[1]); from bench.pii import log_filter_cost; print('\\n'.join(log_filter_cost(int(sys.argv[2]))))"


def _extract(revision: str, target: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "libs/uf-pii/uf_pii"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "libs" / "uf-pii"


def _run(library: Path, lines: int) -> dict[str, tuple[float, float]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(library), str(lines)], check=True, capture_output=True,
                         text=True, env=env, cwd=ROOT).stdout
    rows: dict[str, tuple[float, float]] = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[1].replace(".", "").isdigit():
            rows[cells[0]] = (float(cells[1]), float(cells[2]))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="log filter cost: baseline revision vs this checkout")
    parser.add_argument("--baseline", required=True, help="git revision whose uf_pii is the baseline")
    parser.add_argument("--lines", type=int, default=3000, help="log lines per sample")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median reported)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = _extract(args.baseline, Path(tmp))
        current = ROOT / "libs" / "uf-pii"
        results: dict[str, list[dict[str, tuple[float, float]]]] = {"baseline": [], "current": []}
        for _ in range(args.rounds):
            results["baseline"].append(_run(baseline, args.lines))
            results["current"].append(_run(current, args.lines))
    print(f"load average before: {' '.join(f'{x:.1f}' for x in load_before)}, after: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    # The lowest round is the one least disturbed by other processes (contention inflates CPU time
    # too: shared caches and cores); the median is what a busy machine gives.
    print(f"| log line | µs/line CPU, {args.baseline} (median / lowest) | µs/line CPU, this checkout (median / lowest) | "
          f"µs/line wall, {args.baseline} | µs/line wall, this checkout |")
    print("|---|---:|---:|---:|---:|")
    for label in results["current"][0]:
        def values(which: str, index: int, label: str = label) -> list[float]:
            return [r[label][index] for r in results[which] if label in r]

        def cpu(which: str) -> str:
            return f"{statistics.median(values(which, 1)):.1f} / {min(values(which, 1)):.1f}"
        print(f"| {label} | {cpu('baseline')} | {cpu('current')} | {statistics.median(values('baseline', 0)):.1f} | "
              f"{statistics.median(values('current', 0)):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
