"""`ufctl audit verify`: replays audited partitions from their first offset, recomputes every
leaf, Merkle root and chain value, checks the stored (out-of-band) checkpoints - signature,
sequence, links, manifest - against each other and against the checkpoint topic, record
signatures per the producers declaration, duplicates, and projection drift (integrity.py), and
names what is wrong by topic, partition and offset. The result is a plain dict (`--json`)."""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from services.audit.evidence.checkpoint import ZERO, Checkpoint, Entry, self_check
from services.audit.evidence.consistency import check_trees
from services.audit.evidence.diff import compare
from services.audit.evidence.hashing import chain_over, content_hash, genesis, leaf_hash
from services.audit.evidence.sigpolicy import SignaturePolicy
from services.audit.live.checkpoint_store import CheckpointStore
from services.audit.live.topicset import audited
from services.audit.tools.integrity import LogFacts, checkpoint_topic, checkpoint_topic_end, compare_copies, projection_drift
from services.kit.contracts import topics as topic_decls
from services.kit.messaging import logreader
from services.kit.security.signing import BAD_SIGNATURE, OK, SignatureCheck, TrustStore, resolve_signature, verify_many

LIST_CAP = 1000  # per partition and kind; counts are always complete
# Stored copies are loaded for many partitions at once (every audited topic x its partitions,
# 100+ on a default stack) while the log is read. Bounded, so the verifier never asks the
# caller's Redis pool (redis-py 8: 100 connections by default) or OpenSearch for more
# connections than they hold - unbounded, a restore on an empty stack failed with
# MaxConnectionsError however the pool was sized by one caller.
LOAD_CONCURRENCY = 16
Progress = Callable[[int, int], None]


@dataclass
class LogPartition:
    entries: list[Entry] = field(default_factory=list)
    forged: list[dict[str, Any]] = field(default_factory=list)
    forged_count: int = 0
    grandfathered: int = 0


def retention_ms(topic: str) -> int:
    spec = topic_decls.load_topics().get(topic)
    try:
        return int(spec.config.get("retention.ms", "-1")) if spec else -1
    except ValueError:
        return -1


def check_sequence(cps: list[Checkpoint], topic: str, partition: int, trust: TrustStore) -> tuple[list[Checkpoint], list[dict[str, Any]]]:
    """Checkpoints whose signature holds (their manifests are trusted), and every problem found
    in the stored sequence: self-checks, gaps in seq, broken links to the predecessor."""
    problems: list[dict[str, Any]] = []
    good: list[Checkpoint] = []
    prev: Checkpoint | None = None
    for n, cp in enumerate(cps):
        own = self_check(cp, trust)
        problems += [{"seq": cp.seq, "problem": p} for p in own]
        if not any("signature" in p or "key" in p or "manifest" in p for p in own):
            good.append(cp)  # its manifest is bound by a valid audit signature
        if cp.seq != n:
            problems.append({"seq": cp.seq, "problem": f"checkpoint sequence gap: expected seq {n} (a checkpoint was deleted)"})
        want_chain = prev.chain_head if prev else genesis(topic, partition)
        want_hash = prev.hash if prev else ZERO
        if cp.prev_checkpoint_hash != want_hash:
            problems.append({"seq": cp.seq, "problem": "does not link to the previous checkpoint's hash"})
        if cp.prev_chain_head != want_chain:
            problems.append({"seq": cp.seq, "problem": "chain does not continue from the previous checkpoint"})
        if prev and cp.first_offset <= prev.last_offset:
            problems.append({"seq": cp.seq, "problem": "range overlaps the previous checkpoint"})
        prev = cp
    return good, problems


