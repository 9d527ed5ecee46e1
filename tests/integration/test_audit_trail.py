"""Tamper evidence on the real stack: forged and altered records, a topic recreated without some
records, replayed projections equal to the live ones, inclusion proofs, the compliance report.

Scratch topics are named `uf.scratch.audit.*` (the audit service's configured extra pattern):
the running audit service chains and checkpoints them within seconds; each test deletes its
topics and their stored checkpoints afterwards."""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shutil
import time
import uuid

import pytest
import redis as syncredis
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.config import AuditSettings
from services.audit.live.checkpoint_store import CheckpointStore
from services.kit.contracts import codec, topics
from services.kit.contracts.events import Origin, make_event
from services.kit.security import kafka_auth, redis_auth, search_auth
from services.kit.security.signing import DEFAULT_KEYS_DIR, Signer
from tests.integration import helpers as h
from tests.integration.waiting import eventually, eventually_async
from ufctl.cli import main as ufctl_main

pytestmark = pytest.mark.integration
S = AuditSettings()
HAPPY = ["INITIALIZATION", "BATCH_DISCOVERY", "STRATEGY_ANALYSIS", "GENERATION", "REVIEW", "DELIVERY", "COMPLETED"]
TESTER = Origin("audit-test", "0", "test")


def ufctl(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = ufctl_main(list(args))
    return rc, out.getvalue()


async def _admin(action: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=h.SETTINGS.kafka_bootstrap, request_timeout_ms=15000, **kafka_auth.client_args(kafka_auth.ADMIN))
    await admin.start()
    try:
        if action == "create":
            await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"retention.ms": "-1"})])
        else:
            await admin.delete_topics([topic])
    finally:
        await admin.close()


def create_topic(topic: str, timeout_s: float = 30) -> None:
    """Create (retrying while a deletion of the same name is still in progress)."""
    def created() -> bool:
        asyncio.run(_admin("create", topic))
        return True

    eventually(created, timeout_s=timeout_s, interval_s=0.5, what=f"topic {topic} created")


def delete_topic(topic: str, timeout_s: float = 30) -> None:
    with contextlib.suppress(Exception):
        asyncio.run(_admin("delete", topic))
    eventually(lambda: not h.end_offsets(topic), timeout_s=timeout_s, interval_s=0.5, what=f"topic {topic} deleted")


def forget_checkpoints(topic: str) -> None:
    async def go() -> None:
        r, es = aioredis.from_url(S.redis_url, **redis_auth.credentials("admin")), search_auth.async_client(S.es_url, "admin")
        try:
            await CheckpointStore(r, es, S.checkpoint_index).forget_topic(topic)
        finally:
            await es.close()
            await r.aclose()

    asyncio.run(go())


def produce(topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]], int | None]]) -> None:
    """(key, value, headers, timestamp_ms or None) in order, one partition."""

    async def go() -> None:
        p = AIOKafkaProducer(bootstrap_servers=h.SETTINGS.kafka_bootstrap, acks="all", enable_idempotence=True,
                             **kafka_auth.client_args(kafka_auth.ADMIN))
        await p.start()
        try:
            for key, value, headers, ts in records:
                await p.send_and_wait(topic, value, key=key, headers=headers, timestamp_ms=ts, partition=0)
        finally:
            await p.stop()

    asyncio.run(go())


def attested_through(topic: str) -> int:
    raw = syncredis.Redis.from_url(S.redis_url, **redis_auth.credentials("admin")).hget("uf:audit:ckpt:heads", f"{topic}:0")
    return json.loads(raw)["last_offset"] if raw else -1


def wait_checkpointed(topic: str, last_offset: int, timeout_s: float = 45) -> None:
    eventually(lambda: attested_through(topic) >= last_offset, timeout_s=timeout_s, interval_s=0.5,
               what=f"audit service checkpointing {topic} through {last_offset}")


def phase_event(workflow_id: str, to_phase: str, n: int) -> bytes:
    return codec.encode(make_event("WorkflowPhaseChanged", origin=TESTER, workflow_id=workflow_id, session_id="s",
                                   correlation_id=workflow_id, from_phase=None, to_phase=to_phase, reason=f"step {n}"))


