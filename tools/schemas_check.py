"""`make schemas-check`: rejects a schema change that would break a producer or consumer.

Checks, for every event type:
  1. every pair of versions is backward AND forward compatible (full-transitive);
  2. a version recorded in `schemas/catalog.lock` still has the same fingerprint (versions are
     immutable: change a schema by adding v<N+1>, never by editing or deleting v<N>);
  3. every version is recorded in the lock (`--update-lock` records new ones, never rewrites).
"""
from __future__ import annotations

import argparse
import json
import sys
from itertools import combinations
from pathlib import Path

from services.kit.contracts.catalog import SCHEMAS_DIR, Catalog, CatalogError, load_catalog
from tools.schema_compat import full_incompatibilities


def problems(catalog: Catalog, lock: dict[str, str]) -> list[str]:
    found: list[str] = []
    current = {sv.key: sv.fingerprint.hex() for svs in catalog.versions.values() for sv in svs}
    for key, fp in sorted(lock.items()):
        if key not in current:
            found.append(f"{key}: recorded in catalog.lock but deleted (old versions are never deleted)")
        elif current[key] != fp:
            found.append(f"{key}: changed after it was recorded (add a new version instead of editing)")
    for key in sorted(set(current) - set(lock)):
        found.append(f"{key}: not in catalog.lock (run `make schemas-lock` after checking it)")
    for event_type, svs in sorted(catalog.versions.items()):
        for old, new in combinations(svs, 2):
            for p in full_incompatibilities(old.expanded_json, new.expanded_json):
                found.append(f"{event_type} v{old.version}->v{new.version}: {p}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=SCHEMAS_DIR)
    parser.add_argument("--update-lock", action="store_true", help="record new versions in the lock")
    args = parser.parse_args(argv)
    lock_path = args.root / "catalog.lock"
    try:
        catalog = load_catalog(args.root)
    except CatalogError as exc:
        print(f"schemas-check: {exc}", file=sys.stderr)
        return 1
    lock: dict[str, str] = json.loads(lock_path.read_text()) if lock_path.exists() else {}
    if args.update_lock:
        for svs in catalog.versions.values():
            for sv in svs:
                lock.setdefault(sv.key, sv.fingerprint.hex())
        lock_path.write_text(json.dumps(dict(sorted(lock.items())), indent=2) + "\n")
    found = problems(catalog, lock)
    for p in found:
        print(f"schemas-check: {p}", file=sys.stderr)
    if found:
        return 1
    n = sum(len(v) for v in catalog.versions.values())
    print(f"schemas-check: {len(catalog.versions)} event types, {n} versions, all compatible and locked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
