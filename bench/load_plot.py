"""Plot Locust's stats history (throughput, p50/p99, errors over time) to a PNG. Runs in the
load generator's virtualenv (matplotlib lives there, see bench/load-requirements.txt).

    .venv-load/bin/python bench/load_plot.py HISTORY.csv OUT.png TITLE
"""
from __future__ import annotations

import csv
import math
import sys
from pathlib import Path


def plot(history: Path, png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in csv.DictReader(history.open()) if r.get("Name") == "Aggregated"]
    if not rows:
        return
    t0 = int(rows[0]["Timestamp"])
    t = [(int(r["Timestamp"]) - t0) / 60 for r in rows]

    def col(name: str) -> list[float]:
        return [float(r[name]) if r[name] not in ("", "N/A") else math.nan for r in rows]

    fig, (a, b, c) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    a.plot(t, col("Requests/s"))
    a.set_ylabel("finished workflows/s")
    b.plot(t, [v / 1000 for v in col("50%")], label="p50")
    b.plot(t, [v / 1000 for v in col("99%")], label="p99")
    b.set_ylabel("publish->terminal (s)")
    b.legend()
    c.plot(t, col("Failures/s"), color="red")
    c.set_ylabel("not COMPLETED /s")
    c.set_xlabel("minutes")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png)


if __name__ == "__main__":
    plot(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
