"""DR drill on the local stack: measures what docs/operations.md reports.

    UF_PORT_OFFSET=... .venv/bin/python bench/dr_drill.py [--subjects 200]

1. seeds N subject keys and runs one campaign; 2. `ufctl dr backup` (time, size);
3. after the backup: erases one subject and creates one new key (what the backup misses);
4. disaster: services stopped, Redis FLUSHALL, audit indices deleted (Kafka keeps the log);
5. `ufctl dr restore` (time), services started (time to ready);
6. checks: the erased subject stays erased, the other keys are back, the post-backup key is lost
   (the RPO of key material = time since the last backup), the workflow's projection is back.
Prints one line per figure. Destructive for this stack's Redis and OpenSearch."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

from services.audit.config import AuditSettings
from services.kit.runtime.paths import ROOT
from services.kit.security import redis_auth, search_auth
from services.kit.security.subject_keys import RedisKeyStore


def sh(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=200)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.integration import helpers as h

    s = AuditSettings()
    r = redis.Redis.from_url(s.redis_url, **redis_auth.credentials())
    keys = RedisKeyStore(s.redis_url)
    tag = str(int(time.time()))
    subjects = [f"drill-{tag}-{i}" for i in range(args.subjects)]
    for subj in subjects:
        keys.get_or_create(subj)
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf, timeout_s=300)["phase"] == "COMPLETED"

    out = Path(tempfile.mkdtemp(prefix="uf-drill-")) / "backup"
    t0 = time.monotonic()
    manifest = Path(sh("-m", "ufctl", "dr", "backup", "--out", str(out)).stdout.strip().splitlines()[-1])
    backup_s = time.monotonic() - t0
    m = json.loads(manifest.read_text())
    print(f"backup: {backup_s:.2f} s wall (ufctl incl. start-up), {m['seconds']:.2f} s inside, {m['bytes']} bytes, "
          f"counts {m['counts']}")

    erased = subjects[0]
    sh("-m", "ufctl", "gdpr", "erase", erased)
    late = f"drill-{tag}-after-backup"
    keys.get_or_create(late)

    t_disaster = time.monotonic()
    sh("-m", "services.launcher", "down")
    r.flushall()
    for pattern in (f"{s.es_index}*", f"{s.checkpoint_index}*"):
        urllib.request.urlopen(urllib.request.Request(f"{s.es_url}/{pattern}", method="DELETE"), timeout=60,
                               context=search_auth.ssl_context("admin")).read()  # the disaster: break-glass
    t0 = time.monotonic()
    res = json.loads(sh("-m", "ufctl", "dr", "restore", str(out), "--json").stdout)
    restore_s = time.monotonic() - t0
    t0 = time.monotonic()
    sh("-m", "services.launcher", "up", "--timeout", "600")
    up_s = time.monotonic() - t0
    rto = time.monotonic() - t_disaster
    fresh = RedisKeyStore(s.redis_url)
    back = sum(fresh.get(x) is not None for x in subjects[1:])
    print(f"restore: {restore_s:.2f} s (replayed {res['replay'].get('records_read')} records, "
          f"{res['checkpoints_republished']} checkpoints re-published, {res['checkpoints_from_log']} taken from the "
          f"Kafka copy, verify ok={res['verify_ok']} in the restore)")
    print(f"services ready after restore: {up_s:.2f} s; RTO (disaster -> suite ready): {rto:.2f} s")
    print(f"erased subject withheld: {erased in res['subject_keys_withheld']}, key absent: {fresh.get(erased) is None}")
    print(f"keys back: {back}/{len(subjects) - 1}; key made after the backup lost: {fresh.get(late) is None} "
          f"(RPO of key material = time since the last backup)")
    print(f"workflow projection back: {h.status(wf)['phase']}")


if __name__ == "__main__":
    main()
