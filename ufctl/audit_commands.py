"""`ufctl audit verify | prove | replay | report`: what an auditor runs against the trail.

Mounted by `ufctl/cli.py` with `add_audit_commands(audit_subparsers)` next to `audit show`.
Exit codes: 0 fine, 1 a problem was found or the command could not run (one line on stderr)."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConnectionError as SearchConnectionError

from services.audit.config import AuditSettings
from services.audit.evidence.sigpolicy import PolicyError, load_policy
from services.audit.live.checkpoint_store import CheckpointStore
from services.audit.tools.export import ExportError, export
from services.audit.tools.logcheck import NotVerified, verified_history
from services.audit.tools.mirror_check import check_mirror
from services.audit.tools.proofs import ProofError, check_proof, make_proof
from services.audit.tools.replay import Replayer, ReplayError, ReplayInterrupted
from services.audit.tools.replay_filter import ReplayFilter
from services.audit.tools.report import ReportError, build_report, check_against_log, render_markdown
from services.audit.tools.verify import verify
from services.kit.messaging.logreader import ReadIncomplete
from services.kit.runtime import paths
from services.kit.security import redis_auth, search_auth
from services.kit.security.signing import TrustStore
from ufctl.errors import CliError


class ProgressBar:
    """One line on stderr, redrawn at most 10 times a second (a plain line every 2 s when stderr
    is not a terminal, so logs stay readable)."""

    def __init__(self, stream=sys.stderr, width: int = 30) -> None:
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self._last = 0.0
        self._label = ""
        self._t0 = time.monotonic()

    def __call__(self, label: str, done: int, total: int) -> None:
        now = time.monotonic()
        if label != self._label:
            if self._label and self.tty:
                self.stream.write("\n")
            self._label = label
            self._t0 = self._t0 if label == "verify" else now
        if now - self._last < (0.1 if self.tty else 2.0) and done < total:
            return
        self._last = now
        frac = done / total if total else 1.0
        elapsed = now - self._t0
        rate = done / elapsed if elapsed > 0.5 else 0.0
        eta = f"ETA {(total - done) / rate:,.0f}s" if rate > 0 else ""
        bar = "#" * int(frac * self.width)
        line = f"{label:<9} [{bar:<{self.width}}] {frac * 100:5.1f}% {done}/{total} records {rate:,.0f}/s {eta}"
        self.stream.write(("\r" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self._label:
            self.stream.write("\n")
            self.stream.flush()


def _verify_progress(bar: ProgressBar):
    return lambda done, total: bar("verify", done, total)


async def _clients(s: AuditSettings, search_as: str | None = None) -> tuple[aioredis.Redis, AsyncOpenSearch]:
    # The verifier bounds its own concurrency (verify.LOAD_CONCURRENCY); a blocking pool still
    # makes any other burst queue for a connection instead of failing with MaxConnectionsError.
    pool = aioredis.BlockingConnectionPool.from_url(s.redis_url, max_connections=32, timeout=120, socket_timeout=10, **redis_auth.credentials())
    return aioredis.Redis(connection_pool=pool), search_auth.async_client(s.es_url, search_as, request_timeout=60)


async def _with_clients(fn, search_as: str | None = None):
    """`search_as`: the search-engine identity (default the CLI's own, which only reads the
    trail; a replay rebuilds the audit service's indices and acts as their writer)."""
    s = AuditSettings()
    r, es = await _clients(s, search_as)
    try:
        return await fn(s, r, es)
    except (aioredis.ConnectionError, OSError) as exc:
        raise CliError(f"cannot reach Redis at {s.redis_url} (is the stack up? `make up`): {exc.__class__.__name__}") from None
    except SearchConnectionError:
        raise CliError(f"cannot reach OpenSearch at {s.es_url} (is the stack up? `make up`)") from None
    finally:
        await es.close()
        await r.aclose()


def _trust(args: argparse.Namespace) -> TrustStore:
    return TrustStore(Path(args.trusted_keys)) if getattr(args, "trusted_keys", None) else TrustStore()


# --- verify -------------------------------------------------------------------------------------
def _runs(forged: list[dict[str, Any]]) -> list[tuple[int, int, str, int]]:
    """Consecutive forged records with the same reason, as (first, last, reason, count)."""
    runs: list[list[Any]] = []
    for x in forged:
        reason = x["reason"] + (f" (key {x['key_id']})" if "key_id" in x else "")
        if runs and runs[-1][2] == reason and runs[-1][3] == len(runs[-1][4]) and x["offset"] > runs[-1][1]:
            runs[-1][1] = x["offset"]
            runs[-1][3] += 1
            runs[-1][4].append(x["offset"])
        else:
            runs.append([x["offset"], x["offset"], reason, 1, [x["offset"]]])
    return [(a, b, r, n) for a, b, r, n, _ in runs]


def _print_verify(res: dict[str, Any]) -> None:
    for p in res["partitions"]:
        where = f"{p['topic']}[{p['partition']}]"
        for kind in ("modified", "deleted", "inserted", "reordered"):
            for x in p[kind]:
                extra = f" (now at offset {x['now_at']})" if "now_at" in x and x["now_at"] != x["offset"] else ""
                print(f"{kind.upper():<10} {where}@{x['offset']}{extra}")
        for first, last, reason, n in _runs(p["forged"]):
            at = f"@{first}" if n == 1 else f"@{first}..{last} ({n} records)"
            print(f"{'FORGED':<10} {where}{at}  {reason}")
        if p["forged_count"] > len(p["forged"]):
            print(f"{'FORGED':<10} {where}: ... {p['forged_count'] - len(p['forged'])} more")
        for c in p["checkpoint_errors"]:
            print(f"{'CHECKPOINT':<10} {where} seq {c['seq']}: {c['problem']}")
        if p["checkpoints_mismatched"]:
            print(f"{'ROOT':<10} {where}: checkpoint(s) {p['checkpoints_mismatched']} no longer match the log")
        if p["renumbered"]["count"]:
            a, b = p["renumbered"]["first"]
            print(f"{'note':<10} {where}: {p['renumbered']['count']} attested record(s) renumbered (first: {a} -> {b})")
    s = res["summary"]
    print(f"{'OK' if res['ok'] else 'FAILED'}: {s['records']} records in {len(res['partitions'])} partitions, "
          f"{s['checkpoints_verified']}/{s['checkpoints']} checkpoints verified, {s['pending']} not yet checkpointed, "
          f"{s['expired']} expired; modified {s['modified']}, deleted {s['deleted']}, inserted {s['inserted']}, "
          f"reordered {s['reordered']}, forged {s['forged']}, checkpoint errors {s['checkpoint_errors']}, "
          f"duplicates {s['duplicates']}, forged on the checkpoint topic {s['checkpoint_topic_forged']}, "
          f"projection drift {s['projection_drift']} ({res['seconds']:.1f}s)")
    for d in res.get("duplicates", [])[:20]:
        print(f"  duplicate ({d['kind']}): {d['topic']}[{d['partition']}]@{d['offset']} repeats "
              f"{d['first']['topic']}[{d['first']['partition']}]@{d['first']['offset']}")
    for f in res.get("checkpoint_topic", [])[:20]:
        print(f"  forged checkpoint record: {f['topic']}[{f['partition']}]@{f['offset']}: {f['problem']}")
    for d in res.get("projection_drift", [])[:20]:
        where = d.get("workflow_id") or d.get("event_id")
        print(f"  projection drift in {d['store']}: {where}: log says {d['log']}, store says {d['stored']}")
    if res.get("not_compared"):
        print(f"  not compared (unavailable): {', '.join(res['not_compared'])}")


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.policy or None)
    except PolicyError as exc:
        raise CliError(f"signature policy: {exc}") from None
    if args.bootstrap:
        return _verify_mirror(args, policy)
    bar = ProgressBar()

    async def go(s: AuditSettings, r, es):
        return await verify(bootstrap=s.kafka_bootstrap, store=CheckpointStore(r, es, s.checkpoint_index), policy=policy,
                            trust=_trust(args), topics=args.topic or None, extra_pattern=s.extra_topic_pattern,
                            progress=None if args.json else _verify_progress(bar), timeout_s=args.timeout,
                            es_index=s.es_index)

    try:
        res = asyncio.run(_with_clients(go))
    except ReadIncomplete as exc:
        raise CliError(f"could not read the log to the end: {exc}") from None
    finally:
        bar.close()
    if args.json:
        print(json.dumps(res))
    else:
        _print_verify(res)
    return 0 if res["ok"] else 1