@pytest.fixture
def scratch():
    made: list[str] = []

    def new(kind: str) -> str:
        name = f"uf.scratch.audit.{kind}-{uuid.uuid4().hex[:8]}"
        create_topic(name)
        made.append(name)
        return name

    yield new
    for name in made:
        delete_topic(name)
        forget_checkpoints(name)


@pytest.fixture
def trusted(tmp_path):
    """A trust directory: this machine's service keys plus a test signer's key."""
    keys = tmp_path / "keys"
    keys.mkdir()
    for pub in DEFAULT_KEYS_DIR.glob("*.pub"):
        shutil.copy(pub, keys / pub.name)
    signer = Signer("tester", Ed25519PrivateKey.generate())
    signer.write_public(keys)
    return keys, signer


def real_record():
    """A real phase change of a completed workflow, as it sits on uf.workflow.events."""
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    for m in h.read_topic(topics.WORKFLOW_EVENTS, since={p: max(0, o - 60) for p, o in h.end_offsets(topics.WORKFLOW_EVENTS).items()}):
        if m.key == wf.encode():
            return m
    raise AssertionError("no phase change of the new workflow on uf.workflow.events")


def test_forged_and_altered_records_are_reported_with_their_offsets(suite, scratch, trusted, tmp_path):
    keys, signer = trusted
    topic = scratch("forge")
    real = real_record()
    record = codec.decode(real.value).record
    record["to_phase"] = "COMPLETED" if record["to_phase"] != "COMPLETED" else "FAILED"
    altered = codec.encode(record)
    outsider = Signer("tester", Ed25519PrivateKey.generate())  # not in the trust directory
    key = real.key
    produce(topic, [
        (key, real.value, signer.headers(topic, key, real.value), None),        # 0 genuine (trusted signer)
        (key, real.value, [], None),                                            # 1 unsigned
        (key, altered, signer.headers(topic, key, real.value), None),           # 2 altered copy, original signature
        (key, real.value, outsider.headers(topic, key, real.value), None),      # 3 signed by an unknown key
        (key, real.value, list(real.headers or ()), None),                      # 4 verbatim copy from another topic
        (key, altered, signer.headers(topic, key, altered), None),              # 5 genuine
    ])
    policy = tmp_path / "policy.yaml"
    policy.write_text("default: chain\nrules:\n  - {topic: 'uf.scratch.audit.forge-*', mode: signed}\n")
    wait_checkpointed(topic, 5)
    rc, out = ufctl("audit", "verify", "--topic", topic, "--json", "--policy", str(policy), "--trusted-keys", str(keys))
    res = json.loads(out)
    assert rc == 1 and not res["ok"]
    part = res["partitions"][0]
    forged = {f["offset"]: f["reason"] for f in part["forged"]}
    assert forged[1] == "unsigned"
    assert forged[2] == "bad-signature"
    assert forged[3] == "unknown-key"
    assert forged[4] in {"unsigned", "bad-signature"}, "a record copied from another topic never verifies here"
    assert 0 not in forged and 5 not in forged
    assert not (part["modified"] or part["deleted"] or part["inserted"] or part["reordered"] or part["checkpoint_errors"])
    assert part["checkpoints_verified"] == part["checkpoints"] >= 1
    # the human output names them too
    rc, text = ufctl("audit", "verify", "--topic", topic, "--policy", str(policy), "--trusted-keys", str(keys))
    assert rc == 1 and f"FORGED     {topic}[0]@2  bad-signature" in text


