"""What the suite writes to Redis in transactions and scripts survives a restart of Redis - an
erasure above all. A throw-away Redis, configured exactly like the local stack's (infra/stack.py:
the same redis.conf, AOF fsync'd every second, and the ACL file of
services/kit/contracts/redis_users.py), is written to by the suite's own code, stopped and started
again on its append-only file.

Why: with the ACL's `default` user `off`, Redis before redis/redis#14545 replays the AOF as that
user and re-checks every EXEC against it, so each MULTI/EXEC and each multi-write Lua script in
the AOF was silently dropped on restart: an erased subject key came back, checkpoint heads went
back in time and the audit checkpointer forked its chain."""
from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.kit.runtime.paths import ROOT
from services.kit.runtime.service_table import HOST, REDIS_SCRATCH_PORT
from services.kit.security.subject_keys import RedisKeyStore
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration


def _stack():
    spec = importlib.util.spec_from_file_location("uf_infra_stack", ROOT / "infra" / "stack.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class ScratchRedis:
    def __init__(self, var: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("UF_REDIS_USERS_DIR", str(var / "redis-users"))
        self.stack = _stack()
        self.cfg = self.stack.Config()
        self.cfg.var, self.cfg.data, self.cfg.conf = var, var / "data", var / "conf"
        self.cfg.redis_port = REDIS_SCRATCH_PORT
        self.users = var / "redis-users"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.stack.redis_command(self.cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        eventually(lambda: self.client("admin").ping(), timeout_s=30, what="the scratch Redis answers")

    def client(self, user: str) -> redis.Redis:
        password = (self.users / f"{user}.password").read_text().strip()
        return redis.Redis(host=HOST, port=REDIS_SCRATCH_PORT, username=user, password=password, socket_timeout=5)

    def restart(self) -> None:
        self.client("admin").shutdown()  # a clean stop: Redis fsyncs its AOF first
        assert self.proc is not None
        self.proc.wait(timeout=30)
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScratchRedis]:
    server = ScratchRedis(tmp_path, monkeypatch)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_an_erasure_and_scripted_writes_survive_a_restart(scratch: ScratchRedis):
    # The suite's own code, as the users that run it: ufctl creates subject keys, the audit
    # service erases them (a Lua script: delete the key, drop it from the retention index, announce).
    created = RedisKeyStore("", client=scratch.client("ufctl"))
    erased_kid, _ = created.get_or_create("subject-erased", retention_s=3600)
    kept = created.get_or_create("subject-kept", retention_s=3600)
    audit = RedisKeyStore("", client=scratch.client("audit"))
    assert audit.delete_if("subject-erased", erased_kid)
    pipe = scratch.client("audit").pipeline(transaction=True)  # a MULTI/EXEC, as the projections write
    pipe.hset("uf:audit:ckpt:heads", "uf.gdpr:0", "head-after-the-erasure")
    pipe.sadd("uf:audit:ckpt:unpublished", "uf.gdpr:0:7")
    pipe.execute()

    scratch.restart()

    after = RedisKeyStore("", client=scratch.client("ufctl"))
    assert after.get("subject-erased") is None, "an erased subject key came back after a Redis restart"
    assert after.get("subject-kept") == kept
    admin = scratch.client("admin")
    assert admin.zscore("uf:subject-key-expiry", "subject-erased") is None
    assert admin.hget("uf:audit:ckpt:heads", "uf.gdpr:0") == b"head-after-the-erasure"
    assert admin.sismember("uf:audit:ckpt:unpublished", "uf.gdpr:0:7")
    # and still no command without credentials
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host=HOST, port=REDIS_SCRATCH_PORT, socket_timeout=5).get("uf:subject-key:subject-kept")
