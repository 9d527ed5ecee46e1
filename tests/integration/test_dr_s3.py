"""DR backups to an S3-compatible store, on the real stack and a real S3 server over a loopback
socket (s3proxy, infra/s3_site.py, started and stopped here): `ufctl dr backup --out s3://...`
uploads the encrypted backup (manifest last), `ufctl dr restore s3://...` restores from it onto
empty stores, an altered object is refused, and the credentials come from the environment only
(never an argument, never echoed)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from tests.integration import helpers as h
from tests.integration.test_dr_restore import empty_stores, ufctl  # noqa: F401  (the drill's own empty stores)
from ufctl import s3

pytestmark = pytest.mark.integration


def s3_site(*args: str, timeout: float = 200) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "infra/s3_site.py", *args], cwd=h.ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    """UF_BACKUP_S3_* of a running s3proxy with a fresh bucket (UF_TEST_BUCKET); the server is
    stopped afterwards unless it was running before."""
    was_up = s3_site("status").returncode == 0
    res = s3_site("up")
    assert res.returncode == 0, res.stdout + res.stderr
    sys.path.insert(0, str(h.ROOT / "infra"))
    import s3_site as site  # infra/s3_site.py

    creds = site.credentials(site.stack.Config())
    bucket = f"uf-dr-{uuid.uuid4().hex[:10]}"
    s3.S3Client(s3.S3Settings(endpoint=creds["UF_BACKUP_S3_ENDPOINT"], access_key_id=creds["UF_BACKUP_S3_ACCESS_KEY_ID"],
                              secret_access_key=creds["UF_BACKUP_S3_SECRET_ACCESS_KEY"])).create_bucket(bucket)
    try:
        yield {**creds, "UF_TEST_BUCKET": bucket}
    finally:
        if not was_up:
            s3_site("down", timeout=120)


def client(env: dict[str, str]) -> s3.S3Client:
    return s3.S3Client(s3.S3Settings(endpoint=env["UF_BACKUP_S3_ENDPOINT"], access_key_id=env["UF_BACKUP_S3_ACCESS_KEY_ID"],
                                     secret_access_key=env["UF_BACKUP_S3_SECRET_ACCESS_KEY"]))


@pytest.mark.timeout(1200)
def test_backup_to_s3_and_restore_from_it(suite, s3_env, empty_stores):  # noqa: F811
    url, drill_env = empty_stores
    bucket = s3_env["UF_TEST_BUCKET"]
    secret = s3_env["UF_BACKUP_S3_SECRET_ACCESS_KEY"]
    env = {**os.environ, **s3_env}
    doc = h.campaign()
    wf = h.publish(doc)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    kept = doc["contacts"][1]["subject_id"]
    kept_key = h.KEYS.get(kept)
    assert kept_key

    target = f"s3://{bucket}/suite/{uuid.uuid4().hex[:8]}"
    res = ufctl("dr", "backup", "--out", target, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == f"{target}/manifest.json"
    # What is in the bucket is the backup: every file the manifest lists, with its hash, and the
    # key material encrypted (no subject id in clear in the Redis part).
    c = client(s3_env)
    prefix = target[len(f"s3://{bucket}/"):]
    keys = c.list(bucket, prefix + "/")
    manifest = json.loads(c.get(bucket, f"{prefix}/manifest.json") or b"{}")
    assert sorted(keys) == sorted([f"{prefix}/manifest.json"] + [f"{prefix}/{n}" for n in manifest["files"]])
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(c.get(bucket, f"{prefix}/{name}") or b"").hexdigest() == digest, name
    assert kept.encode() not in (c.get(bucket, f"{prefix}/redis.json.enc") or b"")
    assert manifest["counts"]["subject_keys"] >= 2

    again = ufctl("dr", "backup", "--out", target, env=env)
    assert again.returncode == 1 and "already holds objects" in again.stderr

    # Restore from the bucket onto empty stores.
    res = ufctl("dr", "restore", target, "--json", env={**drill_env, **s3_env})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    out = json.loads(res.stdout)
    print(f"restore from S3 {out['seconds']}s: {out['subject_keys_restored']} subject keys, "
          f"{out['replay'].get('records_read')} records replayed")  # figures (-rA)
    assert out["verify_ok"] and out["subject_keys_restored"] >= 2
    from services.kit.security.subject_keys import RedisKeyStore

    assert RedisKeyStore(url).get(kept) == kept_key

    # An object altered in the bucket: the restore refuses before writing anything.
    c.put(bucket, f"{prefix}/topics.yaml", (c.get(bucket, f"{prefix}/topics.yaml") or b"") + b"\n")
    bad = ufctl("dr", "restore", target, env={**drill_env, **s3_env})
    assert bad.returncode == 1 and "does not match its hash" in bad.stderr
    for r in (res, again, bad):
        assert secret not in r.stdout + r.stderr


def test_s3_target_needs_credentials_from_the_environment(suite, s3_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("UF_BACKUP_S3_")}
    env["UF_BACKUP_S3_ENDPOINT"] = s3_env["UF_BACKUP_S3_ENDPOINT"]
    res = ufctl("dr", "backup", "--out", f"s3://{s3_env['UF_TEST_BUCKET']}/none", env=env)
    assert res.returncode == 1 and "S3 credentials missing" in res.stderr
    wrong = {**env, "UF_BACKUP_S3_ACCESS_KEY_ID": s3_env["UF_BACKUP_S3_ACCESS_KEY_ID"],
             "UF_BACKUP_S3_SECRET_ACCESS_KEY": "not-the-secret"}
    res = ufctl("dr", "backup", "--out", f"s3://{s3_env['UF_TEST_BUCKET']}/wrong", env=wrong)
    assert res.returncode == 1 and "SignatureDoesNotMatch" in res.stderr and "not-the-secret" not in res.stderr