def _verify_mirror(args: argparse.Namespace, policy: Any) -> int:
    """`verify --bootstrap MIRROR`: the mirror against the signed checkpoints, by content
    (services/audit/tools/mirror_check.py). Exit 0: the mirror holds every attested record;
    3: what it holds is intact but attested records past its end are lost (listed); 1: altered."""
    s = AuditSettings()

    async def go() -> dict[str, Any]:
        r = aioredis.from_url(s.redis_url, socket_timeout=10, **redis_auth.credentials())
        try:
            try:
                await r.ping()
                store: CheckpointStore | None = CheckpointStore(r, None, s.checkpoint_index)
            except (aioredis.ConnectionError, OSError, aioredis.ResponseError):
                store = None  # the primary's copies are gone too: judge the mirror by its own checkpoints
            return await check_mirror(bootstrap=args.bootstrap, policy=policy, trust=_trust(args), store=store,
                                      extra_pattern=s.extra_topic_pattern, timeout_s=args.timeout, topics=args.topic or None)
        finally:
            await r.aclose()

    try:
        res = asyncio.run(go())
    except ReadIncomplete as exc:
        raise CliError(f"could not read the mirror to the end: {exc}") from None
    except Exception as exc:  # aiokafka's connection errors: say where, not a traceback
        if isinstance(exc, CliError):
            raise
        raise CliError(f"cannot read the mirror at {args.bootstrap}: {exc.__class__.__name__}") from None
    if args.json:
        print(json.dumps(res))
    else:
        for p in res["partitions"]:
            where = f"{p['topic']}[{p['partition']}]"
            for o in p["holes"]:
                print(f"{'MISSING':<10} {where}@{o}: attested, not on the mirror (later records are)")
            for o in p["inserted"]:
                print(f"{'INSERTED':<10} {where} mirror offset {o}: on the mirror, attested by no checkpoint")
            for c in p["checkpoint_errors"]:
                print(f"{'CHECKPOINT':<10} {where} seq {c['seq']}: {c['problem']}")
            if p["forged"]:
                print(f"{'FORGED':<10} {where}: {p['forged']} record(s) fail their signature")
            if p["lost"]:
                print(f"{'LOST':<10} {where}: {p['lost']} attested record(s) from offset {p['lost_from']} not mirrored "
                      f"(mirror holds through {p['mirrored_through']}; {p['checkpoints_not_mirrored']} checkpoint(s) not mirrored)")
        t = res["summary"]
        copies = "" if res["primary_copies"] else ": primary copies unreachable"
        verdict = "OK" if res["complete"] else "INCOMPLETE" if res["ok"] else "FAILED"
        print(f"{verdict}: mirror {res['mirror']}: {t.get('matched', 0)}/{t.get('attested', 0)} attested records on the mirror, "
              f"{t.get('checkpoints_verified', 0)} checkpoints verified ({t.get('checkpoints_on_mirror', 0)} mirrored, "
              f"{t.get('checkpoints_not_mirrored', 0)} only in the primary's copies{copies}); "
              f"lost {t.get('lost', 0)}, missing {t.get('holes', 0)}, inserted {t.get('inserted', 0)}, forged {t.get('forged', 0)}, "
              f"checkpoint errors {t.get('checkpoint_errors', 0)}, not yet attested {t.get('unattested', 0)}, "
              f"duplicates {t.get('duplicates', 0)}")
    return 0 if res["complete"] else 3 if res["ok"] else 1