def test_recreated_topic_missing_altered_and_shuffled_records_is_named_by_offset(suite, scratch):
    topic = scratch("recreate")
    base = int(time.time() * 1000) - 60_000
    wf = h.unique("wf-scratch")
    originals = [(wf.encode(), phase_event(wf, HAPPY[i % len(HAPPY)], i), [("trace", b"%d" % i)], base + i) for i in range(30)]
    produce(topic, originals[:20])
    wait_checkpointed(topic, 19)
    produce(topic, originals[20:])
    wait_checkpointed(topic, 29)
    rc, out = ufctl("audit", "verify", "--topic", topic, "--json")
    assert rc == 0, out
    assert json.loads(out)["summary"]["checkpoints"] >= 2

    # an operator with broker access "fixes" the topic: recreates it from a doctored copy
    copy = list(originals)
    copy[3] = (copy[3][0], phase_event(wf, "FAILED", 3), copy[3][2], copy[3][3])     # modified at 3
    copy[12], copy[13] = copy[13], copy[12]                                              # reordered 12/13
    copy.insert(26, (wf.encode(), phase_event(wf, "COMPLETED", 99), [], base + 99))      # inserted before old 26
    copy = [r for n, r in enumerate(copy) if n not in (7, 8, 20)]                        # deleted 7, 8, 20
    delete_topic(topic)
    create_topic(topic)
    produce(topic, copy)

    rc, out = ufctl("audit", "verify", "--topic", topic, "--json")
    assert rc == 1
    part = json.loads(out)["partitions"][0]
    assert [d["offset"] for d in part["deleted"]] == [7, 8, 20]
    assert [m["offset"] for m in part["modified"]] == [3]
    assert len(part["reordered"]) == 1 and part["reordered"][0]["offset"] in (12, 13)
    assert len(part["inserted"]) == 1
    assert part["checkpoints_mismatched"], "the recomputed roots no longer match the signed ones"
    assert not part["checkpoint_errors"], "the checkpoints themselves are intact (out of band)"


def _snapshot(workflows: list[str]) -> dict:
    es = search_auth.client(S.es_url, "admin")
    r = syncredis.Redis.from_url(S.redis_url, **redis_auth.credentials("admin"))
    es.indices.refresh(index=S.es_index)
    res = es.search(index=S.es_index, size=1000, body={"query": {"terms": {"workflow_id": workflows}}, "sort": [{"event_id": "asc"}]})
    return {
        "es": [hit["_source"] for hit in res["hits"]["hits"]],
        "redis": {wf: (r.hgetall(f"uf:wf:{wf}"), r.hgetall(f"uf:wf:{wf}:history")) for wf in workflows},
    }


def _settled(workflows: list[str], timeout_s: float = 20) -> dict:
    """Snapshot once the live projection stops changing (late deliveries, outcomes)."""
    previous = [_snapshot(workflows)]

    def unchanged() -> dict | None:
        now = _snapshot(workflows)
        same = now == previous[0]
        previous[0] = now
        return now if same else None

    return eventually(unchanged, timeout_s=timeout_s, interval_s=1.5, what="the live projection settling")


def test_replay_rebuilds_projections_equal_to_the_live_ones_and_resumes(suite):
    docs = [h.campaign() for _ in range(2)]
    ids = [h.publish(d) for d in docs]
    for wf in ids:
        assert h.wait_phase(wf)["phase"] == "COMPLETED"
    before = _settled(ids)
    assert len(before["es"]) > 20 and all(before["redis"][wf][0] for wf in ids)
    # damage the live projections: the replay must put them back from the log
    syncredis.Redis.from_url(S.redis_url, **redis_auth.credentials("admin")).hset(f"uf:wf:{ids[0]}", "phase", "BOGUS")
    es = search_auth.client(S.es_url, "admin")
    victim = es.search(index=S.es_index, body={"query": {"term": {"workflow_id": ids[1]}}}, size=1)["hits"]["hits"][0]
    es.delete(index=victim["_index"], id=victim["_id"], refresh=True)

    rc, _ = ufctl("audit", "replay", "--stop-after", "10")  # the two workflows alone wrote > 50 records
    assert rc == 1, "interrupted on purpose"
    rc, out = ufctl("audit", "replay", "--resume", "--json")
    assert rc == 0, out
    res = json.loads(out)
    assert any("resuming" in n for n in res["notes"]), "the second run continued the first"
    after = _snapshot(ids)
    assert after == before
    assert h.status(ids[0])["phase"] == "COMPLETED"
    # readers keep working through the alias
    rc, out = ufctl("audit", "show", ids[1], "--json")
    assert rc == 0 and [e["phase"] for e in json.loads(out) if e["event_type"] == "WorkflowPhaseChanged"] == HAPPY


def test_filtered_replay_of_one_workflow(suite):
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    before = _settled([wf])
    syncredis.Redis.from_url(S.redis_url, **redis_auth.credentials("admin")).hset(f"uf:wf:{wf}", "phase", "BOGUS")
    rc, out = ufctl("audit", "replay", "--workflow", wf, "--json")
    assert rc == 0, out
    assert json.loads(out)["workflows_replaced"] == 1
    assert _snapshot([wf]) == before


