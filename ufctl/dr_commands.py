"""`ufctl dr backup --out DIR` / `ufctl dr restore DIR`: see ufctl/dr.py for what is in a backup
and the order a restore follows (erasures first, then keys, then projections and checks)."""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from services.audit.config import AuditSettings
from services.audit.evidence.sigpolicy import load_policy
from services.audit.live import es_layout
from services.audit.live.checkpoint_store import CheckpointStore
from services.audit.tools.replay import Replayer, ReplayError
from services.audit.tools.replay_filter import ReplayFilter
from services.audit.tools.verify import verify
from services.kit.messaging.logreader import ReadIncomplete
from services.kit.runtime import paths
from services.kit.security import redis_auth, search_auth
from services.kit.security.signing import TrustStore
from ufctl import dr, s3
from ufctl.errors import CliError


def _policy_dir() -> Path:
    import os

    return Path(os.environ.get("UF_POLICY_DIR") or paths.POLICIES)


def cmd_backup(args: argparse.Namespace) -> int:
    s = AuditSettings()
    if s3.is_s3(args.out):
        print(upload_backup(args.out, lambda out: dr.backup(out, s.redis_url, s.kafka_bootstrap, _policy_dir())))
    else:
        print(dr.backup(Path(args.out), s.redis_url, s.kafka_bootstrap, _policy_dir()))
    return 0


def upload_backup(target: str, make: Callable[[Path], Path], client: s3.S3Client | None = None) -> str:
    """The backup made in a private temporary directory, then uploaded under s3://BUCKET/PREFIX/
    - every file first, `manifest.json` last, so a backup whose upload broke off has no
    manifest and is never taken for one. A prefix that already holds objects is refused (one
    prefix per backup, like one directory)."""
    loc = s3.parse(target)
    client = client or s3.S3Client()
    if not loc.prefix:
        raise CliError(f"{target}: give a prefix per backup (s3://BUCKET/PREFIX)")
    if client.list(loc.bucket, loc.prefix + "/"):
        raise CliError(f"{loc} already holds objects (use a new prefix per backup)")
    with tempfile.TemporaryDirectory(prefix="uf-backup-") as tmp:  # mode 0700
        manifest = make(Path(tmp) / "backup")
        root = manifest.parent
        names = sorted(str(f.relative_to(root)) for f in root.rglob("*") if f.is_file() and f != manifest)
        for name in names:
            client.put(loc.bucket, loc.key(name), (root / name).read_bytes())
        client.put(loc.bucket, loc.key("manifest.json"), manifest.read_bytes())
    return f"{loc}/manifest.json"


def download_backup(source: str, into: Path, client: s3.S3Client | None = None) -> Path:
    """Every object under s3://BUCKET/PREFIX/ into `into` (the restore then checks each against
    the manifest, and refuses files the manifest does not list)."""
    loc = s3.parse(source)
    client = client or s3.S3Client()
    keys = client.list(loc.bucket, loc.prefix + "/" if loc.prefix else "")
    if loc.key("manifest.json") not in keys:
        raise CliError(f"{loc}: no manifest.json (not a backup, or its upload did not finish)")
    for key in keys:
        name = key[len(loc.prefix) + 1:] if loc.prefix else key
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise CliError(f"{loc}: refusing object name {key!r}")
        data = client.get(loc.bucket, key)
        if data is None:
            raise CliError(f"{loc}: {key} vanished while downloading")
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        (into / name).write_bytes(data)
    return into


async def _rebuild(s: AuditSettings, result: dr.RestoreResult) -> None:
    r = aioredis.from_url(s.redis_url, socket_timeout=30, **redis_auth.credentials())
    es = search_auth.async_client(s.es_url, search_auth.WRITER, request_timeout=120)  # rebuilds the audit indices
    try:
        store = CheckpointStore(r, es, s.checkpoint_index)
        await store.ensure_index()
        # A lost OpenSearch comes back without the projection's index template: without it the
        # rebuilt indices would get guessed (dynamic) mappings and keyword queries would miss.
        await es_layout.ensure_template(es, s.es_index)
        result.checkpoints_from_log, restored_to = await dr.recover_checkpoints(s.kafka_bootstrap, store, s.checkpoint_topic, TrustStore())
        for topic, partition in await store.partitions():
            cps, _ = await store.redis_checkpoints(topic, partition)
            for cp in cps:
                await store.save_es(cp)
                result.checkpoints_republished += 1
        await store.refresh_es()
        try:
            result.replay = await Replayer(bootstrap=s.kafka_bootstrap, redis=r, es=es, alias=s.es_index,
                                           consumer_group=s.consumer_group).run(ReplayFilter())
        except (ReplayError, ReadIncomplete) as exc:
            raise CliError(f"projections not rebuilt: {exc}") from None
        res = await verify(bootstrap=s.kafka_bootstrap, store=store, policy=load_policy(s.policy_file or None),
                           trust=TrustStore(), extra_pattern=s.extra_topic_pattern, timeout_s=900,
                           es_index=s.es_index, checkpoints_upto=restored_to)
        # The restore holds when the restored checkpoint copies are intact (signed, linked, whole
        # trees consistent). What verify finds about the log itself - records deleted, altered or
        # forged since they were attested - is reported with the restore, not a failed restore:
        # `ufctl audit verify` names them.
        summ = res["summary"]
        result.verify_summary = summ
        result.verify_ok = not summ["checkpoint_errors"]
        result.log_findings = {k: summ[k] for k in ("modified", "deleted", "inserted", "reordered", "forged") if summ.get(k)}
    finally:
        await es.close()
        await r.aclose()