async def stored_checkpoints(store: CheckpointStore, topic: str, partition: int,
                             unpublished: AbstractSet[str] = frozenset()) -> tuple[list[Checkpoint], list[dict[str, Any]]]:
    """Redis copy, cross-checked against the OpenSearch copy (a checkpoint still being
    published - marked in Redis - may not be in OpenSearch yet)."""
    cps, unreadable = await store.redis_checkpoints(topic, partition)
    problems = [{"seq": -1, "problem": p} for p in unreadable]
    es = await store.es_checkpoints(topic, partition)
    if es is None:
        problems.append({"seq": -1, "problem": "OpenSearch copy of the checkpoints unavailable"})
        return cps, problems
    by_seq = {c.seq: c for c in es}
    for cp in cps:
        other = by_seq.pop(cp.seq, None)
        if other is None and cp.checkpoint_id in unpublished:
            continue
        if other is None:
            problems.append({"seq": cp.seq, "problem": "checkpoint missing from the OpenSearch copy"})
        elif other.to_json() != cp.to_json():
            problems.append({"seq": cp.seq, "problem": "Redis and OpenSearch copies differ"})
    for seq, cp in sorted(by_seq.items()):
        problems.append({"seq": seq, "problem": "checkpoint missing from the Redis copy (using the OpenSearch copy)"})
        cps.append(cp)
    cps.sort(key=lambda c: c.seq)
    return cps, problems


async def load_stored(store: CheckpointStore, tps: list[TopicPartition], unpublished: AbstractSet[str],
                      limit: int = LOAD_CONCURRENCY) -> list[tuple[list[Checkpoint], list[dict[str, Any]]]]:
    """`stored_checkpoints` of every partition, in order, at most `limit` at a time."""
    gate = asyncio.Semaphore(limit)

    async def one(tp: TopicPartition) -> tuple[list[Checkpoint], list[dict[str, Any]]]:
        async with gate:
            return await stored_checkpoints(store, tp.topic, tp.partition, unpublished)

    return list(await asyncio.gather(*(one(tp) for tp in tps)))


def recheck_ranges(cps: list[Checkpoint], actual: dict[int, Entry], topic: str, partition: int, log_start: int) -> tuple[int, list[int]]:
    """Recompute each checkpoint's Merkle root and chain from the records now in the log at its
    offsets. Returns (verified count, seqs that no longer match); expired ranges are skipped."""
    from services.audit.evidence import merkle

    ok, bad = 0, []
    for cp in cps:
        manifest = cp.entries()
        if manifest and manifest[0].offset < log_start:
            continue
        now = [actual.get(e.offset) for e in manifest]
        if any(a is None for a in now):
            bad.append(cp.seq)
            continue
        leaves = [leaf_hash(topic, partition, a.offset, a.content) for a in now if a is not None]
        if merkle.root(leaves) == cp.merkle_root and chain_over(cp.prev_chain_head, leaves) == cp.chain_head:
            ok += 1
        else:
            bad.append(cp.seq)
    return ok, bad


