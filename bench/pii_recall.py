"""Structured recall on every corpus, optionally against an earlier revision of ``uf_pii``.

Run from the repo root::

    PYTHONPATH=. nice -n 10 .venv/bin/python -m bench.pii_recall [--baseline REV] [--show-errors N]

The structured engine (no spaCy: the types that must have zero misses) scans every document of the
short corpus (seeds 13, 42, 99; 2,000 documents each), the 1-4 KB corpus (dev seed 101, held back
202; 300 each) and the independent corpus (seed 303, 300 documents; seed 404 at the full 1,500).  Per corpus it prints the
structured misses (overlap rule), the lowest structured precision and the exact-span recall of each
type.  With ``--baseline REV`` the same runs are made with ``libs/uf-pii`` of that revision in a
child process and the two are printed side by side with the number of documents whose findings
differ, so a speed change can be shown to leave every finding as it was - the check to run after
every change to the engine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.pii_log_ab import ROOT, _extract

CORPORA = (("short", 13, 2000), ("short", 42, 2000), ("short", 99, 2000), ("docs", 101, 300), ("docs", 202, 300),
           ("indep", 303, 300), ("indep", 404, 1500))


def _docs(kind: str, seed: int, n: int) -> list[dict]:
    if kind == "short":
        from bench.pii_corpus import generate

        return generate(n, seed)
    if kind == "docs":
        from bench.pii_corpus_docs import generate_documents

        return generate_documents(n, seed)
    from bench.pii_corpus_indep import generate_documents as independent

    return independent(n, seed)


def _address_exact(docs: list[dict], preds: list[list[tuple[str, int, int]]]) -> dict[str, str]:
    """``address class -> "exact/gold"``: whole addresses found with their postcode and town."""
    cells: dict[str, list[int]] = {}
    for doc, found in zip(docs, preds, strict=True):
        for e in doc["entities"]:
            if e.get("cls", "").startswith("address."):
                cell = cells.setdefault(e["cls"], [0, 0])
                cell[0] += ("STREET_ADDRESS", e["start"], e["end"]) in found
                cell[1] += 1
    return {k: f"{v[0]}/{v[1]}" for k, v in sorted(cells.items())}


def measure(show_errors: int = 0) -> dict[str, dict]:
    """``corpus label -> {misses, precision, exact, digests, errors}`` with the ``uf_pii`` on ``sys.path``."""
    from bench.pii import REGIONS, STRUCTURED, evaluate
    from uf_pii import Engine, default_registry

    engine = Engine(default_registry(regions=REGIONS, nlp=False, entry_point_group=None), nlp=False)
    out: dict[str, dict] = {}
    for kind, seed, n in CORPORA:
        docs = _docs(kind, seed, n)
        preds = [[(f.type, f.start, f.end) for f in engine.scan(d["text"])] for d in docs]
        counts, errors = evaluate(docs, preds)
        types = [t for t in STRUCTURED if counts[t].gold]
        out[f"{kind} {seed} ({n})"] = {
            "misses": sum(counts[t].gold - counts[t].gold_found for t in types),
            "precision": min((round(counts[t].precision(), 4), t) for t in types),
            "exact": {t: round(counts[t].recall(exact=True), 4) for t in types},
            "address_exact": _address_exact(docs, preds),
            "digests": [hashlib.sha1(repr(sorted(p)).encode()).hexdigest()[:12] for p in preds],
            "errors": [e[:300] for e in errors if e.split()[1] in types][:show_errors],
        }
    return out


def _child(library: Path, show_errors: int) -> dict[str, dict]:
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); from bench.pii_recall import measure; "
            "print(json.dumps(measure(int(sys.argv[2]))))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code, str(library), str(show_errors)], check=True,
                         capture_output=True, text=True, env=env, cwd=ROOT).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="structured recall on every corpus (optionally vs a baseline)")
    parser.add_argument("--baseline", help="git revision whose uf_pii to compare with")
    parser.add_argument("--show-errors", type=int, default=0, help="print up to N structured errors per corpus")
    args = parser.parse_args(argv)
    current = _child(ROOT / "libs" / "uf-pii", args.show_errors)
    baseline: dict[str, dict] = {}
    if args.baseline:
        with tempfile.TemporaryDirectory() as tmp:
            baseline = _child(_extract(args.baseline, Path(tmp)), 0)
    print("| corpus | structured misses | lowest precision | docs whose findings differ from baseline |")
    print("|---|---:|---|---:|")
    for label, row in current.items():
        base = baseline.get(label)
        differ = "-" if base is None else str(sum(a != b for a, b in zip(row["digests"], base["digests"], strict=True)))
        base_cell = "" if base is None else f" (baseline {base['misses']})"
        print(f"| {label} | {row['misses']}{base_cell} | {row['precision'][1]} {row['precision'][0]:.4f} | {differ} |")
    print()
    for label, row in current.items():
        print(f"exact-span recall, {label}: " + ", ".join(f"{t} {v:.4f}" for t, v in row["exact"].items()))
        if row["address_exact"]:
            base = baseline.get(label, {}).get("address_exact", {})
            print("    addresses found whole (exact span): " + ", ".join(
                f"{k} {v}" + (f" (baseline {base[k]})" if k in base else "") for k, v in row["address_exact"].items()))
        for error in row["errors"]:
            print("   ", error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
