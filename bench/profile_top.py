"""Where the CPU goes, as text: summarise py-spy collapsed stacks (`bench/e2e.py --profile
--profile-format raw` writes them to var/profiles/*.txt) into the functions with the most
samples, inclusive (the function or anything it called) and self (the function's own code).

    .venv/bin/python bench/profile_top.py var/profiles/orchestrator-*.txt [--top 25] [--match signing]

A flame graph answers the same question visually; this is the form that fits in a review or a
benchmark note, and it adds up a function that appears under many different callers."""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r"^(.*) (\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """`func (path/to/file.py:123)` -> `func (file.py)`: lines merged, long paths shortened."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    parts = m.group("file").split("/")
    return f"{m.group('func')} ({'/'.join(parts[-2:])})"


def summarise(paths: list[Path]) -> tuple[int, Counter[str], Counter[str]]:
    total, inclusive, own = 0, Counter[str](), Counter[str]()
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            m = _LINE.match(line)
            if not m:
                continue
            count = int(m.group(2))
            frames = [frame_name(f) for f in m.group(1).split(";")]
            frames = [f for f in frames if not f.startswith(("process ", "thread "))]
            if not frames:
                continue
            total += count
            own[frames[-1]] += count
            for f in set(frames):
                inclusive[f] += count
    return total, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only functions whose name/file contains this")
    args = parser.parse_args()
    total, inclusive, own = summarise(args.paths)
    print(f"{total} samples in {len(args.paths)} file(s)")
    for title, counts in (("inclusive", inclusive), ("self", own)):
        print(f"-- {title} --")
        rows = [(f, c) for f, c in counts.most_common() if args.match in f][: args.top]
        for f, c in rows:
            print(f"  {100 * c / max(total, 1):5.1f} %  {f}")


if __name__ == "__main__":
    main()
