"""Disaster-recovery drill on the real stack: back up, keep working (erase a subject, sign more
checkpoints), then restore the backup onto EMPTY stores and check that the erased subject stays
erased (its sealed fields on the log no longer open) while everything else comes back.

The empty stores are the drill's own: Redis database DRILL_DB (the suite lives in database 0)
and OpenSearch indices under a name of its own, both removed at the end. Kafka - the log a
restore rebuilds from - is the suite's, and the drill only reads it. So the drill is a real
`ufctl dr restore` onto empty stores that leaves the running suite exactly as it found it: the
tests after it see no restarted services, no lost checkpoint heads and no forked chains. (The
whole-stack drill - services stopped, the suite's own Redis and OpenSearch emptied, restored
and restarted - is `bench/dr_drill.py`; docs/operations.md has its figures.)"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from services.kit.contracts import codec, topics
from services.kit.contracts.keys import CHECKPOINT_HEADS
from services.kit.security import redis_auth, sealing, search_auth
from services.kit.security.subject_keys import RedisKeyStore
from tests.integration import helpers as h
from tests.integration.waiting import eventually
from ufctl import queries

pytestmark = pytest.mark.integration

DRILL_DB = 9  # the drill's own empty Redis database (of the default 16); the suite uses 0


def ufctl(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ufctl", *args], cwd=h.ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _admin(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=30, **redis_auth.credentials("admin"))


def _es_delete(pattern: str) -> None:
    req = urllib.request.Request(f"{h.SETTINGS.es_url}/{pattern}", method="DELETE")
    urllib.request.urlopen(req, timeout=60, context=search_auth.ssl_context("admin")).read()


@pytest.fixture
def empty_stores() -> Iterator[tuple[str, dict[str, str]]]:
    """(Redis URL, environment for ufctl) of an empty Redis database and empty OpenSearch
    indices of the drill's own; emptied again afterwards, whatever the outcome."""
    parts = urlsplit(h.SETTINGS.redis_url)
    url = urlunsplit(parts._replace(path=f"/{DRILL_DB}"))
    # within the trail's index pattern (uf-audit-*): the restore writes as the audit service,
    # whose search-engine role covers only the trail (services/kit/contracts/search_roles.py)
    prefix = f"uf-audit-drill-{uuid.uuid4().hex[:8]}"
    r = _admin(url)
    r.flushdb()  # a drill interrupted before its clean-up must not make this one's store non-empty
    env = {**os.environ, "UF_REDIS_URL": url, "UF_ES_INDEX": f"{prefix}-events", "UF_CHECKPOINT_INDEX": f"{prefix}-checkpoints"}
    try:
        yield url, env
    finally:
        r.flushdb()
        r.close()
        _es_delete(f"{prefix}-*?expand_wildcards=all")
        _es_delete(f"_index_template/{prefix}-events")


# The drill reads the whole log three times (erasures, checkpoints, replay) and verifies every
# checkpoint: on a busy 2-core machine late in the suite that can take minutes.
@pytest.mark.timeout(1200)
def test_restore_never_undoes_an_erasure_and_brings_back_the_rest(suite, empty_stores, tmp_path: Path):
    url, drill_env = empty_stores
    doc = h.campaign()
    wf = h.publish(doc)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    erased, kept = doc["contacts"][0], doc["contacts"][1]
    kept_key = h.KEYS.get(kept["subject_id"])
    assert kept_key and h.KEYS.get(erased["subject_id"])
    eventually(lambda: _admin(h.SETTINGS.redis_url).hlen(CHECKPOINT_HEADS) > 0, what="checkpoints")

    res = ufctl("dr", "backup", "--out", str(tmp_path / "bk"))
    assert res.returncode == 0, res.stderr
    manifest = Path(res.stdout.strip().splitlines()[-1])
    assert manifest.name == "manifest.json" and json.loads(manifest.read_text())["counts"]["subject_keys"] >= 2

    # After the backup: the subject is erased (the backup still holds its key).
    assert ufctl("gdpr", "erase", erased["subject_id"]).returncode == 0
    assert h.KEYS.get(erased["subject_id"]) is None

    # The disaster's aftermath: empty Redis and OpenSearch, the log on Kafka. Restore onto them.
    res = ufctl("dr", "restore", str(manifest.parent), "--json", env=drill_env)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    out = json.loads(res.stdout)
    print(f"restore {out['seconds']}s: {out['replay'].get('records_read')} records replayed, "
          f"{out['checkpoints_republished']} checkpoints ({out['checkpoints_from_log']} from the log), "
          f"verify {out['verify_summary']}")  # figures (-rA)
    assert erased["subject_id"] in out["subject_keys_withheld"]
    assert kept["subject_id"] not in out["subject_keys_withheld"]
    # verify_ok: the restored checkpoint copies are intact and match the log; findings about
    # the log itself (e.g. an earlier test's deliberately tampered scratch topic) are reported apart.
    assert out["verify_ok"] and out["replay"]["records_read"] > 0, out["verify_summary"]
    assert out["verify_summary"]["checkpoints_verified"] > 0, out["verify_summary"]

    # The restored store never decrypts the erased subject: its sealed fields on the log read as
    # erased; the other subject's key came back unchanged and its fields open again.
    restored = RedisKeyStore(url)
    assert restored.get(erased["subject_id"]) is None
    assert restored.get(kept["subject_id"]) == kept_key
    request = next(codec.decode(m.value).record for m in h.read_topic(topics.REQUESTS) if m.key == wf.encode())
    opened = {c["subject_id"]: c for c in sealing.open_record(restored, request)["contacts"]}
    assert opened[erased["subject_id"]]["email"] == sealing.ERASED
    assert opened[kept["subject_id"]]["email"] == kept["email"]
    # Projections rebuilt from the log; checkpoint heads restored (a checkpointer resumes after them).
    assert queries.workflow_status(url, wf)["phase"] == "COMPLETED"
    assert _admin(url).hlen(CHECKPOINT_HEADS) > 0
    # A restored backup refuses to be restored again over live keys.
    again = ufctl("dr", "restore", str(manifest.parent), env=drill_env)
    assert again.returncode == 1 and "empty Redis" in again.stderr
    # The suite itself was only read: the erasure holds there too, the other key is untouched.
    assert h.KEYS.get(erased["subject_id"]) is None and h.KEYS.get(kept["subject_id"]) == kept_key


def test_backup_refuses_an_altered_file(suite, tmp_path: Path):
    res = ufctl("dr", "backup", "--out", str(tmp_path / "bk"))
    assert res.returncode == 0, res.stderr
    target = tmp_path / "bk" / "topics.yaml"
    target.write_bytes(target.read_bytes() + b"\n")
    res = ufctl("dr", "restore", str(tmp_path / "bk"))
    assert res.returncode == 1 and "does not match its hash" in res.stderr
