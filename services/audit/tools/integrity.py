"""What `ufctl audit verify` checks beyond chains and Merkle roots (issue 9: tamper evidence
without holes):

* duplicates anywhere in the audited topics: the same signed bytes twice (a record replayed
  verbatim - the signature holds, on the same or another partition), or one event id used by
  two different signers. The same event id re-emitted by the same signer (an at-least-once
  producer retrying: same id by construction, new timestamp) is listed as `reemitted`, not as
  tampering;
* the checkpoint topic itself: every record signed by the audit key (the declaration), every
  checkpoint self-consistent and signed by an audit key, chaining per partition; and the topic
  copy, the Redis copy and the OpenSearch copy hold the same checkpoints;
* projection drift: each workflow's phase recomputed from the verified log compared with the
  Redis state and with the OpenSearch documents of its phase changes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConnectionError as SearchConnectionError
from opensearchpy.exceptions import NotFoundError

from services.audit.evidence.checkpoint import Checkpoint, self_check
from services.audit.evidence.sigpolicy import SignaturePolicy
from services.kit.contracts import codec
from services.kit.contracts.keys import wf_key
from services.kit.contracts.topics import AUDIT_CHECKPOINTS, WORKFLOW_EVENTS
from services.kit.messaging import logreader
from services.kit.security.signing import TrustStore, signer_service, verify_signature

CAP = 1000
Place = tuple[str, int, int]  # topic, partition, offset


def _place(p: Place) -> dict[str, Any]:
    return {"topic": p[0], "partition": p[1], "offset": p[2]}


@dataclass
class LogFacts:
    """Collected while the verifier reads the log (one pass)."""

    duplicates: list[dict[str, Any]] = field(default_factory=list)
    duplicates_count: int = 0
    reemitted: int = 0
    phases: dict[str, tuple[str, str]] = field(default_factory=dict)  # workflow -> (phase, event id), log order
    phase_of_event: dict[str, str] = field(default_factory=dict)  # event id -> to_phase
    _bytes_seen: dict[bytes, tuple[int, Place]] = field(default_factory=dict)  # digest -> (timestamp, place)
    _ids_seen: dict[str, tuple[Place, str]] = field(default_factory=dict)

    def _dup(self, kind: str, first: Place, again: Place) -> None:
        self.duplicates_count += 1
        if len(self.duplicates) < CAP:
            self.duplicates.append({"kind": kind, "first": _place(first), **_place(again)})

    def observe(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                key_id: str, trusted: bool, timestamp: int = 0) -> None:
        """One record, in log order per partition (partitions interleave in any order).
        `trusted`: its signature passed the policy. Of two copies of the same signed bytes the
        one written first (broker timestamp, then place) is named `first`, whichever partition
        happened to be read first."""
        here = (topic, partition, offset)
        digest = hashlib.sha256((key or b"") + b"\x00" + (value or b"")).digest()
        earlier = self._bytes_seen.setdefault(digest, (timestamp, here))
        if earlier[1] != here:
            first, again = (earlier[1], here) if earlier <= (timestamp, here) else (here, earlier[1])
            self._dup("same-signed-bytes", first, again)
            return
        try:
            decoded = codec.decode(value or b"")
        except codec.CodecError:
            return
        event_id, signer = decoded.envelope["event_id"], signer_service(key_id)
        seen = self._ids_seen.setdefault(event_id, (here, signer))
        if seen[0] != here:
            if seen[1] == signer and trusted:
                self.reemitted += 1
            else:
                self._dup("same-event-id", seen[0], here)
        if trusted and topic == WORKFLOW_EVENTS and decoded.event_type == "WorkflowPhaseChanged":
            rec = decoded.record
            self.phases[decoded.envelope["workflow_id"]] = (rec["to_phase"], event_id)
            self.phase_of_event[event_id] = rec["to_phase"]


# -- the checkpoint topic ------------------------------------------------------------------------
async def checkpoint_topic_end(bootstrap: str) -> dict[int, int]:
    """End offsets of the checkpoint topic now (partition -> offset; empty if it does not exist)."""
    consumer = logreader.new_consumer(bootstrap)
    await consumer.start()
    try:
        if AUDIT_CHECKPOINTS not in await logreader.existing_topics(consumer):
            return {}
        _, end = await logreader.bounds(consumer, await logreader.partitions_of(consumer, [AUDIT_CHECKPOINTS]))
        return {tp.partition: int(o) for tp, o in end.items()}
    finally:
        await consumer.stop()


async def checkpoint_topic(bootstrap: str, policy: SignaturePolicy, trust: TrustStore, timeout_s: float,
                           only: set[str] | None = None, upto: dict[int, int] | None = None,
                           ) -> tuple[dict[tuple[str, int], list[tuple[int, Checkpoint]]], list[dict[str, Any]]]:
    """The checkpoints published on the topic (by audited partition, in topic order) and the
    forged records found there (named by offset). `only`: report forgeries only for records
    keyed to these audited topics (`verify --topic`); a forgery with an unreadable key is
    always reported. `upto`: read only below these end offsets (partition -> offset) - the
    topic as it was when the stored copies were read, so a checkpoint cut after that moment is
    not taken for one missing from the stored copies (default: the end now)."""
    consumer = logreader.new_consumer(bootstrap)
    await consumer.start()
    copies: dict[tuple[str, int], list[tuple[int, Checkpoint]]] = {}
    forged: list[dict[str, Any]] = []
    try:
        existing = await logreader.existing_topics(consumer)
        if AUDIT_CHECKPOINTS not in existing:
            return copies, forged
        tps = await logreader.partitions_of(consumer, [AUDIT_CHECKPOINTS])
        _, end = await logreader.bounds(consumer, tps)
        if upto is not None:
            end = {tp: min(int(o), upto.get(tp.partition, 0)) for tp, o in end.items()}
        rule = policy.rule_for(AUDIT_CHECKPOINTS)
        async for batch in logreader.read_batches(consumer, tps, end=end, timeout_s=timeout_s):
            for tp, msgs in batch.items():
                for m in msgs:
                    if only is not None and _keyed_topic(m.key) not in only | {""}:
                        continue
                    at = {"topic": AUDIT_CHECKPOINTS, "partition": tp.partition, "offset": m.offset}
                    ok, reason, key_id = verify_signature(tp.topic, m.key, m.value, m.headers, trust)
                    verdict = policy.judge(tp.topic, m.timestamp, ok, reason, key_id, rule)
                    if verdict:
                        forged.append({**at, "problem": f"record {verdict}"})
                        continue
                    try:
                        cp = Checkpoint.from_event(codec.decode(m.value).record)
                    except (codec.CodecError, KeyError, ValueError, TypeError):
                        forged.append({**at, "problem": "not a readable checkpoint"})
                        continue
                    problems = self_check(cp, trust)
                    if problems:
                        forged.append({**at, "problem": "; ".join(problems)})
                        continue
                    copies.setdefault((cp.topic, cp.partition), []).append((m.offset, cp))
    finally:
        await consumer.stop()
    return copies, forged


def _keyed_topic(key: bytes | None) -> str:
    """The audited topic a checkpoint record's key (`<topic>:<partition>`) names, "" if none."""
    try:
        return (key or b"").decode().rsplit(":", 1)[0]
    except UnicodeDecodeError:
        return ""


