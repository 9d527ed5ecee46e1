"""`ufctl audit verify --bootstrap MIRROR`: does a MirrorMaker copy of the log (the DR site,
infra/dr_site.py) hold what the signed checkpoints attest - and what did it lose?

A mirror cannot be checked offset by offset like the primary: its records have offsets of their
own (no transaction markers, and MirrorMaker may write a record twice after a restart). What it
keeps is each record's timestamp, key, value and headers - exactly what the checkpoints' content
hashes cover. So per audited partition the attested entries (from checkpoints whose signatures
and chain hold) are matched to the mirror's records in order, by content hash:

* matched: attested and on the mirror, in attested order;
* holes: attested, missing from the mirror although later attested records are there - altered
  or deleted on the mirror (a failure);
* inserted: on the mirror between matched records but attested by nobody (a failure);
* lost: attested records after the last one the mirror has - what failing over to the mirror
  loses (the RPO, reported, never hidden);
* unattested: mirrored records after the last attested one (their checkpoints were not cut or
  not mirrored yet): neither confirmed nor refuted.

The checkpoints come from the mirror's own copy of the checkpoint topic (signatures checked
against the trusted keys) and, when the primary's stored copies (Redis) are still reachable,
from those too: a checkpoint the mirror never received still tells which attested records the
mirror lacks, so they count as lost rather than vanishing from the report."""
from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from services.audit.evidence.checkpoint import Checkpoint, Entry
from services.audit.evidence.hashing import content_hash
from services.audit.evidence.sigpolicy import SignaturePolicy
from services.audit.live.checkpoint_store import CheckpointStore
from services.audit.live.topicset import audited
from services.audit.tools.integrity import checkpoint_topic
from services.audit.tools.verify import check_sequence
from services.kit.messaging import logreader
from services.kit.security.signing import TrustStore, verify_signature

LIST_CAP = 50


@dataclass
class Alignment:
    matched: int = 0
    holes: list[int] = field(default_factory=list)      # primary offsets
    lost: list[int] = field(default_factory=list)       # primary offsets
    inserted: list[int] = field(default_factory=list)   # mirror offsets
    duplicates: int = 0
    unattested: int = 0
    mirrored_through: int | None = None                 # primary offset of the last attested record on the mirror


def align(expected: list[Entry], mirror: list[tuple[int, bytes]]) -> Alignment:
    """Match attested entries (primary offsets, in order) to mirror records (mirror offset,
    content hash), in order. A mirror record equal to one already matched is a duplicate
    (MirrorMaker is at-least-once), not an insertion."""
    out = Alignment()
    positions: dict[bytes, list[int]] = defaultdict(list)
    for i, (_, h) in enumerate(mirror):
        positions[h].append(i)
    seen: set[bytes] = set()
    pos = 0
    last_match = -1
    missing: list[int] = []  # indices into expected
    for idx, e in enumerate(expected):
        where = positions.get(e.content, [])
        k = bisect.bisect_left(where, pos)
        if k == len(where):
            missing.append(idx)
            continue
        at = where[k]
        for mo, h in mirror[pos:at]:
            if h in seen:
                out.duplicates += 1
            else:
                out.inserted.append(mo)
        seen.add(e.content)
        pos, last_match = at + 1, idx
        out.matched += 1
    for _, h in mirror[pos:]:
        if h in seen:
            out.duplicates += 1
        else:
            out.unattested += 1
    for idx in missing:
        (out.holes if idx < last_match else out.lost).append(expected[idx].offset)
    out.mirrored_through = expected[last_match].offset if last_match >= 0 else None
    return out


async def _mirror_records(bootstrap: str, tps: list[TopicPartition], policy: SignaturePolicy, trust: TrustStore,
                          timeout_s: float) -> tuple[dict[TopicPartition, list[tuple[int, bytes]]], dict[TopicPartition, int]]:
    """(content hashes in order, forged-record counts) per partition, read to the current end."""
    consumer = logreader.new_consumer(bootstrap)
    await consumer.start()
    records: dict[TopicPartition, list[tuple[int, bytes]]] = {tp: [] for tp in tps}
    forged: dict[TopicPartition, int] = defaultdict(int)
    try:
        _, end = await logreader.bounds(consumer, tps)
        async for batch in logreader.read_batches(consumer, tps, end=end, timeout_s=timeout_s):
            for tp, msgs in batch.items():
                for m in msgs:
                    headers = list(m.headers or ())
                    records[tp].append((m.offset, content_hash(m.timestamp, m.key, m.value, headers)))
                    ok, reason, key_id = verify_signature(tp.topic, m.key, m.value, headers, trust)
                    if policy.judge(tp.topic, m.timestamp, ok, reason, key_id):
                        forged[tp] += 1
    finally:
        await consumer.stop()
    return records, forged