async def read_log(consumer, tps: list[TopicPartition], policy: SignaturePolicy, trust: TrustStore,
                   progress: Progress | None = None, timeout_s: float = 1800.0,
                   facts: LogFacts | None = None) -> tuple[dict[TopicPartition, LogPartition], dict, dict]:
    """Hash and check every record. The CPU-bound part runs in a worker thread, one fetched
    batch at a time: the event loop stays free for the fetcher (the next batch arrives
    meanwhile) and for the checkpoint copies being read from Redis and OpenSearch concurrently -
    verifying on the loop starved those reads until they timed out on a large log. Within a
    batch the Ed25519 verifications - ~80 us each, three quarters of the per-record work - are
    spread over one thread per core (libsodium runs without the GIL)."""
    start, end = await logreader.bounds(consumer, tps)
    out = {tp: LogPartition() for tp in tps}
    rules = {tp: policy.rule_for(tp.topic) for tp in tps}
    total, done = sum(end[tp] - start[tp] for tp in tps), 0
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="verify-sig")

    def judge(tp: TopicPartition, m: Any, ok: bool, reason: str, key_id: str) -> None:
        lp, rule = out[tp], rules[tp]
        verdict = policy.judge(tp.topic, m.timestamp, ok, reason, key_id, rule)
        if facts is not None:
            facts.observe(tp.topic, tp.partition, m.offset, m.key, m.value, key_id, ok and not verdict, m.timestamp)
        if verdict:
            lp.forged_count += 1
            if len(lp.forged) < LIST_CAP:
                lp.forged.append({"offset": m.offset, "reason": verdict, **({"key_id": key_id} if key_id else {})})
        elif not ok and rule.mode == "signed":
            lp.grandfathered += 1

    def check(batch: dict[TopicPartition, list[Any]]) -> int:
        n = 0
        # 1. every record's leaf content; signatures resolved (headers, trusted key) in order
        resolved: list[tuple[TopicPartition, Any, SignatureCheck | None, str, str]] = []
        for tp, msgs in batch.items():
            append, chain_only = out[tp].entries.append, rules[tp].mode == "chain"
            for m in msgs:
                headers = m.headers or ()
                append(Entry(m.offset, m.timestamp, content_hash(m.timestamp, m.key, m.value, headers)))
                if chain_only and not headers:
                    if facts is not None:
                        facts.observe(tp.topic, tp.partition, m.offset, m.key, m.value, "", False, m.timestamp)
                    continue  # fast path: unsigned on a chain-only topic is fine
                resolved.append((tp, m, *resolve_signature(tp.topic, m.key, m.value, headers, trust)))
            n += len(msgs)
        # 2. the arithmetic, side by side
        valid = iter(verify_many([c for _, _, c, _, _ in resolved if c is not None], pool))
        # 3. verdicts and facts, in log order
        for tp, m, c, reason, key_id in resolved:
            if c is None:
                judge(tp, m, False, reason, key_id)
            elif next(valid):
                judge(tp, m, True, OK, key_id)
            else:
                judge(tp, m, False, BAD_SIGNATURE, key_id)
        return n

    try:
        async for batch in logreader.read_batches(consumer, tps, end=end, timeout_s=timeout_s):
            done += await asyncio.to_thread(check, batch)  # batches in order, one at a time
            if progress:
                progress(done, total)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return out, start, end


def _cap(items: list[Any]) -> list[Any]:
    return items[:LIST_CAP]


