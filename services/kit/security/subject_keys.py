"""Per-data-subject encryption keys (crypto-shredding): PII is stored encrypted under its
subject's key; erasing the subject deletes the key, and every copy of the data - in Kafka,
backups, replays - becomes unreadable while the log itself stays intact and verifiable.

`KeyStore` is the interface (a KMS or Vault can implement it); `RedisKeyStore` is the default,
on a Redis with persistence. Keys carry a retention deadline by data category; the audit
service erases subjects whose deadline has passed."""
from __future__ import annotations

import os
import time
from typing import Any, Protocol

import redis

from services.kit.contracts.keys import SUBJECT_KEY_EXPIRY as EXPIRY_INDEX
from services.kit.contracts.keys import SUBJECT_KEY_PREFIX as KEY_PREFIX

DEFAULT_RETENTION_S = {"marketing": 2 * 365 * 86400, "service": 5 * 365 * 86400, "research": 365 * 86400}


# KEYS: subject key, expiry index. ARGV: "<key id>:", subject
_DELETE_IF_LUA = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


class KeyStore(Protocol):
    def get(self, subject_id: str) -> tuple[str, bytes] | None: ...
    def get_or_create(self, subject_id: str, retention_s: int | None = None) -> tuple[str, bytes]: ...
    def delete(self, subject_id: str) -> bool: ...
    def delete_if(self, subject_id: str, key_id: str) -> bool: ...
    def expired(self, now: float | None = None, limit: int = 100) -> list[str]: ...


class RedisKeyStore:
    """Keys as `uf:subject-key:<subject>` = "<key_id>:<hex key>". Synchronous on purpose: used
    from the codec path, which is CPU-bound and short; a small in-process cache avoids a round
    trip per field (entries are dropped on delete; other processes see deletes at once because
    `get` on a cache miss and `is_erased` always ask Redis)."""

    def __init__(self, url: str) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=5)
        self._cache: dict[str, tuple[str, bytes]] = {}

    def get(self, subject_id: str) -> tuple[str, bytes] | None:
        raw = self.redis.get(KEY_PREFIX + subject_id)
        if raw is None:
            self._cache.pop(subject_id, None)
            return None
        key_id, hexkey = _text(raw).split(":", 1)
        return key_id, bytes.fromhex(hexkey)

    def get_or_create(self, subject_id: str, retention_s: int | None = None) -> tuple[str, bytes]:
        cached = self._cache.get(subject_id)
        if cached:
            return cached
        key_id, key = os.urandom(8).hex(), os.urandom(32)
        if self.redis.set(KEY_PREFIX + subject_id, f"{key_id}:{key.hex()}", nx=True):
            if retention_s:
                self.redis.zadd(EXPIRY_INDEX, {subject_id: time.time() + retention_s}, nx=True)
            found = (key_id, key)
        else:
            current = self.get(subject_id)  # created concurrently elsewhere
            if current is None:
                raise KeyError("subject key vanished while being created")
            found = current
        self._cache[subject_id] = found
        return found

    def delete(self, subject_id: str) -> bool:
        self._cache.pop(subject_id, None)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(KEY_PREFIX + subject_id)
        pipe.zrem(EXPIRY_INDEX, subject_id)
        deleted, _ = pipe.execute()
        return bool(deleted)

    def delete_if(self, subject_id: str, key_id: str) -> bool:
        """Delete the subject's key only if it is still the key `key_id` (atomically): re-applying
        an old erasure (restart, restore, replay) never destroys a newer key made for new data."""
        self._cache.pop(subject_id, None)
        return bool(self.redis.eval(_DELETE_IF_LUA, 2, KEY_PREFIX + subject_id, EXPIRY_INDEX, key_id + ":", subject_id))

    def expired(self, now: float | None = None, limit: int = 100) -> list[str]:
        now = time.time() if now is None else now
        return [_text(s) for s in self.redis.zrangebyscore(EXPIRY_INDEX, 0, now, start=0, num=limit)]


def _text(value: Any) -> str:
    """Redis replies are bytes (this client does not decode responses)."""
    return value.decode() if isinstance(value, bytes) else str(value)