def compare_copies(tp: TopicPartition, on_topic: list[tuple[int, Checkpoint]], stored: list[Checkpoint],
                   unpublished: set[str]) -> list[dict[str, Any]]:
    """Problems between the topic copy of one partition's checkpoints and the stored copy (Redis
    and OpenSearch, already cross-checked with each other): missing, differing, not chaining."""
    problems: list[dict[str, Any]] = []
    by_seq: dict[int, tuple[int, Checkpoint]] = {}
    prev: Checkpoint | None = None
    for offset, cp in on_topic:
        if cp.seq in by_seq:
            if by_seq[cp.seq][1].to_json() != cp.to_json():
                problems.append({"seq": cp.seq, "offset": offset, "problem": "two different checkpoints with this seq on the checkpoint topic"})
            continue  # a republished copy (the checkpointer republishes unacknowledged ones)
        if prev is not None and (cp.seq != prev.seq + 1 or cp.prev_checkpoint_hash != prev.hash or cp.prev_chain_head != prev.chain_head):
            problems.append({"seq": cp.seq, "offset": offset, "problem": "checkpoint on the topic does not chain to the previous one"})
        by_seq[cp.seq] = (offset, cp)
        prev = cp
    stored_by_seq = {c.seq: c for c in stored}
    for seq, c in sorted(stored_by_seq.items()):
        found = by_seq.get(seq)
        if found is None:
            if c.checkpoint_id not in unpublished:
                problems.append({"seq": seq, "problem": "checkpoint missing from the checkpoint topic"})
        elif found[1].to_json() != c.to_json():
            problems.append({"seq": seq, "offset": found[0], "problem": "topic copy differs from the Redis/OpenSearch copy"})
    for seq, (offset, _) in sorted(by_seq.items()):
        if seq not in stored_by_seq:
            problems.append({"seq": seq, "offset": offset, "problem": "checkpoint missing from the Redis and OpenSearch copies"})
    return problems


# -- projection drift ----------------------------------------------------------------------------
async def projection_drift(facts: LogFacts, redis: Any, es: AsyncOpenSearch | None, es_index: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(drift found, what could not be compared). Each workflow's current phase recomputed from
    the verified log vs the Redis state; each verified phase change vs its search document."""
    drift: list[dict[str, Any]] = []
    unchecked: list[str] = []
    workflows = sorted(facts.phases)
    async with redis.pipeline(transaction=False) as pipe:
        for wf in workflows:
            pipe.hget(wf_key(wf), "phase")
        stored = await pipe.execute()
    for wf, raw in zip(workflows, stored):
        want = facts.phases[wf][0]
        have = raw.decode() if isinstance(raw, bytes) else raw
        if have != want:
            drift.append({"store": "redis", "workflow_id": wf, "log": want, "stored": have})
    if es is None:
        return drift, ["opensearch"]
    ids = list(facts.phase_of_event)
    try:
        # the index shows writes after its refresh interval (5 s): without this, events projected
        # just before the check would be reported as missing
        await es.indices.refresh(index=es_index)
        for i in range(0, len(ids), 1000):
            chunk = ids[i:i + 1000]
            res = await es.search(index=es_index, size=len(chunk), body={"query": {"ids": {"values": chunk}}},
                                  _source=["workflow_id", "phase", "data.to_phase"])
            docs = {h["_id"]: h["_source"] for h in res["hits"]["hits"]}
            for event_id in chunk:
                doc = docs.get(event_id)
                want = facts.phase_of_event[event_id]
                if doc is None:
                    drift.append({"store": "opensearch", "event_id": event_id, "log": want, "stored": None})
                else:
                    shown = {doc.get("phase"), (doc.get("data") or {}).get("to_phase")}
                    if shown != {want}:
                        drift.append({"store": "opensearch", "event_id": event_id, "workflow_id": doc.get("workflow_id"),
                                      "log": want, "stored": sorted(str(x) for x in shown - {want})[0]})
    except (SearchConnectionError, NotFoundError):
        unchecked.append("opensearch")
    return drift[:CAP], unchecked