async def verify(*, bootstrap: str, store: CheckpointStore, policy: SignaturePolicy, trust: TrustStore,
                 topics: list[str] | None = None, extra_pattern: str = "", progress: Progress | None = None,
                 timeout_s: float = 1800.0, es_index: str = "uf-audit-events",
                 checkpoints_upto: dict[int, int] | None = None) -> dict[str, Any]:
    """`checkpoints_upto`: judge the checkpoint topic's copy only below these end offsets
    (partition -> offset). Default: its end before the stored copies are read - a checkpoint is
    in Redis and OpenSearch before it is on the topic, so every one published by then must be
    stored, and one cut while this runs is not reported missing from the stored copies. A
    restore passes the point it restored to: checkpoints another writer cut later are not its."""
    started = time.monotonic()
    if checkpoints_upto is None:
        checkpoints_upto = await checkpoint_topic_end(bootstrap)
    consumer = logreader.new_consumer(bootstrap)
    try:
        await consumer.start()
    except Exception:
        await consumer.stop()
        raise
    try:
        existing = await logreader.existing_topics(consumer)
        stored = await store.partitions()
        chosen = set(topics) if topics else set(audited(existing, extra_pattern)) | {t for t, _ in stored}
        live_tps = await logreader.partitions_of(consumer, sorted(chosen & existing))
        all_tps = sorted(set(live_tps) | {TopicPartition(t, p) for t, p in stored if t in chosen})
        await store.refresh_es()
        unpublished = await store.unpublished_ids()
        # The stored copies first (`load_stored`: a few partitions at a time), then the log:
        # loading them concurrently with the CPU-bound read starved those reads into timeouts on
        # a busy machine. Checkpoints cut meanwhile only leave their records `pending`.
        stored_by_tp = dict(zip(all_tps, await load_stored(store, all_tps, unpublished), strict=True))
        facts = LogFacts()
        # The checkpoint topic's copy is read and checked (its own signatures, Merkle roots)
        # while the audited log is: both wait on the broker and on libsodium, which runs without
        # the GIL - one after the other they took ~20 % longer.
        (logs, start, end), (on_topic, forged_checkpoints) = await asyncio.gather(
            read_log(consumer, live_tps, policy, trust, progress, timeout_s, facts),
            checkpoint_topic(bootstrap, policy, trust, timeout_s, None if not topics else set(chosen), upto=checkpoints_upto))
    finally:
        await consumer.stop()
    drift, unchecked = await projection_drift(facts, store.redis, store.es, es_index)
    now = int(time.time() * 1000)
    parts: list[dict[str, Any]] = []
    totals = {"records": 0, "checkpoints": 0, "checkpoints_verified": 0, "modified": 0, "deleted": 0, "inserted": 0,
              "reordered": 0, "forged": 0, "checkpoint_errors": 0, "pending": 0, "expired": 0, "renumbered": 0,
              "unsigned_grandfathered": 0}
    for tp in all_tps:
        lp = logs.get(tp, LogPartition())
        cps, store_problems = stored_by_tp[tp]
        good, seq_problems = check_sequence(cps, tp.topic, tp.partition, trust)
        expected = [e for cp in good for e in cp.entries()]
        log_start = start.get(tp, 0) if tp in start else (expected[-1].offset + 1 if expected else 0)
        d = compare(expected, lp.entries, log_start=log_start, retention_ms=retention_ms(tp.topic), now_ms=now)
        verified, mismatched = recheck_ranges(good, {e.offset: e for e in lp.entries}, tp.topic, tp.partition, log_start)
        tree_problems, _ = check_trees(cps)
        problems = (store_problems + seq_problems + tree_problems
                    + compare_copies(tp, on_topic.get((tp.topic, tp.partition), []), cps, unpublished))
        part = {
            "topic": tp.topic, "partition": tp.partition, "exists": tp in start, "log_start": start.get(tp), "log_end": end.get(tp),
            "records": len(lp.entries), "checkpoints": len(cps), "checkpoints_verified": verified,
            "checkpoints_mismatched": mismatched, "attested_through": good[-1].last_offset if good else None,
            "pending": d.pending, "expired": d.expired, "unsigned_grandfathered": lp.grandfathered,
            "modified": _cap([{"offset": a, "now_at": b} for a, b in d.modified]),
            "deleted": _cap([{"offset": a} for a in d.deleted]),
            "inserted": _cap([{"offset": a} for a in d.inserted]),
            "reordered": _cap([{"offset": a, "now_at": b} for a, b in d.reordered]),
            "renumbered": {"count": len(d.renumbered), "first": list(d.renumbered[0]) if d.renumbered else None},
            "forged": lp.forged, "forged_count": lp.forged_count,
            "checkpoint_errors": _cap(problems),
        }
        part["ok"] = not (d.modified or d.deleted or d.inserted or d.reordered or lp.forged_count or problems or mismatched)
        parts.append(part)
        totals["records"] += len(lp.entries)
        totals["checkpoints"] += len(cps)
        totals["checkpoints_verified"] += verified
        for k, v in (("modified", d.modified), ("deleted", d.deleted), ("inserted", d.inserted), ("reordered", d.reordered),
                     ("renumbered", d.renumbered)):
            totals[k] += len(v)
        totals["forged"] += lp.forged_count
        totals["checkpoint_errors"] += len(problems)
        totals["pending"] += d.pending
        totals["expired"] += d.expired
        totals["unsigned_grandfathered"] += lp.grandfathered
    totals.update({"duplicates": facts.duplicates_count, "reemitted": facts.reemitted,
                   "checkpoint_topic_forged": len(forged_checkpoints), "projection_drift": len(drift)})
    ok = all(p["ok"] for p in parts) and not (facts.duplicates_count or forged_checkpoints or drift)
    return {"ok": ok, "verified_at": now, "seconds": round(time.monotonic() - started, 3),
            "topics": sorted({p["topic"] for p in parts}), "summary": totals, "partitions": parts,
            "duplicates": facts.duplicates, "checkpoint_topic": forged_checkpoints, "projection_drift": drift,
            "not_compared": unchecked}
