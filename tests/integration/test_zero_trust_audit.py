"""Tamper evidence without holes, as the tampering it names: a signed record replayed verbatim,
a forged record on the checkpoint topic, the newest checkpoint deleted from its out-of-band
copies, and a workflow's state rewritten in Redis and OpenSearch only - each named by
`ufctl audit verify` with its place; `ufctl status` and `audit report` show the signed log's
state, not the forged one, and say so."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import redis as syncredis
from aiokafka import AIOKafkaProducer

from services.kit.contracts import topics
from services.kit.contracts.keys import checkpoint_key, wf_key
from services.kit.runtime.paths import ROOT
from services.kit.security import kafka_auth, redis_auth, search_auth
from tests.integration import helpers as h
from tests.integration.test_audit_trail import S, phase_event, scratch, ufctl, wait_checkpointed  # noqa: F401 (fixture)
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration


def produce(topic: str, value: bytes, key: bytes, headers=None, partition: int | None = None) -> int:
    async def go() -> int:
        p = AIOKafkaProducer(bootstrap_servers=h.SETTINGS.kafka_bootstrap, **kafka_auth.client_args(kafka_auth.ADMIN))
        await p.start()
        try:
            return (await p.send_and_wait(topic, value, key=key, headers=headers or [], partition=partition)).offset
        finally:
            await p.stop()
    return asyncio.run(go())


def verify(*args: str) -> dict:
    rc, out = ufctl("audit", "verify", "--json", *args)
    res = json.loads(out)
    assert rc == (0 if res["ok"] else 1)
    return res


def test_a_signed_record_replayed_on_another_partition_is_a_duplicate(suite):
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    original = next(m for m in h.read_topic(topics.WORKFLOW_EVENTS) if m.key == wf.encode())
    other = (original.partition + 1) % len(h.end_offsets(topics.WORKFLOW_EVENTS))
    offset = produce(topics.WORKFLOW_EVENTS, original.value, original.key, list(original.headers), partition=other)
    res = verify("--topic", topics.WORKFLOW_EVENTS)
    assert not res["ok"]
    assert {"kind": "same-signed-bytes", "topic": topics.WORKFLOW_EVENTS, "partition": other, "offset": offset,
            "first": {"topic": topics.WORKFLOW_EVENTS, "partition": original.partition, "offset": original.offset}} \
        in res["duplicates"]


def test_checkpoint_forged_on_the_topic_or_deleted_from_its_copies_is_named(suite, scratch):  # noqa: F811
    topic = scratch("ckpt")
    for n in range(3):
        last = produce(topic, phase_event(h.unique("wf-ck"), "INITIALIZATION", n), b"k")
    wait_checkpointed(topic, last)
    # 1. a forged checkpoint record on the checkpoint topic (no audit signature)
    forged_at = produce(topics.AUDIT_CHECKPOINTS, b"\xc3\x01forged checkpoint", f"{topic}:0".encode())
    # 2. the newest checkpoint deleted from both out-of-band copies (Redis and OpenSearch)
    r = syncredis.Redis.from_url(S.redis_url, **redis_auth.credentials("admin"))
    newest = max(int(s) for s in r.hkeys(checkpoint_key(topic, 0)))
    r.hdel(checkpoint_key(topic, 0), str(newest))
    es = search_auth.client(S.es_url, "admin")
    es.delete(index=S.checkpoint_index, id=f"{topic}:0:{newest}", refresh=True)
    res = verify("--topic", topic)
    assert not res["ok"]
    assert any(f["offset"] == forged_at and f["topic"] == topics.AUDIT_CHECKPOINTS for f in res["checkpoint_topic"])
    problems = next(p for p in res["partitions"] if p["topic"] == topic)["checkpoint_errors"]
    assert any(p["seq"] == newest and p["problem"] == "checkpoint missing from the Redis and OpenSearch copies"
               for p in problems), problems


def test_state_rewritten_in_redis_and_es_only_is_drift_and_not_shown(suite, tmp_path):
    doc = h.campaign(owner="mallory-owner")
    wf = h.publish(doc)
    assert h.wait_phase(wf)["phase"] == "REJECTED"
    r = syncredis.Redis.from_url(S.redis_url, **redis_auth.credentials("admin"))
    es = search_auth.client(S.es_url, "admin")
    last = [e for e in h.events_of(wf, topics.WORKFLOW_EVENTS)][-1]
    event_id = last["envelope"]["event_id"]
    hit = eventually(lambda: es.search(index=S.es_index, body={"query": {"ids": {"values": [event_id]}}})["hits"]["hits"],
                     what="the phase change indexed")[0]
    r.hset(wf_key(wf), "phase", "COMPLETED")
    es.update(index=hit["_index"], id=event_id, body={"doc": {"phase": "COMPLETED", "data": {"to_phase": "COMPLETED"}}}, refresh=True)
    try:
        res = verify("--topic", topics.WORKFLOW_EVENTS)
        drift = [d for d in res["projection_drift"] if d.get("workflow_id") == wf or d.get("event_id") == event_id]
        assert {(d["store"], d["log"], d["stored"]) for d in drift} == {("redis", "REJECTED", "COMPLETED"),
                                                                         ("opensearch", "REJECTED", "COMPLETED")}
        status = subprocess.run([sys.executable, "-m", "ufctl", "status", wf, "--json"], cwd=ROOT, capture_output=True, text=True)
        assert status.returncode == 1 and json.loads(status.stdout)["phase"] == "REJECTED"
        assert "signed log says REJECTED" in status.stderr
        report = subprocess.run([sys.executable, "-m", "ufctl", "audit", "report", wf, "--out", str(tmp_path)],
                                cwd=ROOT, capture_output=True, text=True)
        assert report.returncode == 1 and "NOT VERIFIED" in report.stderr
        assert json.loads((tmp_path / "report.json").read_text())["final_phase"] == "REJECTED"
    finally:
        r.hset(wf_key(wf), "phase", "REJECTED")
        es.update(index=hit["_index"], id=event_id, body={"doc": {"phase": "REJECTED", "data": {"to_phase": "REJECTED"}}}, refresh=True)