def test_inclusion_proof_of_a_real_event_verifies_and_a_tampered_one_fails(suite, tmp_path):
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    from ufctl.queries import audit_timeline

    def timeline() -> list[dict]:  # the search engine makes writes visible after its refresh interval
        events = [e for e in audit_timeline(S.es_url, S.es_index, wf) if e["event_type"] == "WorkflowPhaseChanged"]
        return events if len(events) >= len(HAPPY) else []

    events = eventually(timeline, timeout_s=60, interval_s=0.5, what="the whole timeline in the search engine")
    assert len(events) == len(HAPPY)
    event_id = events[-1]["event_id"]
    proof_file = tmp_path / "proof.json"
    def proved() -> tuple[int, str] | None:  # the last records are attested within the checkpoint interval
        rc, out = ufctl("audit", "prove", event_id, "--json", "--out", str(proof_file))
        return (rc, out) if rc == 0 else None

    rc, out = eventually(proved, timeout_s=60, interval_s=1, what=f"an inclusion proof of {event_id}")
    assert rc == 0, out
    proof = json.loads(out)
    assert proof["verified"] and proof["event_id"] == event_id and proof["topic"] == topics.WORKFLOW_EVENTS
    assert ufctl("audit", "prove", "--check", str(proof_file))[0] == 0

    def tampered(change) -> list[str]:
        p = json.loads(proof_file.read_text())
        change(p)
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(p))
        rc, out = ufctl("audit", "prove", "--check", str(bad), "--json")
        assert rc == 1
        return json.loads(out)["failed_checks"]

    flip = lambda hx: ("0" if hx[0] != "0" else "1") + hx[1:]  # noqa: E731
    assert tampered(lambda p: p.update(content_hash=flip(p["content_hash"])))
    assert tampered(lambda p: p.update(offset=p["offset"] + 1))
    if proof["audit_path"]:
        assert tampered(lambda p: p["audit_path"].__setitem__(0, flip(p["audit_path"][0])))

    def forge_root(p):
        p["checkpoint"]["merkle_root"] = flip(p["checkpoint"]["merkle_root"])
        p["root"] = p["checkpoint"]["merkle_root"]

    assert any("signature" in f for f in tampered(forge_root))


def test_compliance_report_lists_transitions_decisions_approvals_and_deliveries(suite, tmp_path):
    doc = h.campaign()
    wf = h.publish(doc)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"

    def full_report() -> dict | None:  # the search engine shows the last events after its refresh
        rc, _ = ufctl("audit", "report", wf, "--out", str(tmp_path / "r"))
        rep = json.loads((tmp_path / "r" / "report.json").read_text()) if rc == 0 else {}
        return rep if len(rep.get("transitions", [])) == len(HAPPY) and rep.get("delivery_summary") else None

    rep = eventually(full_report, timeout_s=60, interval_s=0.5, what="a report with every transition")
    assert [t["to"] for t in rep["transitions"]] == HAPPY
    assert all(t["decision"] and t["decision"]["allowed"] and t["decision"]["rules"] and t["decision"]["policy_version"]
               for t in rep["transitions"])
    assert rep["approvals"] and rep["approvals"][0]["approved"]
    assert rep["delivery_summary"].get("SENT", 0) >= 1
    md = (tmp_path / "r" / "report.md").read_text()
    assert "## Transitions" in md and wf in md
    flat = json.dumps(rep) + md
    for c in doc["contacts"]:
        assert c["email"] not in flat and c["name"] not in flat, "no clear PII in the report"


def test_checkpointers_divide_the_partitions_and_hand_them_over_without_a_conflict():
    """Two checkpointers of one group chain disjoint halves of a topic's partitions; when one
    leaves, the other takes its partitions over after the stored heads; when it comes back, it
    resumes after what the other attested meanwhile. Every partition ends with one unbroken
    chain of checkpoints over every record, and no checkpoint was ever refused as a conflict
    (each partition had one writer at a time). Own topic (outside the service's scratch pattern),
    own group and own Redis database: the running audit service takes no part."""
    asyncio.run(_divide_and_hand_over())