# --- prove --------------------------------------------------------------------------------------
def cmd_prove(args: argparse.Namespace) -> int:
    trust = _trust(args)
    if args.check:
        try:
            proof = json.loads(Path(args.check).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CliError(f"{args.check}: not a readable proof ({exc.__class__.__name__})") from None
    else:
        if not args.event_id:
            raise CliError("prove needs EVENT_ID (or --check FILE)")

        async def go(s: AuditSettings, r, es):
            return await make_proof(bootstrap=s.kafka_bootstrap, es=es, alias=s.es_index,
                                    store=CheckpointStore(r, es, s.checkpoint_index), event_id=args.event_id)

        try:
            proof = asyncio.run(_with_clients(go))
        except ProofError as exc:
            raise CliError(str(exc)) from None
    ok, failed = check_proof(proof, trust)
    proof = {**proof, "verified": ok, "failed_checks": failed}
    if args.out:
        Path(args.out).write_text(json.dumps(proof, indent=2))
    if args.json:
        print(json.dumps(proof))
    else:
        cp = proof.get("checkpoint", {})
        print(f"event      {proof.get('event_id')}\nrecord     {proof.get('topic')}[{proof.get('partition')}]@{proof.get('offset')}")
        print(f"leaf       {proof.get('leaf')} (index {proof.get('leaf_index')} of {proof.get('tree_size')})")
        for i, h in enumerate(proof.get("audit_path", [])):
            print(f"path[{i:>2}]   {h}")
        print(f"root       {proof.get('root')}")
        print(f"checkpoint {cp.get('checkpoint_id')} offsets {cp.get('first_offset')}..{cp.get('last_offset')} "
              f"signed by {cp.get('key_id')}")
        print("VERIFIED" if ok else "NOT VERIFIED: " + "; ".join(failed))
    return 0 if ok else 1


# --- replay -------------------------------------------------------------------------------------
def parse_time(text: str | None) -> int | None:
    """Epoch milliseconds, or ISO 8601 (UTC unless an offset is given)."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"bad time {text!r} (use ISO 8601, e.g. 2026-11-24T08:00:00Z, or epoch milliseconds)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def cmd_replay(args: argparse.Namespace) -> int:
    flt = ReplayFilter(parse_time(args.from_time), parse_time(args.to_time), tuple(args.workflow or ()), tuple(args.subject or ()))
    bar = ProgressBar()

    async def go(s: AuditSettings, r, es):
        rp = Replayer(bootstrap=s.kafka_bootstrap, redis=r, es=es, alias=s.es_index, consumer_group=s.consumer_group,
                      progress=bar)
        if args.abort:
            return {"message": await rp.abort()}
        return await rp.run(flt, resume=args.resume, keep_old=args.keep_old, stop_after=args.stop_after)

    try:
        res = asyncio.run(_with_clients(go, search_auth.WRITER))
    except ReplayInterrupted as exc:
        bar.close()
        print(f"ufctl: replay interrupted: {exc}", file=sys.stderr)
        return 1
    except (ReplayError, ReadIncomplete) as exc:
        raise CliError(f"replay: {exc}") from None
    finally:
        bar.close()
    if args.json:
        print(json.dumps(res))
    elif "message" in res:
        print(res["message"])
    else:
        for note in res["notes"]:
            print(f"note: {note}")
        print(f"replay {res['replay']}: {res['records_read']} records read, {res['documents_rebuilt']} documents rebuilt, "
              f"{res['workflows_replaced']} workflow state(s) replaced; alias -> {', '.join(res['indices'])} "
              f"({res['seconds']:.1f}s; live projection held {res['pause_seconds']:.2f}s)")
    return 0


# --- report -------------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    async def go(s: AuditSettings, r, es):
        return await build_report(es, s.es_index, args.workflow_id)

    try:
        rep = asyncio.run(_with_clients(go))
    except ReportError as exc:
        raise CliError(str(exc)) from None
    try:  # the search engine can be rewritten: check the transitions against the signed log
        history, _ = asyncio.run(verified_history(AuditSettings().kafka_bootstrap, args.workflow_id))
        rep = check_against_log(rep, history)
    except NotVerified as exc:
        rep = {**rep, "verification": {"verified": False, "detail": f"could not read the signed log ({exc})"}}
    out = Path(args.out or f"audit-report-{args.workflow_id}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(rep, indent=2))
    (out / "report.md").write_text(render_markdown(rep))
    print(f"{out / 'report.json'}\n{out / 'report.md'}")
    if not rep["verification"]["verified"]:
        print(f"ufctl: report NOT VERIFIED: {rep['verification']['detail']}", file=sys.stderr)
        return 1
    return 0


# --- export -------------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    import os

    policy_dir = Path(os.environ.get("UF_POLICY_DIR") or paths.POLICIES)

    async def go(s: AuditSettings, r, es):
        return await export(bootstrap=s.kafka_bootstrap, store=CheckpointStore(r, es, s.checkpoint_index),
                            workflow_id=args.workflow_id, out=Path(args.out), policy_dir=policy_dir, trust=_trust(args),
                            wait_s=args.wait)

    try:
        res = asyncio.run(_with_clients(go))
    except (ExportError, ReadIncomplete) as exc:
        raise CliError(f"export: {exc}") from None
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['bundle']}: {res['records']} records, {res['checkpoints']} checkpoints, "
              f"{res['consistency_proofs']} consistency proofs, {res['cosignatures']} witness cosignatures, "
              f"{len(res['keys'])} keys, {res['bytes']} bytes "
              f"({res['seconds']:.1f}s); check it with `python -m uf_verify {res['bundle']}`")
    return 0


# --- redecide -----------------------------------------------------------------------------------
def cmd_redecide(args: argparse.Namespace) -> int:
    import os

    from services.kit.contracts import codec, topics
    from services.kit.messaging import logreader
    from services.validator.redecide import redecide

    policy_dir = Path(os.environ.get("UF_POLICY_DIR") or paths.POLICIES)
    key = args.workflow_id.encode()

    async def go() -> list[dict[str, Any]]:
        consumer = logreader.new_consumer(AuditSettings().kafka_bootstrap)
        try:
            await consumer.start()
        except Exception:
            await consumer.stop()
            raise CliError("cannot reach Kafka (is the stack up? `make up`)") from None
        decisions = []
        try:
            tps = await logreader.partitions_of(consumer, [topics.VALIDATION_DECISIONS])
            _, ends = await logreader.bounds(consumer, tps)
            async for batch in logreader.read_batches(consumer, tps, end=ends, timeout_s=args.timeout):
                for msgs in batch.values():
                    for m in msgs:
                        if m.key == key:
                            try:
                                d = codec.decode(m.value)
                            except codec.CodecError:
                                continue
                            if d.event_type == "ValidationDecided":
                                decisions.append(d.record)
        finally:
            await consumer.stop()
        return [await redecide(d, policy_dir) for d in decisions]

    try:
        entries = asyncio.run(go())
    except ReadIncomplete as exc:
        raise CliError(f"could not read the decisions: {exc}") from None
    if not entries:
        raise CliError(f"no recorded decision for workflow {args.workflow_id}")
    if args.json:
        print(json.dumps(entries))
    else:
        for e in entries:
            verdict = "ALLOW" if e["recorded"]["allowed"] else "DENY"
            print(f"{'same' if e['same'] else 'DIFFERS':<8} {e['decision_id']}  {e['from_phase'] or 'START'} -> "
                  f"{e['to_phase']}  {verdict} (policy {e['policy_version']})" + (f"  [{e['note']}]" if "note" in e else ""))
        same = sum(e["same"] for e in entries)
        print(f"{same}/{len(entries)} decisions re-made with the same outcome")
    return 0 if all(e["same"] for e in entries) else 1


# --- witness ------------------------------------------------------------------------------------
def cmd_witness(args: argparse.Namespace) -> int:
    from services.audit.tools.witness import WitnessError, witness_once
    from services.kit.contracts.events import Origin
    from services.kit.runtime.config import ServiceSettings
    from services.kit.security.kafka_auth import configure_kafka_identity
    from services.kit.security.signing import SigningError, load_signer

    try:
        signer = load_signer("witness", Path(args.keys_dir) if args.keys_dir else None)
    except SigningError as exc:
        raise CliError(f"witness key: {exc}") from None
    state = Path(args.state) if args.state else paths.VAR / "witness" / "state.json"
    s = ServiceSettings()
    configure_kafka_identity(os.environ.get("UF_KAFKA_PRINCIPAL") or "witness")  # its own principal, not the CLI's
    try:
        res = asyncio.run(witness_once(bootstrap=s.kafka_bootstrap, state_path=state, signer=signer, trust=_trust(args),
                                       origin=Origin("witness", s.version, s.colour)))
    except (ReadIncomplete, WitnessError) as exc:
        raise CliError(f"witness: {exc}") from None
    if args.json:
        print(json.dumps(res))
    else:
        for p in res["problems"]:
            print(f"REFUSED  {p.get('checkpoint', p.get('offset'))}: {p['problem']}")
        print(f"{res['witness_key']}: cosigned {res['cosigned']} checkpoint(s), {res['skipped']} already seen, "
              f"{len(res['problems'])} refused; {res['partitions']} partition(s) followed")
    return 1 if res["problems"] else 0


def add_audit_commands(audit: argparse._SubParsersAction) -> None:
    """Add verify / prove / replay / report to the `ufctl audit` subcommands."""
    s = audit.add_parser("verify", help="check the log against the signed checkpoints and record signatures")
    s.add_argument("--topic", action="append", help="only this topic (repeatable)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--policy", help="signature policy YAML (default: UF_AUDIT_POLICY_FILE or built-in)")
    s.add_argument("--trusted-keys", help="directory of <key_id>.pub files (default: UF_TRUSTED_KEYS_DIR or var/keys)")
    s.add_argument("--timeout", type=float, default=1800.0, help="give up reading the log after N seconds")
    s.add_argument("--bootstrap", help="a MirrorMaker copy of the log (the DR site): match it to the signed checkpoints by "
                                       "content and report what it lost (exit 3) - docs/operations.md")
    s.set_defaults(func=cmd_verify)

    s = audit.add_parser("prove", help="inclusion proof of an event in a signed checkpoint")
    s.add_argument("event_id", nargs="?")
    s.add_argument("--json", action="store_true")
    s.add_argument("--out", help="also write the proof (JSON) to this file")
    s.add_argument("--check", metavar="FILE", help="verify a saved proof instead (offline)")
    s.add_argument("--trusted-keys")
    s.set_defaults(func=cmd_prove)

    s = audit.add_parser("replay", help="rebuild the OpenSearch and Redis projections from the log and swap them in")
    s.add_argument("--from", dest="from_time", help="only events at/after TIME (ISO 8601 or epoch ms)")
    s.add_argument("--to", dest="to_time", help="only events before TIME")
    s.add_argument("--workflow", action="append", help="only this workflow (repeatable)")
    s.add_argument("--subject", action="append", help="only events concerning this subject pseudonym (repeatable)")
    s.add_argument("--resume", action="store_true", help="continue an interrupted replay")
    s.add_argument("--abort", action="store_true", help="discard an unfinished replay")
    s.add_argument("--keep-old", action="store_true", help="keep the retired indices")
    s.add_argument("--stop-after", type=int, help=argparse.SUPPRESS)  # tests: simulate an interruption
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_replay)

    s = audit.add_parser("export", help="self-contained evidence bundle of a workflow (check it with python -m uf_verify DIR)")
    s.add_argument("workflow_id")
    s.add_argument("--out", required=True, help="a new (or empty) directory")
    s.add_argument("--trusted-keys")
    s.add_argument("--wait", type=float, default=30.0, help="wait up to N s for the newest records to be checkpointed")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_export)

    s = audit.add_parser("redecide", help="re-run every recorded decision of a workflow on its recorded facts and policy")
    s.add_argument("workflow_id")
    s.add_argument("--json", action="store_true")
    s.add_argument("--timeout", type=float, default=600.0)
    s.set_defaults(func=cmd_redecide)

    s = audit.add_parser("witness", help="verify new checkpoints against what this witness saw before and cosign them")
    s.add_argument("--state", help="witness state file (default var/witness/state.json)")
    s.add_argument("--keys-dir", help="where the witness key lives (default: UF_SIGNING_KEY or var/keys/witness.ed25519)")
    s.add_argument("--trusted-keys", help="directory of trusted audit public keys")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_witness)

    s = audit.add_parser("report", help="compliance report of a workflow (JSON + Markdown)")
    s.add_argument("workflow_id")
    s.add_argument("--out", help="directory (default ./audit-report-ID)")
    s.set_defaults(func=cmd_report)