def _merge(on_mirror: list[Checkpoint], stored: list[Checkpoint]) -> tuple[list[Checkpoint], int]:
    """The mirror's checkpoints, extended by stored ones it never received (same seq: the mirror's
    copy wins, a differing stored one is left to `ufctl audit verify` on the primary). Returns the
    sequence and how many came only from the stored copies."""
    by_seq = {c.seq: c for c in stored}
    by_seq.update({c.seq: c for c in on_mirror})
    mirrored = {c.seq for c in on_mirror}
    return [by_seq[s] for s in sorted(by_seq)], sum(1 for s in by_seq if s not in mirrored)


async def check_mirror(*, bootstrap: str, policy: SignaturePolicy, trust: TrustStore, store: CheckpointStore | None,
                       extra_pattern: str = "", timeout_s: float = 1800.0, topics: list[str] | None = None) -> dict[str, Any]:
    """`topics`: only these audited topics (`verify --bootstrap DR --topic T`): the checkpoint
    topic is still read whole (it is small), the records of other topics are not - each record
    read costs a signature check, and a whole mirror after a long test run is minutes of CPU."""
    only = set(topics) if topics else None
    copies, forged_checkpoints = await checkpoint_topic(bootstrap, policy, trust, timeout_s, only=only)
    if only is not None:
        copies = {tp: v for tp, v in copies.items() if tp[0] in only}
    stored_parts: list[tuple[str, int]] = []
    if store is not None:
        stored_parts = [tp for tp in await store.partitions() if only is None or tp[0] in only]
    consumer = logreader.new_consumer(bootstrap)
    await consumer.start()
    try:
        existing = await logreader.existing_topics(consumer)
        wanted = set(audited(existing, extra_pattern)) | {t for t, _ in copies} | {t for t, _ in stored_parts}
        if only is not None:
            wanted &= only
        tps = await logreader.partitions_of(consumer, sorted(wanted & existing))
    finally:
        await consumer.stop()
    records, forged = await _mirror_records(bootstrap, tps, policy, trust, timeout_s)
    keys = sorted({(tp.topic, tp.partition) for tp in tps} | set(copies) | set(stored_parts))
    parts: list[dict[str, Any]] = []
    totals: dict[str, int] = defaultdict(int)
    for topic, partition in keys:
        tp = TopicPartition(topic, partition)
        on_mirror = [cp for _, cp in copies.get((topic, partition), [])]
        dedup: dict[int, Checkpoint] = {}
        problems: list[dict[str, Any]] = []
        for cp in on_mirror:
            if cp.seq in dedup and dedup[cp.seq].to_json() != cp.to_json():
                problems.append({"seq": cp.seq, "problem": "two different checkpoints with this seq on the mirror"})
            dedup.setdefault(cp.seq, cp)
        stored: list[Checkpoint] = []
        if store is not None:
            stored, _ = await store.redis_checkpoints(topic, partition)
        cps, only_stored = _merge([dedup[s] for s in sorted(dedup)], stored)
        good, seq_problems = check_sequence(cps, topic, partition, trust)
        problems += seq_problems
        expected = [e for cp in good for e in cp.entries()]
        a = align(expected, records.get(tp, []))
        n_forged = forged.get(tp, 0)
        part: dict[str, Any] = {"topic": topic, "partition": partition, "on_mirror": tp in records,
                "checkpoints_on_mirror": len(dedup), "checkpoints_not_mirrored": only_stored,
                "checkpoints_verified": len(good), "attested": len(expected), "matched": a.matched,
                "mirrored_through": a.mirrored_through, "attested_through": expected[-1].offset if expected else None,
                "holes": a.holes[:LIST_CAP], "inserted": a.inserted[:LIST_CAP], "lost": len(a.lost),
                "lost_from": a.lost[0] if a.lost else None, "duplicates": a.duplicates, "unattested": a.unattested,
                "forged": n_forged, "checkpoint_errors": problems[:LIST_CAP]}
        part["ok"] = not (a.holes or a.inserted or problems or n_forged)
        parts.append(part)
        for k, v in (("checkpoints_on_mirror", len(dedup)), ("checkpoints_not_mirrored", only_stored),
                     ("checkpoints_verified", len(good)), ("attested", len(expected)), ("matched", a.matched),
                     ("holes", len(a.holes)), ("inserted", len(a.inserted)), ("lost", len(a.lost)),
                     ("duplicates", a.duplicates), ("unattested", a.unattested), ("forged", n_forged),
                     ("checkpoint_errors", len(problems))):
            totals[k] += v
    totals["checkpoint_topic_forged"] = len(forged_checkpoints)
    ok = all(p["ok"] for p in parts) and not forged_checkpoints
    return {"mirror": bootstrap, "ok": ok, "complete": ok and totals["lost"] == 0,
            "primary_copies": store is not None, "summary": dict(totals),
            "partitions": parts,
            "checkpoint_topic": forged_checkpoints[:LIST_CAP]}
