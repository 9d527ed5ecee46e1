"""Per-data-subject encryption keys (crypto-shredding): PII is stored encrypted under its
subject's key; erasing the subject deletes the key, and every copy of the data - in Kafka,
backups, replays - becomes unreadable while the log itself stays intact and verifiable.

`KeyStore` is the interface (a KMS or Vault can implement it); `RedisKeyStore` is the default,
on a Redis with persistence. Keys carry a retention deadline by data category; the audit
service erases subjects whose deadline has passed."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

import redis
import redis.asyncio as aioredis

from services.kit.contracts.keys import SUBJECT_KEY_ERASED as ERASED_CHANNEL
from services.kit.contracts.keys import SUBJECT_KEY_EXPIRY as EXPIRY_INDEX
from services.kit.contracts.keys import SUBJECT_KEY_PREFIX as KEY_PREFIX
from services.kit.security import redis_auth

log = logging.getLogger(__name__)

WARM_CONNECTIONS = 4  # Redis connections a store warms its cache through
MAX_CACHED = 100_000  # subject keys kept in a process (about 200 bytes each)
DEFAULT_RETENTION_S = {"marketing": 2 * 365 * 86400, "service": 5 * 365 * 86400, "research": 365 * 86400}


# KEYS: subject key, expiry index. ARGV: "<key id>:", subject, invalidation channel
_DELETE_IF_LUA = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('PUBLISH', ARGV[3], ARGV[2])
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
    async def warm(self, subject_ids: Iterable[str]) -> None: ...


class RedisKeyStore:
    """Keys as `uf:subject-key:<subject>` = "<key_id>:<hex key>". Synchronous: used from the
    sealing code, which is CPU-bound and short.

    `cached=True` (the services) keeps keys in process memory, because reading a key from Redis
    for every sealed field was a blocking round trip on the event loop, several per event.
    Erasure stays immediate for every copy: each deletion publishes the subject on
    `SUBJECT_KEY_ERASED` in the same atomic step, a listener thread drops the entry, and the
    cache is only used while that subscription is up (it is emptied and bypassed whenever the
    subscription is down). A look-up racing with an invalidation does not store what it read
    (an epoch counter), so a deleted key is never re-cached. `ttl_s` bounds an entry's life
    anyway: 10 minutes (was 60 s: under load a workflow's phases are minutes apart, and every
    expired key became a blocking MGET on the orchestrator's event loop; erasure does not depend
    on it). `cached=False` (the CLI, tests) asks Redis every time.

    The look-ups themselves are synchronous (sealing is pure, CPU-bound code). A service on an
    event loop first `await`s `warm()` with the subjects an event names: the keys it lacks
    arrive in one asynchronous MGET, and the synchronous look-ups that follow are cache hits,
    so the loop never blocks on Redis while the cache is up."""

    def __init__(self, url: str, *, cached: bool = False, ttl_s: float = 600.0, client: redis.Redis | None = None) -> None:
        # `client`: reuse a connection a tool already holds (e.g. a restore); the URL still names
        # the server for the invalidation listener of a cached store.
        self.redis = client if client is not None else redis.Redis.from_url(url, socket_timeout=5, **redis_auth.credentials())
        self.cached, self.ttl_s = cached, ttl_s
        self._cache: dict[str, tuple[float, tuple[str, bytes]]] = {}
        self._lock = threading.Lock()
        self._epoch = 0  # bumped by every invalidation
        self._subscribed = False
        self._listener: threading.Thread | None = None
        self._pubsub_url = url
        self._aio: aioredis.Redis | None = None  # made on first `warm`, on the caller's loop

    # -- cache ---------------------------------------------------------------------------------
    def _ensure_listener(self) -> None:
        if self._listener is None:
            self._listener = threading.Thread(target=self._listen, name="subject-key-invalidation", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        attempt = 0
        while True:
            client = redis.Redis.from_url(self._pubsub_url, socket_timeout=None, socket_keepalive=True, **redis_auth.credentials())
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(ERASED_CHANNEL)
                pubsub.get_message(timeout=5)  # the subscribe confirmation: from here on nothing is missed
                with self._lock:
                    self._subscribed, attempt = True, 0
                for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._invalidate([_text(message["data"])])
            except Exception as exc:
                log.warning("subject key invalidation channel lost; cache off until resubscribed",
                            extra={"error": exc.__class__.__name__})
            finally:
                with self._lock:
                    self._subscribed = False
                    self._cache.clear()
                    self._epoch += 1
                try:
                    pubsub.close()
                    client.close()
                except Exception:
                    pass
            time.sleep(min(0.1 * 2**attempt, 2.0))
            attempt += 1

    def _invalidate(self, subject_ids: Iterable[str]) -> None:
        with self._lock:
            self._epoch += 1
            for s in subject_ids:
                self._cache.pop(s, None)

    def _cached(self, subject_id: str) -> tuple[str, bytes] | None:
        if not self.cached:
            return None
        self._ensure_listener()
        with self._lock:
            if not self._subscribed:
                return None
            entry = self._cache.get(subject_id)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._cache[subject_id]
                return None
            return entry[1]

    def _remember(self, found: dict[str, tuple[str, bytes]], epoch: int) -> None:
        """Store what was read, unless an invalidation happened since `epoch` was taken."""
        if not self.cached:
            return
        with self._lock:
            if self._subscribed and self._epoch == epoch:
                until = time.monotonic() + self.ttl_s
                for s, v in found.items():
                    self._cache[s] = (until, v)
                while len(self._cache) > MAX_CACHED:  # bounded: oldest entries go first
                    del self._cache[next(iter(self._cache))]

    async def warm(self, subject_ids: Iterable[str]) -> None:
        """Cache the keys of `subject_ids` that are not cached yet, in one round trip that does
        not block the event loop. Best effort: when the cache is off (an uncached store, or the
        invalidation channel is down) or Redis fails here, it does nothing, and the look-ups that
        follow ask Redis themselves, with their own error handling - so warming never changes
        what a look-up returns, only where it waits."""
        if not self.cached:
            return
        missing = [s for s in dict.fromkeys(subject_ids) if self._cached(s) is None]
        if not missing or not self._subscribed:
            return
        if self._aio is None:
            # A few connections, waited for: a burst warms from many partitions at once, and an
            # unbounded pool grew to ~100 connections per service for one-key-set reads.
            pool = aioredis.BlockingConnectionPool.from_url(self._pubsub_url, max_connections=WARM_CONNECTIONS, timeout=5,
                                                            socket_timeout=5, **redis_auth.credentials())
            self._aio = aioredis.Redis(connection_pool=pool)
        epoch = self._epoch
        try:
            raws = await self._aio.mget([KEY_PREFIX + s for s in missing])
            found = {s: _parse(raw) for s, raw in zip(missing, raws) if raw is not None}
        except (redis.RedisError, OSError, ValueError):  # ValueError: a malformed stored key, the look-up's to report
            return
        self._remember(found, epoch)

    # -- KeyStore --------------------------------------------------------------------------------
    def get(self, subject_id: str) -> tuple[str, bytes] | None:
        return self.get_many([subject_id])[subject_id]

    def get_many(self, subject_ids: Iterable[str]) -> dict[str, tuple[str, bytes] | None]:
        """Keys of several subjects: cache hits, then one MGET for the rest."""
        out: dict[str, tuple[str, bytes] | None] = {}
        missing = []
        for s in dict.fromkeys(subject_ids):
            hit = self._cached(s)
            if hit is None:
                missing.append(s)
            else:
                out[s] = hit
        if missing:
            epoch = self._epoch
            raws = self.redis.mget([KEY_PREFIX + s for s in missing])
            found = {}
            for s, raw in zip(missing, raws):
                out[s] = None
                if raw is not None:
                    out[s] = found[s] = _parse(raw)
            self._remember(found, epoch)
        return out

    def get_or_create(self, subject_id: str, retention_s: int | None = None) -> tuple[str, bytes]:
        cached = self._cached(subject_id)
        if cached:
            return cached
        # Read before creating: the services that seal (orchestrator, delivery) may only read
        # subject keys (services/kit/contracts/redis_users.py) - a key is minted where the data
        # enters (ufctl). A SET NX of an existing key is still a write and was refused (NOPERM)
        # whenever the cache missed: e.g. in a freshly promoted colour, whose cache is off until
        # its invalidation listener has subscribed - and an agent's output became "agent crashed".
        current = self.get(subject_id)
        if current is not None:
            return current
        epoch = self._epoch
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
        self._remember({subject_id: found}, epoch)
        return found

    def delete(self, subject_id: str) -> bool:
        self._invalidate([subject_id])
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(KEY_PREFIX + subject_id)
        pipe.zrem(EXPIRY_INDEX, subject_id)
        pipe.publish(ERASED_CHANNEL, subject_id)
        deleted, _, _ = pipe.execute()
        return bool(deleted)

    def delete_if(self, subject_id: str, key_id: str) -> bool:
        """Delete the subject's key only if it is still the key `key_id` (atomically): re-applying
        an old erasure (restart, restore, replay) never destroys a newer key made for new data."""
        self._invalidate([subject_id])
        return bool(self.redis.eval(_DELETE_IF_LUA, 2, KEY_PREFIX + subject_id, EXPIRY_INDEX, key_id + ":", subject_id,
                                    ERASED_CHANNEL))

    def expired(self, now: float | None = None, limit: int = 100) -> list[str]:
        now = time.time() if now is None else now
        return [_text(s) for s in self.redis.zrangebyscore(EXPIRY_INDEX, 0, now, start=0, num=limit)]


def _parse(raw: Any) -> tuple[str, bytes]:
    """A stored key, "<key id>:<hex key>", as (key id, key)."""
    key_id, hexkey = _text(raw).split(":", 1)
    return key_id, bytes.fromhex(hexkey)


def _text(value: Any) -> str:
    """Redis replies are bytes (this client does not decode responses)."""
    return value.decode() if isinstance(value, bytes) else str(value)