def restore(src: Path) -> dr.RestoreResult:
    started = time.monotonic()
    s = AuditSettings()
    manifest, data = dr.load_backup(src)
    key = dr.backup_key(create=False)
    if dr.key_fingerprint(key) != manifest["backup_key"]:
        raise CliError("the backup key is not the one this backup was made with")
    # Services may be up on the empty stores (an empty Redis means nothing was attested or keyed
    # yet; erased keys are never written, so nothing can read one). Stopped is still preferred:
    # a checkpointer that attested a surviving log from genesis makes Redis non-empty -> refused.
    running = dr.services_running()
    snapshot: dict[str, Any] = json.loads(dr.unseal(key, "redis.json.enc", data["redis.json.enc"]))
    result = dr.RestoreResult(backup_created_at=int(manifest["created_at"]), services_running=running)
    # 1. erasures first: computed before a single key is written
    erasures = asyncio.run(dr.read_erasures(s.kafka_bootstrap))
    result.erasures_seen = len(erasures)
    drop = dr.withheld(snapshot, erasures, result.backup_created_at)
    result.subject_keys_withheld = sorted(drop)
    # 2. Redis state (minus erased keys), then every erasure re-applied against the store
    r = redis.Redis.from_url(s.redis_url, socket_timeout=30, **redis_auth.credentials())
    try:
        dr.clear_dir_check(r)
        result.redis_keys_restored, result.subject_keys_restored = dr.restore_redis(r, snapshot, drop, erasures)
    except redis.ConnectionError:
        raise CliError(f"cannot reach Redis at {s.redis_url}") from None
    # 3. files: policies and keys that are missing
    result.policies_restored, result.key_files_restored = dr.restore_files(data, key, _policy_dir())
    # 4. projections and checkpoints
    asyncio.run(_rebuild(s, result))
    result.seconds = round(time.monotonic() - started, 3)
    return result


def cmd_restore(args: argparse.Namespace) -> int:
    if s3.is_s3(args.dir):
        with tempfile.TemporaryDirectory(prefix="uf-restore-") as tmp:
            result = restore(download_backup(args.dir, Path(tmp)))
    else:
        result = restore(Path(args.dir))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        v = result.verify_summary
        print(f"restored {result.subject_keys_restored} subject key(s) ({len(result.subject_keys_withheld)} withheld: "
              f"erased after the backup; {result.erasures_seen} erasure(s) on the log re-applied), "
              f"{result.redis_keys_restored} Redis key(s), {result.checkpoints_republished} checkpoint(s) re-published, "
              f"{len(result.policies_restored)} policy file(s), {len(result.key_files_restored)} key file(s)")
        print(f"projections rebuilt: {result.replay.get('records_read', 0)} records replayed; "
              f"checkpoints {'VERIFIED' if result.verify_ok else 'NOT VERIFIED'} "
              f"({v.get('checkpoints_verified', 0)}/{v.get('checkpoints', 0)} match the log; checkpoint errors "
              f"{v.get('checkpoint_errors')}); {result.seconds:.1f}s")
        if result.log_findings:
            print(f"the log itself has findings ({result.log_findings}): see `ufctl audit verify`")
    return 0 if result.verify_ok else 1


def add_dr_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dr", help="disaster recovery: backup and restore").add_subparsers(dest="dr_command", required=True)
    s = p.add_parser("backup", help="encrypted backup of what the log cannot rebuild; prints the manifest path")
    s.add_argument("--out", "--target", dest="out", required=True,
                   help="a new directory, or s3://BUCKET/PREFIX (endpoint and credentials: UF_BACKUP_S3_*)")
    s.set_defaults(func=cmd_backup)
    s = p.add_parser("restore", help="restore onto an empty stack (empty Redis/ES; services best stopped): erasures re-applied first")
    s.add_argument("dir", help="the backup's directory, or s3://BUCKET/PREFIX")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_restore)
