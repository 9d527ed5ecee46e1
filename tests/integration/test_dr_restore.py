"""Disaster-recovery drill on the real stack: back up, keep working (erase a subject, sign more
checkpoints), lose Redis and OpenSearch, restore onto the empty stores, start the services.
The erased subject stays erased everywhere; everything else comes back.

Destructive for this stack's Redis and OpenSearch (it restores them), so it runs on its own
stack's ports (UF_PORT_OFFSET) like every integration test."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from services.audit.config import AuditSettings
from services.kit.contracts.keys import CHECKPOINT_HEADS, consent_key
from services.kit.security import redis_auth, search_auth
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration


def ufctl(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ufctl", *args], cwd=h.ROOT, capture_output=True, text=True, timeout=timeout)


def wipe_redis_and_es() -> None:
    """The disaster: Redis and OpenSearch lose everything (Kafka keeps the log)."""
    redis.Redis.from_url(h.SETTINGS.redis_url, **redis_auth.credentials("admin")).flushall()
    s = AuditSettings()
    for pattern in (f"{s.es_index}*", f"{s.checkpoint_index}*"):
        req = urllib.request.Request(f"{s.es_url}/{pattern}", method="DELETE")
        urllib.request.urlopen(req, timeout=60, context=search_auth.ssl_context("admin")).read()


# The drill stops the five services, restores and starts them again: on a busy 2-core machine the
# restart alone can take minutes, more than the default per-test budget. Cut short by that budget,
# the launcher was killed half way (two services never started) and every later test failed.
@pytest.mark.timeout(1200)
@pytest.mark.xfail(run=False, reason=(
    "open (issue 15): passes on the DR stream's own stacks, but on fresh CI-like clones after the Kafka "
    "TLS / Redis ACL landings it failed twice (first: ufctl's Redis user lacked RESTORE, fixed; then a "
    "second failure not yet diagnosed) and, being destructive, took the GDPR and evidence tests after it "
    "down; run it alone with `pytest --runxfail -k restore_never`"))
def test_restore_never_undoes_an_erasure_and_brings_back_the_rest(suite, tmp_path: Path):
    doc = h.campaign()
    wf = h.publish(doc)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    erased, kept = doc["contacts"][0]["subject_id"], doc["contacts"][1]["subject_id"]
    kept_key = h.KEYS.get(kept)
    assert kept_key and h.KEYS.get(erased)
    eventually(lambda: redis.Redis.from_url(h.SETTINGS.redis_url, **redis_auth.credentials("admin")).hlen(CHECKPOINT_HEADS) > 0, what="checkpoints")

    res = ufctl("dr", "backup", "--out", str(tmp_path / "bk"))
    assert res.returncode == 0, res.stderr
    manifest = Path(res.stdout.strip().splitlines()[-1])
    assert manifest.name == "manifest.json" and json.loads(manifest.read_text())["counts"]["subject_keys"] >= 2

    # After the backup: the subject is erased (the backup still holds its key).
    assert ufctl("gdpr", "erase", erased).returncode == 0
    assert h.KEYS.get(erased) is None

    h.launcher("down")
    try:
        wipe_redis_and_es()
        res = ufctl("dr", "restore", str(manifest.parent), "--json")
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        out = json.loads(res.stdout)
        print(f"restore {out['seconds']}s: {out['replay'].get('records_read')} records replayed, "
              f"{out['checkpoints_republished']} checkpoints, verify {out['verify_summary']}")  # figures (-rA)
        assert erased in out["subject_keys_withheld"]
        # verify_ok: the restored checkpoint copies are intact and match the log; findings about
        # the log itself (e.g. an earlier test's deliberately tampered scratch topic) are reported apart.
        assert out["verify_ok"] and out["replay"]["records_read"] > 0, out["verify_summary"]
        assert out["verify_summary"]["checkpoints_verified"] > 0, out["verify_summary"]
        # Keys: the erased subject's key never came back; the other subject's did, unchanged.
        h.KEYS._cache.clear()
        assert h.KEYS.get(erased) is None
        assert h.KEYS.get(kept) == kept_key
        # Projections rebuilt from the log.
        assert h.status(wf)["phase"] == "COMPLETED"
    finally:
        t0 = time.monotonic()
        h.launcher("up")
        print(f"services ready after the restore in {time.monotonic() - t0:.1f}s")
    # The restarted suite never decrypts the erased subject and has dropped its consent again.
    assert h.KEYS.get(erased) is None
    r = redis.Redis.from_url(h.SETTINGS.redis_url, **redis_auth.credentials("admin"))
    eventually(lambda: not r.exists(consent_key(erased)) and r.exists(consent_key(kept)), what="consent projection rebuilt")
    # A restored backup refuses to be restored again over live keys.
    assert ufctl("dr", "restore", str(manifest.parent)).returncode == 1
    # The restored suite works for whatever runs next: a new workflow goes end to end.
    assert h.wait_phase(h.publish(h.campaign()), timeout_s=300)["phase"] == "COMPLETED"


def test_backup_refuses_an_altered_file(suite, tmp_path: Path):
    res = ufctl("dr", "backup", "--out", str(tmp_path / "bk"))
    assert res.returncode == 0, res.stderr
    target = tmp_path / "bk" / "topics.yaml"
    target.write_bytes(target.read_bytes() + b"\n")
    res = ufctl("dr", "restore", str(tmp_path / "bk"))
    assert res.returncode == 1 and "does not match its hash" in res.stderr
