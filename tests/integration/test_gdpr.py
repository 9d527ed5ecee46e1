"""GDPR erasure by crypto-shredding on the real stack: after `ufctl gdpr erase`, no clear value
of the subject is left in Kafka, Redis, OpenSearch or the logs; the log is unchanged and its
sealed fields read as erased; the subject cannot be processed again."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

import pytest

from services.kit.contracts import codec, topics
from services.kit.contracts.keys import consent_key
from services.kit.runtime.service_table import SERVICES
from services.kit.security import redis_auth, sealing, search_auth
from services.kit.security.subject_keys import KEY_PREFIX
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration


def all_topics() -> list[str]:
    from services.kit.contracts.topics import load_topics

    return sorted(load_topics())


def es_contains(text: str) -> bool:
    body = json.dumps({"query": {"query_string": {"query": json.dumps(text)}}}).encode()
    req = urllib.request.Request(f"{h.SETTINGS.es_url}/_all/_search", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10, context=search_auth.ssl_context("admin")) as r:
        return json.loads(r.read())["hits"]["total"]["value"] > 0


def test_erasure_leaves_no_clear_value_and_the_log_intact(suite):
    doc = h.campaign()
    wf = h.publish(doc)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    erased, kept = doc["contacts"][0], doc["contacts"][1]
    res = subprocess.run([sys.executable, "-m", "ufctl", "gdpr", "erase", erased["subject_id"]], cwd=h.ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr

    r = __import__("redis").Redis.from_url(h.SETTINGS.redis_url, **redis_auth.credentials("admin"))
    eventually(lambda: not r.exists(consent_key(erased["subject_id"])), what="the consent projection applying the erasure")
    assert r.get(KEY_PREFIX + erased["subject_id"]) is None, "the key is gone"
    assert not r.exists(consent_key(erased["subject_id"])), "consent purged from the projection"
    assert any(codec.decode(m.value).record["subject_id"] == erased["subject_id"] for m in h.read_topic(topics.GDPR)), \
        "the erasure is itself in the audit trail"

    secrets = [erased["email"].encode(), erased["name"].encode()]
    for topic in all_topics():
        for m in h.read_topic(topic, timeout_s=20):
            blob = (m.value or b"") + (m.key or b"") + b"".join(v for _, v in (m.headers or []))
            for s in secrets:
                assert s not in blob, f"clear value in {topic}@{m.partition}:{m.offset}"
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        values = [r.get(key)] if kind == b"string" else list(r.hgetall(key).values()) if kind == b"hash" else []
        for v in values:
            assert not any(s in (v or b"") for s in secrets), f"clear value in Redis key {key!r}"
    assert not es_contains(erased["email"]) and not es_contains(erased["name"])
    for name in SERVICES:
        text = (h.ROOT / "var" / "log" / f"{name}.log").read_bytes()
        assert not any(s in text for s in secrets), f"clear value in {name}.log"

    # The log is untouched; its sealed fields now read as erased, the other subjects' do not.
    request = next(codec.decode(m.value).record for m in h.read_topic(topics.REQUESTS) if m.key == wf.encode())
    opened = sealing.open_record(h.KEYS, request)
    by_subject = {c["subject_id"]: c for c in opened["contacts"]}
    assert by_subject[erased["subject_id"]]["email"] == sealing.ERASED
    assert by_subject[kept["subject_id"]]["email"] == kept["email"]

    # The erased subject cannot be processed again: its consent is gone.
    again = h.campaign(contacts=[{**erased}], grant=False)
    again["contacts"][0]["subject_id"] = erased["subject_id"]
    st = h.wait_phase(h.publish(again))
    assert st["phase"] == "REJECTED" and "consent" in st["reason"]


def test_retention_deadline_erases_the_subject_by_itself(suite):
    subject = h.unique("ret")
    h.KEYS.get_or_create(subject, retention_s=1)
    since = h.end_offsets(topics.GDPR)
    erased = eventually(lambda: [codec.decode(m.value).record for m in h.read_topic(topics.GDPR, since=since)
                                 if m.key == subject.encode()], timeout_s=60, interval_s=1.0, what="the retention erasure")
    assert erased and erased[0]["reason"] == "retention"
    assert h.KEYS.get(subject) is None


# --- erasure is recorded before it takes effect (issue 15) -------------------------------------
def _erase(subject: str, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "ufctl", "gdpr", "erase", subject], cwd=h.ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


def _gdpr_records(subject: str, since: dict[int, int]) -> list[tuple[Any, Any]]:
    return [(m, codec.decode(m.value)) for m in h.read_topic(topics.GDPR, since=since) if m.key == subject.encode()]


def test_erasure_with_kafka_unreachable_is_refused_and_deletes_nothing(suite):
    subject = h.unique("erk")
    key_id, _ = h.KEYS.get_or_create(subject)
    since = h.end_offsets(topics.GDPR)
    res = _erase(subject, UF_KAFKA_BOOTSTRAP="127.0.0.1:9")  # nothing listens there
    assert res.returncode == 1 and "nothing deleted" in res.stderr
    assert h.KEYS.get(subject) == (key_id, h.KEYS.get(subject)[1]), "the key is still held"
    assert _gdpr_records(subject, since) == [], "no erasure recorded"


def test_recorded_erasure_is_finished_by_the_audit_service_with_a_signed_receipt(suite):
    """A crash between recording the erasure and deleting the key: the audit service, which
    applies every recorded erasure, deletes the key and signs a receipt."""
    from services.kit.security.signing import TrustStore, verify_signature
    from ufctl import publishing

    subject = h.unique("erc")
    key_id, _ = h.KEYS.get_or_create(subject)
    since = h.end_offsets(topics.GDPR)
    h.send(publishing.erasure_event(subject, "request", "test-crashed-cli", key_id))  # ... and then "crash"
    eventually(lambda: h.KEYS.get(subject) is None, what="the recorded erasure applied")
    receipts = eventually(lambda: [(m, d) for m, d in _gdpr_records(subject, since) if d.event_type == "ErasureReceipt"],
                          what="an erasure receipt")
    msg, receipt = receipts[0]
    assert receipt.record["key_id"] == key_id and receipt.record["deleted_now"] is True
    ok, reason, signer = verify_signature(topics.GDPR, msg.key, msg.value, list(msg.headers or ()), TrustStore())
    assert ok and signer.startswith("audit-"), reason


def test_normal_erasure_yields_a_receipt_and_never_destroys_a_newer_key(suite):
    subject = h.unique("ern")
    old_id, _ = h.KEYS.get_or_create(subject)
    since = h.end_offsets(topics.GDPR)
    res = _erase(subject)
    assert res.returncode == 0 and old_id in res.stdout
    erased = eventually(lambda: [d for _, d in _gdpr_records(subject, since) if d.event_type == "ErasureReceipt"],
                        what="receipt")
    assert erased[0].record["key_id"] == old_id
    # New data about the same pseudonym gets a new key; the old erasure re-applied leaves it alone.
    h.KEYS._cache.clear()
    new_id, _ = h.KEYS.get_or_create(subject)
    assert new_id != old_id
    assert h.KEYS.delete_if(subject, old_id) is False and h.KEYS.get(subject)[0] == new_id


def _redis_files() -> list[Any]:
    from services.kit.runtime.paths import VAR

    return [p for p in (VAR / "data" / "redis").rglob("*") if p.is_file()]


def test_erased_key_leaves_the_redis_persistence_files(suite):
    """The AOF holds the SET of every key; after an erasure the audit service rewrites the AOF and
    takes a new snapshot, so the deleted key material is in no persistence file any more."""
    subject = h.unique("erf")
    key_id, key = h.KEYS.get_or_create(subject)
    needle = key.hex().encode()

    def in_files() -> bool:
        return any(needle in p.read_bytes() for p in _redis_files())

    eventually(in_files, what="the key written to the AOF (fsync every second)")
    assert _erase(subject).returncode == 0
    eventually(lambda: not in_files(), what="the erased key gone from every Redis persistence file")


def test_a_service_key_cache_drops_an_erased_key_at_once(suite):
    """Services cache subject keys in memory; an erasure from another process (ufctl, the audit
    service, retention) must still make the key unusable there, without waiting for a TTL."""
    from services.kit.security.subject_keys import RedisKeyStore
    from tests.integration.waiting import eventually

    cached = RedisKeyStore(h.SETTINGS.redis_url, cached=True, ttl_s=3600)
    subject = h.unique("cache")
    created = h.KEYS.get_or_create(subject)
    assert cached.get(subject) == created  # the first look-up starts the invalidation listener
    eventually(lambda: cached._subscribed, timeout_s=10, what="invalidation channel subscribed")
    assert cached.get(subject) == created  # read from Redis and cached
    real_mget = cached.redis.mget
    cached.redis.mget = lambda *a, **k: (_ for _ in ()).throw(AssertionError("cache not used"))  # type: ignore[method-assign]
    assert cached.get(subject) == created, "served from the cache, no Redis round trip"
    cached.redis.mget = real_mget  # type: ignore[method-assign]

    assert h.KEYS.delete(subject)  # another process erases (as `ufctl gdpr erase` does)
    eventually(lambda: cached.get(subject) is None, timeout_s=5, interval_s=0.01, what="erased key dropped from the cache")
    assert cached.get_or_create(subject) != created, "a new key, never the erased one"


def test_a_warmed_key_cache_serves_the_event_loop_without_a_blocking_look_up(suite):
    """A service on an event loop warms its key cache, asynchronously, with the subjects an event
    names; the synchronous look-ups of the sealing code that follow must not go to Redis (they
    would block the loop), a subject without a key stays unknown, and an erasure still drops a
    warmed key at once."""
    import asyncio

    from services.kit.security.subject_keys import RedisKeyStore

    cached = RedisKeyStore(h.SETTINGS.redis_url, cached=True, ttl_s=3600)
    subjects = [h.unique("warm") for _ in range(3)]
    made = {s: h.KEYS.get_or_create(s) for s in subjects}
    keyless = h.unique("warm-keyless")
    cached.get(keyless)  # starts the invalidation listener
    eventually(lambda: cached._subscribed, timeout_s=10, what="invalidation channel subscribed")
    asyncio.run(cached.warm([*subjects, keyless]))

    real_mget = cached.redis.mget
    cached.redis.mget = lambda *a, **k: (_ for _ in ()).throw(AssertionError("blocking look-up"))  # type: ignore[method-assign]
    try:
        assert cached.get_many(subjects) == made, "every warmed key served from memory"
    finally:
        cached.redis.mget = real_mget  # type: ignore[method-assign]
    assert cached.get(keyless) is None, "no key is not cached as a key"

    assert h.KEYS.delete(subjects[1])
    eventually(lambda: cached.get(subjects[1]) is None, timeout_s=5, interval_s=0.01, what="erased key dropped from the cache")
    assert cached.get(subjects[0]) == made[subjects[0]]
