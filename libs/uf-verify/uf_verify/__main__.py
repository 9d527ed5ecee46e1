"""`python -m uf_verify BUNDLE`: prints what was checked, then VERIFIED or NOT VERIFIED."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from uf_verify.bundle import verify_bundle


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="uf_verify", description="verify a Universal Framework evidence bundle offline")
    p.add_argument("bundle", type=Path)
    p.add_argument("--trust", action="append", default=[], metavar="KEY_ID",
                   help="pin the audit (checkpoint) signing key ids you obtained out of band (repeatable)")
    args = p.parse_args(argv)
    report = verify_bundle(args.bundle, trusted=set(args.trust))
    for line in report.lines:
        print(line)
    for problem in report.problems:
        print(f"FAIL {problem}")
    if report.problems:
        print(f"NOT VERIFIED: {len(report.problems)} problem(s); first: {report.problems[0]}")
        return 1
    print("VERIFIED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