async def _divide_and_hand_over() -> None:
    from prometheus_client import REGISTRY

    from services.audit.live.checkpointer import Checkpointer

    tag = uuid.uuid4().hex[:8]
    topic, cp_topic, parts = f"uf.scratch.ckdiv-{tag}", f"uf.scratch.ckdiv-{tag}-cps", 4
    admin = AIOKafkaAdminClient(bootstrap_servers=h.SETTINGS.kafka_bootstrap, **kafka_auth.client_args(kafka_auth.ADMIN))
    await admin.start()
    await admin.create_topics([NewTopic(topic, parts, 1), NewTopic(cp_topic, 1, 1)])
    redis = aioredis.from_url(S.redis_url.rsplit("/", 1)[0] + "/3", **redis_auth.credentials("admin"))
    await redis.flushdb()
    store = CheckpointStore(redis, None, "unused")
    producer = AIOKafkaProducer(bootstrap_servers=h.SETTINGS.kafka_bootstrap, acks="all", enable_idempotence=True,
                                **kafka_auth.client_args(kafka_auth.ADMIN))
    await producer.start()
    signer = Signer("tester", Ed25519PrivateKey.generate())

    def conflicts() -> float:
        return REGISTRY.get_sample_value("uf_audit_checkpoint_failures_total", {"stage": "conflict"}) or 0.0

    def checkpointer() -> Checkpointer:
        return Checkpointer(bootstrap=h.SETTINGS.kafka_bootstrap, store=store, producer=producer, signer=signer, me=TESTER,
                            checkpoint_topic=cp_topic, every=5, interval_s=0.3, refresh_s=1.0, group_id=f"uf-audit-test-{tag}",
                            select=lambda names: [topic] if topic in names else [])

    async def produce(n: int) -> None:
        for p in range(parts):
            for i in range(n):
                await producer.send_and_wait(topic, f"record {i}".encode(), key=f"k{p}".encode(), partition=p)

    async def attested(through: int) -> bool:
        heads = [await store.head(topic, p) for p in range(parts)]
        return all(cp is not None and cp.last_offset >= through for cp in heads)

    a, b = checkpointer(), checkpointer()
    everything = {(topic, p) for p in range(parts)}
    tasks: list[asyncio.Task] = []
    before = conflicts()
    try:
        for c in (a, b):
            await c.start()
            tasks.append(asyncio.create_task(c.run()))

        async def divided() -> bool:
            mine, theirs = {tuple(tp) for tp in a.assigned}, {tuple(tp) for tp in b.assigned}
            return bool(mine) and bool(theirs) and not mine & theirs and mine | theirs == everything \
                and not a.unresumed and not b.unresumed

        await eventually_async(divided, timeout_s=60, what="the two checkpointers dividing the partitions")
        await produce(12)
        await eventually_async(lambda: attested(11), timeout_s=60, what="every partition attested through offset 11")

        tasks[0].cancel()  # `a` leaves the group; `b` takes its partitions over
        await asyncio.gather(tasks[0], return_exceptions=True)
        await a.leave()

        async def b_has_all() -> bool:
            return {tuple(tp) for tp in b.assigned} == everything and not b.unresumed

        await eventually_async(b_has_all, timeout_s=60, what="the remaining checkpointer taking every partition")
        await produce(12)
        await eventually_async(lambda: attested(23), timeout_s=60, what="every partition attested through offset 23")

        tasks[0] = asyncio.create_task(a.run())  # back: it must resume after what `b` attested
        await eventually_async(divided, timeout_s=60, what="the partitions divided again")
        await produce(12)
        await eventually_async(lambda: attested(35), timeout_s=60, what="every partition attested through offset 35")
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in (a, b):
            await c.stop()
        await producer.stop()
        with contextlib.suppress(Exception):
            await admin.delete_topics([topic, cp_topic])
        await admin.close()

    try:
        assert conflicts() == before, "a checkpoint was refused as a conflict: a second or stale writer"
        for p in range(parts):
            cps, problems = await store.redis_checkpoints(topic, p)
            assert not problems
            assert [c.seq for c in cps] == list(range(len(cps)))
            assert cps[0].first_offset == 0 and cps[-1].last_offset == 35
            for prev, cp in zip(cps, cps[1:]):
                assert cp.first_offset == prev.last_offset + 1, f"partition {p}: records skipped or counted twice"
                assert cp.prev_checkpoint_hash == prev.hash and cp.prev_chain_head == prev.chain_head, f"partition {p}: chain broken"
                assert cp.tree_size == cp.last_offset + 1, f"partition {p}: the whole-partition tree lost records"
    finally:
        await redis.flushdb()
        await redis.aclose()
