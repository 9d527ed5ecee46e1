"""Disaster recovery: what the log cannot give back is backed up; everything else is rebuilt.

Backed up (encrypted, AES-256-GCM under the backup key, `UF_BACKUP_KEY` hex or
`var/keys/backup.key`, which must be kept apart from the backups):
  * Redis state that is not a projection: per-subject keys and their retention index, the audit
    checkpoint copies, delivery claims (so a restore never sends an email twice) - one atomic
    MULTI of DUMPs, i.e. one point in time;
  * the service signing keys and trusted public keys (`var/keys`);
  * in clear: the policy files, the topic declarations, the log end offsets at backup time, and
    `manifest.json` with the SHA-256 of every file.

Restore, onto an empty stack (Kafka with the log; empty Redis and OpenSearch; services
stopped, or started on the empty stores - an erased key is never written, so nothing can read it):
  1. read every `SubjectErased` on `uf.gdpr` and drop the erased subjects' keys from the backup
     *in memory* - an erased key is never written back, not even for a moment;
  2. write the remaining Redis state; re-apply every erasure against the store (belt and braces);
  3. restore policy files and keys that are missing (never overwrite a different one);
  4. re-publish the checkpoint copies to OpenSearch, rebuild the audit projections from the
     log (`audit replay`), and verify the restored checkpoints against the log.
The validator rebuilds its projections (sessions, consent, policy in force) from the log when it
starts on the empty Redis; the audit checkpointer resumes after the restored heads."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.kit.contracts import codec, keys, topics
from services.kit.messaging import logreader
from services.kit.runtime import paths
from services.kit.runtime.service_table import HOST, SERVICES, http_port
from services.kit.security import redis_auth
from ufctl.errors import CliError

FORMAT = "uf-dr-backup/1"
# Redis keys that are state, not projections (patterns over services/kit/contracts/keys.py)
BACKED_UP = (keys.SUBJECT_KEY_PREFIX + "*", keys.SUBJECT_KEY_EXPIRY, "uf:audit:ckpt:*", "uf:delivery:*")
ERASURE_SKEW_MS = 60_000  # an erasure without key id this close before the backup still applies


# --- the backup key -------------------------------------------------------------------------------
def backup_key(create: bool) -> bytes:
    env = os.environ.get("UF_BACKUP_KEY")
    if env:
        try:
            key = bytes.fromhex(env.strip())
        except ValueError:
            raise CliError("UF_BACKUP_KEY is not hex") from None
        if len(key) != 32:
            raise CliError("UF_BACKUP_KEY must be 32 bytes (64 hex digits)")
        return key
    path = paths.KEYS / "backup.key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    if not create:
        raise CliError(f"no backup key: set UF_BACKUP_KEY or provide {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex())
    return key


def key_fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"uf.backup-key\x00" + key).hexdigest()[:16]


def seal(key: bytes, name: str, data: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, data, FORMAT.encode() + b"\x00" + name.encode())


def unseal(key: bytes, name: str, blob: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], FORMAT.encode() + b"\x00" + name.encode())
    except InvalidTag:
        raise CliError(f"{name}: cannot decrypt (wrong backup key, or the file was altered)") from None


# --- backup ---------------------------------------------------------------------------------------
def redis_snapshot(r: redis.Redis) -> dict[str, dict[str, Any]]:
    """DUMP every backed-up key inside one MULTI/EXEC: one consistent point in time."""
    names: list[bytes] = []
    for pattern in BACKED_UP:
        names += list(r.scan_iter(match=pattern, count=1000))
    names = sorted(set(names))
    pipe = r.pipeline(transaction=True)
    subject = keys.SUBJECT_KEY_PREFIX.encode()
    for n in names:
        pipe.dump(n)
        pipe.pttl(n)
        pipe.get(n) if n.startswith(subject) else pipe.exists(n)  # key id of a subject key: erasures name it
    res = pipe.execute()
    out: dict[str, dict[str, Any]] = {}
    for i, n in enumerate(names):
        dump, pttl, value = res[3 * i], res[3 * i + 1], res[3 * i + 2]
        if dump is None:
            continue
        entry: dict[str, Any] = {"dump": base64.b64encode(dump).decode(), "pttl": max(0, int(pttl))}
        if n.startswith(subject):
            entry["key_id"] = bytes(value).decode().split(":", 1)[0]
        out[n.decode()] = entry
    return out


def key_files() -> dict[str, str]:
    d = paths.KEYS
    return {p.name: base64.b64encode(p.read_bytes()).decode() for p in sorted(d.glob("*"))
            if p.is_file() and p.name != "backup.key"} if d.exists() else {}


async def end_offsets(bootstrap: str) -> dict[str, int]:
    consumer = logreader.new_consumer(bootstrap)
    try:
        await consumer.start()
    except Exception:
        await consumer.stop()
        raise CliError(f"cannot reach Kafka at {bootstrap}") from None
    try:
        tps = await logreader.partitions_of(consumer, sorted(topics.load_topics()))
        _, ends = await logreader.bounds(consumer, tps)
        return {f"{tp.topic}:{tp.partition}": int(o) for tp, o in ends.items()}
    finally:
        await consumer.stop()


def backup(out: Path, redis_url: str, bootstrap: str, policy_dir: Path) -> Path:
    started = time.monotonic()
    key = backup_key(create=True)
    r = redis.Redis.from_url(redis_url, socket_timeout=30, **redis_auth.credentials())
    try:
        snapshot = redis_snapshot(r)
    except redis.ConnectionError:
        raise CliError(f"cannot reach Redis at {redis_url}") from None
    created_at = int(time.time() * 1000)
    offsets = asyncio.run(end_offsets(bootstrap))
    out.mkdir(parents=True, exist_ok=True)
    if (out / "manifest.json").exists():
        raise CliError(f"{out} already holds a backup (use a new directory per backup)")
    files: dict[str, bytes] = {
        "redis.json.enc": seal(key, "redis.json.enc", json.dumps(snapshot).encode()),
        "keys.json.enc": seal(key, "keys.json.enc", json.dumps(key_files()).encode()),
        "log-offsets.json": json.dumps(offsets, indent=1, sort_keys=True).encode(),
        "topics.yaml": paths.TOPICS_FILE.read_bytes(),
    }
    for p in sorted(policy_dir.glob("*.yaml")):
        files[f"policies/{p.name}"] = p.read_bytes()
    for name, data in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    counts = {"subject_keys": sum(1 for k in snapshot if k.startswith(keys.SUBJECT_KEY_PREFIX)),
              "checkpoint_keys": sum(1 for k in snapshot if k.startswith("uf:audit:ckpt:")),
              "delivery_claims": sum(1 for k in snapshot if k.startswith("uf:delivery:")),
              "policies": sum(1 for n in files if n.startswith("policies/"))}
    manifest = {"format": FORMAT, "created_at": created_at, "backup_key": key_fingerprint(key), "counts": counts,
                "files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(files.items())},
                "bytes": sum(len(d) for d in files.values()), "seconds": round(time.monotonic() - started, 3)}
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2))
    return path


# --- restore --------------------------------------------------------------------------------------
@dataclass
class Erasure:
    subject_id: str
    key_id: str
    occurred_at: int


@dataclass
class RestoreResult:
    backup_created_at: int
    services_running: list[str] = field(default_factory=list)
    subject_keys_restored: int = 0
    subject_keys_withheld: list[str] = field(default_factory=list)  # erased after (or around) the backup
    erasures_seen: int = 0
    redis_keys_restored: int = 0
    checkpoints_republished: int = 0
    checkpoints_from_log: int = 0  # signed after the backup, taken from the Kafka copy
    policies_restored: list[str] = field(default_factory=list)
    key_files_restored: list[str] = field(default_factory=list)
    replay: dict[str, Any] = field(default_factory=dict)
    verify_ok: bool = False
    verify_summary: dict[str, Any] = field(default_factory=dict)
    log_findings: dict[str, int] = field(default_factory=dict)  # about the log, not the restore
    seconds: float = 0.0


def load_backup(src: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and every file, each checked against the manifest (altered, missing or
    added files are refused)."""
    try:
        manifest = json.loads((src / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise CliError(f"{src}: no readable manifest.json") from None
    if manifest.get("format") != FORMAT:
        raise CliError(f"{src}: not a {FORMAT} backup")
    present = {str(p.relative_to(src)) for p in src.rglob("*") if p.is_file()} - {"manifest.json"}
    listed = set(manifest["files"])
    if present - listed:
        raise CliError(f"{src}: files not in the manifest: {sorted(present - listed)}")
    if listed - present:
        raise CliError(f"{src}: files missing: {sorted(listed - present)}")
    data = {}
    for name, digest in manifest["files"].items():
        blob = (src / name).read_bytes()
        if hashlib.sha256(blob).hexdigest() != digest:
            raise CliError(f"{src}: {name} does not match its hash in the manifest")
        data[name] = blob
    return manifest, data


async def read_erasures(bootstrap: str) -> list[Erasure]:
    consumer = logreader.new_consumer(bootstrap)
    try:
        await consumer.start()
    except Exception:
        await consumer.stop()
        raise CliError(f"cannot reach Kafka at {bootstrap}: erasures cannot be re-applied, nothing restored") from None
    out: list[Erasure] = []
    try:
        tps = await logreader.partitions_of(consumer, [topics.GDPR])
        if not tps:
            raise CliError(f"topic {topics.GDPR} missing: apply the topics first (`make topics`)")
        _, ends = await logreader.bounds(consumer, tps)
        async for batch in logreader.read_batches(consumer, tps, end=ends, timeout_s=300):
            for msgs in batch.values():
                for m in msgs:
                    try:
                        d = codec.decode(m.value)
                    except codec.CodecError:
                        continue
                    if d.event_type == "SubjectErased":
                        rec = d.record
                        out.append(Erasure(rec["subject_id"], rec.get("key_id", ""), int(d.envelope["occurred_at"])))
    finally:
        await consumer.stop()
    return out


def withheld(snapshot: dict[str, dict[str, Any]], erasures: list[Erasure], created_at: int) -> set[str]:
    """Subjects whose backed-up key an erasure destroyed: the erasure names that key, or (an
    erasure recorded without a key id) it happened after the backup."""
    held: dict[str, str] = {}
    for name, entry in snapshot.items():
        if name.startswith(keys.SUBJECT_KEY_PREFIX):
            held[name[len(keys.SUBJECT_KEY_PREFIX):]] = str(entry.get("key_id", ""))
    out = set()
    for e in erasures:
        kid = held.get(e.subject_id)
        if kid is None:
            continue
        if (e.key_id and e.key_id == kid) or (not e.key_id and e.occurred_at >= created_at - ERASURE_SKEW_MS):
            out.add(e.subject_id)
    return out


def services_running() -> list[str]:
    up = []
    for name in SERVICES:
        with socket.socket() as s:
            s.settimeout(0.3)
            if s.connect_ex((HOST, http_port(name))) == 0:
                up.append(name)
    return up


def restore_redis(r: redis.Redis, snapshot: dict[str, dict[str, Any]], drop: set[str], erasures: list[Erasure]) -> tuple[int, int]:
    drop_names = {keys.subject_key(s) for s in drop}
    restored = subject = 0
    pipe = r.pipeline(transaction=True)
    for name, entry in sorted(snapshot.items()):
        if name in drop_names:
            continue
        pipe.restore(name, entry["pttl"], base64.b64decode(entry["dump"]), replace=False)
        restored += 1
        subject += name.startswith(keys.SUBJECT_KEY_PREFIX)
    if drop:
        pipe.zrem(keys.SUBJECT_KEY_EXPIRY, *sorted(drop))
    try:
        pipe.execute()
    except redis.ResponseError as exc:
        raise CliError(f"Redis refused the restore ({exc}); restore onto an empty Redis") from None
    # Belt and braces: every erasure against the store as it now is.
    from services.kit.security.subject_keys import RedisKeyStore

    ks = RedisKeyStore("", client=r)
    for e in erasures:
        if e.key_id:
            ks.delete_if(e.subject_id, e.key_id)
    return restored, subject


def restore_files(data: dict[str, bytes], key: bytes, policy_dir: Path) -> tuple[list[str], list[str]]:
    policies: list[str] = []
    for name, blob in data.items():
        if not name.startswith("policies/"):
            continue
        target = policy_dir / name.split("/", 1)[1]
        if target.exists():
            if target.read_bytes() != blob:
                raise CliError(f"policy {target.name} differs from the backed-up version (versions are immutable)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        policies.append(target.name)
    restored_keys: list[str] = []
    for fname, b64 in json.loads(unseal(key, "keys.json.enc", data["keys.json.enc"])).items():
        target = paths.KEYS / fname
        blob = base64.b64decode(b64)
        if target.exists():
            if target.read_bytes() != blob:
                raise CliError(f"key file {fname} differs from the backed-up one; move it aside to restore")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob)
        target.chmod(0o600)
        restored_keys.append(fname)
    return policies, restored_keys


def clear_dir_check(r: redis.Redis) -> None:
    if any(True for _ in r.scan_iter(match=keys.SUBJECT_KEY_PREFIX + "*", count=100)) or r.exists(keys.CHECKPOINT_HEADS):
        raise CliError("Redis already holds subject keys or checkpoints: restore needs an empty Redis (stop the services, "
                       "empty Redis and OpenSearch, restore, then start the services - docs/operations.md)")



async def recover_checkpoints(bootstrap: str, store: Any, topic: str, trust: Any) -> tuple[int, dict[int, int]]:
    """Checkpoints signed after the backup are still on the Kafka copy (`uf.audit.checkpoints`):
    take each one that is validly signed and extends the restored head of its partition, so the
    restored chain does not fork when the checkpointer resumes. Returns how many were taken and
    the topic's end offsets read to: the point the restore restored to."""
    from services.audit.evidence.checkpoint import Checkpoint, self_check

    consumer = logreader.new_consumer(bootstrap)
    await consumer.start()
    found: dict[tuple[str, int], dict[int, Checkpoint]] = {}
    try:
        tps = await logreader.partitions_of(consumer, [topic])
        _, ends = await logreader.bounds(consumer, tps)
        async for batch in logreader.read_batches(consumer, tps, end=ends, timeout_s=300):
            for msgs in batch.values():
                for m in msgs:
                    try:
                        d = codec.decode(m.value)
                        cp = Checkpoint.from_event(d.record)
                    except (codec.CodecError, KeyError, TypeError, ValueError):
                        continue
                    found.setdefault((cp.topic, cp.partition), {})[cp.seq] = cp
    finally:
        await consumer.stop()
    taken = 0
    heads = await store.heads()
    for tp, by_seq in sorted(found.items()):
        head = heads.get(tp)
        while True:
            nxt = by_seq.get(head.seq + 1 if head else 0)
            if nxt is None or self_check(nxt, trust) or (head and nxt.prev_checkpoint_hash != head.hash):
                break
            await store.save_redis(nxt)
            await store.mark_published(nxt)
            head, taken = nxt, taken + 1
    return taken, {tp.partition: int(o) for tp, o in ends.items()}
