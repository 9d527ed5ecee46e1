"""`ufctl audit export WORKFLOW --out DIR`: the evidence bundle an auditor verifies offline with
`python -m uf_verify DIR` (format: libs/uf-verify/uf_verify/bundle.py).

It carries the workflow's records exactly as stored (every workflow-keyed topic), the policy
activations and policy files that decided its transitions, the erasures and signed erasure
receipts of the subjects it concerns; each record with its inclusion proof in the signed
checkpoint that covers it; the checkpoints of those partitions from the first covering one to
the newest head, with consistency proofs between consecutive ones; the public keys that signed
any of it; the Avro schemas (canonical form) to read the records."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord

from services.audit.evidence import merkle
from services.audit.evidence.checkpoint import Checkpoint
from services.audit.evidence.consistency import check_trees
from services.audit.evidence.hashing import leaf_hash
from services.audit.live.checkpoint_store import CheckpointStore
from services.audit.tools.witness import cosignatures
from services.kit.contracts import codec, topics
from services.kit.contracts.catalog import default_catalog
from services.kit.messaging import logreader
from services.kit.security.signing import KEY_HEADER, TrustStore, raw_public

FORMAT = "uf-evidence/1"
WORKFLOW_TOPICS = (topics.REQUESTS, topics.WORKFLOW_EVENTS, topics.VALIDATION_DECISIONS, topics.REVIEW_DECISIONS,
                   topics.AGENT_TASKS, topics.AGENT_RESULTS, topics.DELIVERY_REQUESTS, topics.DELIVERY_OUTCOMES)
_CKPT_FIELDS = ("topic", "partition", "seq", "first_offset", "last_offset", "record_count", "merkle_root", "chain_head",
                "prev_chain_head", "prev_checkpoint_hash", "manifest_sha256", "created_at", "key_id", "signature",
                "tree_size", "tree_root")


class ExportError(Exception):
    """The bundle cannot be made (unknown workflow, records not yet checkpointed, a key missing)."""


@dataclass
class Collected:
    records: list[ConsumerRecord] = field(default_factory=list)
    decoded: dict[tuple[str, int, int], Any] = field(default_factory=dict)


def _line(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(bytes(data)).decode()


def _subjects(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "subject_id" and isinstance(v, str) and v:
                out.add(v)
            else:
                _subjects(v, out)
    elif isinstance(value, list):
        for v in value:
            _subjects(v, out)


async def _read(bootstrap: str, wanted: list[str], keep) -> Collected:
    consumer = logreader.new_consumer(bootstrap)
    try:
        await consumer.start()
    except Exception as exc:
        await consumer.stop()
        raise ExportError(f"cannot reach Kafka at {bootstrap} ({exc.__class__.__name__})") from None
    got = Collected()
    try:
        tps = await logreader.partitions_of(consumer, wanted)
        _, ends = await logreader.bounds(consumer, tps)
        async for batch in logreader.read_batches(consumer, tps, end=ends, timeout_s=600):
            for msgs in batch.values():
                for m in msgs:
                    if keep(m):
                        got.records.append(m)
                        try:
                            got.decoded[(m.topic, m.partition, m.offset)] = codec.decode(m.value)
                        except codec.CodecError:
                            pass
    finally:
        await consumer.stop()
    return got


async def _checkpoint_for(store: CheckpointStore, m: ConsumerRecord, wait_s: float) -> Checkpoint:
    deadline = time.monotonic() + wait_s
    while True:
        cp = await store.find(m.topic, m.partition, m.offset)
        if cp is not None:
            return cp
        if time.monotonic() >= deadline:
            raise ExportError(f"record {m.topic}[{m.partition}]@{m.offset} is not covered by a checkpoint yet (retry shortly)")
        await asyncio.sleep(0.5)


async def export(*, bootstrap: str, store: CheckpointStore, workflow_id: str, out: Path, policy_dir: Path,
                 trust: TrustStore, wait_s: float = 30.0) -> dict[str, Any]:
    started = time.monotonic()
    wf_key = workflow_id.encode()
    main = await _read(bootstrap, list(WORKFLOW_TOPICS), lambda m: m.key == wf_key)
    if not main.records:
        raise ExportError(f"no record of workflow {workflow_id!r} on the workflow topics")
    subjects: set[str] = set()
    versions: set[str] = set()
    for d in main.decoded.values():
        _subjects(d.record, subjects)
        if d.event_type == "ValidationDecided":
            versions.add(d.record["policy_version"])
    extra = await _read(bootstrap, [topics.POLICY, topics.GDPR], lambda m: (
        (m.topic == topics.GDPR and (m.key or b"").decode(errors="replace") in subjects) or m.topic == topics.POLICY))
    policy_hashes: dict[str, set[str]] = {}
    for d in main.decoded.values():
        if d.event_type == "ValidationDecided" and d.record.get("policy_sha256"):
            policy_hashes.setdefault(d.record["policy_version"], set()).add(d.record["policy_sha256"])
    records = list(main.records)
    for m in extra.records:
        d = extra.decoded.get((m.topic, m.partition, m.offset))
        if m.topic == topics.POLICY:
            if d is None or d.event_type != "PolicyActivated" or d.record["version"] not in versions:
                continue
            policy_hashes.setdefault(d.record["version"], set()).add(d.record["sha256"])
        records.append(m)

    # Proofs, checkpoints, consistency proofs.
    lines: list[str] = []
    signers: set[str] = set()
    fingerprints: set[bytes] = set()
    first_seq: dict[tuple[str, int], int] = {}
    for m in sorted(records, key=lambda m: (m.topic, m.partition, m.offset)):
        cp = await _checkpoint_for(store, m, wait_s)
        entries = cp.entries()
        offsets = [e.offset for e in entries]
        leaves = [leaf_hash(cp.topic, cp.partition, e.offset, e.content) for e in entries]
        index = offsets.index(m.offset)
        headers = list(m.headers or ())
        lines.append(_line({
            "topic": m.topic, "partition": m.partition, "offset": m.offset, "timestamp": m.timestamp,
            "key": _b64(m.key), "value": _b64(m.value), "headers": [[n, _b64(v)] for n, v in headers],
            "proof": {"checkpoint_seq": cp.seq, "leaf_index": index, "tree_size": len(leaves),
                      "audit_path": [h.hex() for h in merkle.inclusion_path(leaves, index)]}}))
        signers.update(v.decode() for n, v in headers if n == KEY_HEADER and v)
        if m.value and len(m.value) >= 10:
            fingerprints.add(bytes(m.value[2:10]))
        tp = (m.topic, m.partition)
        first_seq[tp] = min(first_seq.get(tp, cp.seq), cp.seq)
    ckpt_lines, cons_lines = [], []
    bundled: dict[str, str] = {}
    for (topic, partition), seq0 in sorted(first_seq.items()):
        cps, _ = await store.redis_checkpoints(topic, partition)
        kept = [c for c in cps if c.seq >= seq0]
        for c in kept:
            j = c.to_json()
            ckpt_lines.append(_line({k: j[k] for k in _CKPT_FIELDS}))
            signers.add(c.key_id)
            bundled[c.checkpoint_id] = c.hash.hex()
        _, proofs = check_trees(cps)
        for p in proofs:
            if p.from_seq >= seq0:
                cons_lines.append(_line({"topic": topic, "partition": partition, "from_seq": p.from_seq,
                                         "to_seq": p.to_seq, "proof": [h.hex() for h in p.hashes]}))

    cosigs = await cosignatures(bootstrap, bundled)
    signers.update(c["key_id"] for c in cosigs)
    files: dict[str, bytes] = {
        "records.jsonl": "".join(x + "\n" for x in lines).encode(),
        "checkpoints.jsonl": "".join(x + "\n" for x in ckpt_lines).encode(),
        "consistency.jsonl": "".join(x + "\n" for x in cons_lines).encode(),
    }
    if cosigs:
        files["cosignatures.jsonl"] = "".join(_line(c) + "\n" for c in cosigs).encode()
    for key_id in sorted(signers):
        pub = trust.get(key_id)
        if pub is None:
            raise ExportError(f"public key {key_id} is not in the trusted keys directory")
        files[f"keys/{key_id}.pub"] = (raw_public(pub).hex() + "\n").encode()
    catalog = default_catalog()
    for fp in sorted(fingerprints):
        sv = catalog.by_fingerprint.get(fp)
        if sv is not None:
            files[f"schemas/{fp.hex()}.avsc"] = sv.canonical.encode()
    for version in sorted(versions):
        path = policy_dir / f"{version}.yaml"
        if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() in policy_hashes.get(version, set()):
            files[f"policies/{version}.yaml"] = path.read_bytes()
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty")
    for name, data in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    manifest = {"files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(files.items())}, "format": FORMAT,
                "workflow_id": workflow_id}
    (out / "MANIFEST.json").write_text(json.dumps(manifest, sort_keys=True, indent=1) + "\n")
    return {"bundle": str(out), "records": len(lines), "checkpoints": len(ckpt_lines), "consistency_proofs": len(cons_lines),
            "cosignatures": len(cosigs),
            "keys": sorted(signers), "policies": sorted(n for n in files if n.startswith("policies/")),
            "bytes": sum(len(d) for d in files.values()), "seconds": round(time.monotonic() - started, 3)}

