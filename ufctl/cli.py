"""Argument parsing and dispatch. Endpoints come from the same UF_* variables the services use."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

import redis
from aiokafka.errors import KafkaConnectionError
from opensearchpy.exceptions import AuthorizationException as SearchAuthorizationError

from services.audit.config import AuditSettings
from services.kit.contracts.phases import TERMINAL, Phase
from services.kit.runtime.config import ServiceSettings
from services.kit.security import kafka_auth, redis_auth, search_auth
from services.kit.security.sealing import open_blob
from services.kit.security.subject_keys import RedisKeyStore
from uf_pii.cli import add_arguments as add_pii_scan_arguments
from ufctl import publishing, queries
from ufctl.audit_commands import add_audit_commands
from ufctl.dr_commands import add_dr_commands
from ufctl.errors import CliError
from ufctl.policy_commands import add_policy_commands
from ufctl.rollout.commands import add_rollout_commands


def _settings() -> ServiceSettings:
    return ServiceSettings()


def _send(*events: dict[str, Any]) -> None:
    pairs = [(publishing.TOPIC_OF[e["envelope"]["event_type"]], e) for e in events]
    asyncio.run(publishing.send_events(_settings().kafka_bootstrap, pairs))


def cmd_publish(args: argparse.Namespace) -> int:
    keys = RedisKeyStore(_settings().redis_url)
    event = publishing.request_event(publishing.load_request_file(args.file), keys)
    _send(event)
    print(event["envelope"]["workflow_id"])
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.wait
    while True:
        try:
            status = queries.workflow_status(_settings().redis_url, args.workflow_id)
        except CliError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.3)
            continue
        if time.monotonic() >= deadline or status["phase"] in {p.value for p in TERMINAL}:
            break
        time.sleep(0.3)
    status = queries.verify_status(_settings().kafka_bootstrap, status)
    if args.json:
        print(json.dumps(status))
    else:
        print(f"{status['workflow_id']}: {status['phase']}" + (f" ({status['reason']})" if status["reason"] else ""))
        if status.get("waiting"):
            w = status["waiting"]
            print(f"  waiting to enter {w['target_phase']} (attempt {w['attempt']}, next attempt {_ts(w['next_attempt_at'])}): {w['reason']}")
        for h in status["history"]:
            print(f"  {_ts(h['at'])}  {h['from'] or 'START':>17} -> {h['phase']:<17} {h['reason']}")
    if not status["verified"] or "drift" in status:
        print(f"ufctl: {status['verification']}", file=sys.stderr)
    return 1 if "drift" in status else 0


def cmd_review(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.decision == "show":
        return _review_show(settings, args)
    status = queries.workflow_status(settings.redis_url, args.workflow_id)
    if status["phase"] != Phase.REVIEW.value:
        raise CliError(f"workflow {args.workflow_id} is in {status['phase']}, not waiting for review")
    approved = args.decision == "approve"
    if not approved and not args.reason:
        raise CliError("reject needs --reason TEXT")
    token = args.token or os.environ.get("UF_TOKEN") or None
    event = publishing.review_event(args.workflow_id, status["session_id"], approved, args.reviewer, args.reason or "", token,
                                    bootstrap=settings.kafka_bootstrap, expect_content_sha256=args.content_sha256)
    _send(event)
    statement = json.loads(event["attestation"])
    print(f"{args.decision}d {args.workflow_id} (attested content {statement['content']['record_sha256']} "
          f"under policy {statement['policy_version']})")
    return 0


def _review_show(settings: ServiceSettings, args: argparse.Namespace) -> int:
    """What the reviewer decides on, opened for their eyes only (stdout, never a log), and the
    content hash their decision will attest (pin it with `--content-sha256`)."""
    content, record = publishing.reviewed_content(settings.kafka_bootstrap, args.workflow_id)
    try:
        emails = open_blob(RedisKeyStore(settings.redis_url), json.loads(record["output_json"])["emails"])
    except redis.ConnectionError:
        raise CliError("cannot reach the key store (Redis; is the stack up? `make up`)") from None
    if args.json:
        print(json.dumps({"content": content.as_dict(), "emails": emails}))
        return 0
    print(f"content {content.record_sha256}  ({content.topic}[{content.partition}]@{content.offset})")
    for e in emails:
        print(f"--- to {e['recipient']}  subject: {e['subject']}\n{e['body']}")
    return 0


def cmd_audit_show(args: argparse.Namespace) -> int:
    s = AuditSettings()
    timeline = queries.audit_timeline(s.es_url, s.es_index, args.workflow_id)
    if args.json:
        print(json.dumps(timeline))
    else:
        for e in timeline:
            print(f"{_ts(e['occurred_at'])}  {e['producer']['service']:<12} {e['event_type']:<20} {e['summary']}")
    return 0


def cmd_session(args: argparse.Namespace) -> int:
    session_id = args.session or f"sess-{int(time.time() * 1000)}"
    _send(publishing.session_event(args.user, session_id, args.ttl_hours))
    print(session_id)
    return 0


def cmd_consent(args: argparse.Namespace) -> int:
    _send(*[publishing.consent_event(s, args.purpose, args.action == "grant") for s in args.subject])
    print(f"consent {args.action}ed for {len(args.subject)} subject(s)")
    return 0


def cmd_gdpr_erase(args: argparse.Namespace) -> int:
    """Crypto-shredding, recorded before it takes effect: read which key the subject holds,
    record `SubjectErased` naming it (Kafka unreachable -> refuse, nothing deleted), then delete
    exactly that key. A crash between the two is finished by the audit service, which applies
    every recorded erasure and issues the signed `ErasureReceipt`."""
    keys = RedisKeyStore(_settings().redis_url)
    try:
        held = keys.get(args.subject)
    except redis.ConnectionError:
        raise CliError("cannot reach the key store (Redis; is the stack up? `make up`); nothing erased") from None
    key_id = held[0] if held else ""
    try:
        _send(publishing.erasure_event(args.subject, "request", args.operator, key_id))
    except CliError as exc:
        raise CliError(f"erasure refused, nothing deleted: {exc}") from None
    try:
        if key_id:
            keys.delete_if(args.subject, key_id)
    except redis.ConnectionError:
        raise CliError("erasure recorded; the key store did not answer - the audit service deletes the key "
                       "when it applies the recorded erasure") from None
    print(f"erased {args.subject}" + (f" (key {key_id})" if key_id else " (no key was held; erasure recorded)"))
    return 0


def _ts(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ufctl", description="Universal Framework command line")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("publish", help="publish a workflow request from a JSON file; prints its id")
    s.add_argument("file")
    s.set_defaults(func=cmd_publish)

    s = sub.add_parser("status", help="current phase and history of a workflow")
    s.add_argument("workflow_id")
    s.add_argument("--json", action="store_true")
    s.add_argument("--wait", type=float, default=0.0, help="wait up to N seconds for a terminal phase")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("review", help="show, approve or reject a workflow waiting in REVIEW (decisions are signed attestations)")
    s.add_argument("decision", choices=["show", "approve", "reject"])
    s.add_argument("workflow_id")
    s.add_argument("--reason", default="")
    s.add_argument("--reviewer", default="cli-reviewer", help="with no token: who the local identity-provider stand-in issues one for")
    s.add_argument("--token", help="the reviewer's bearer token (or UF_TOKEN); verified here, never written to the log")
    s.add_argument("--content-sha256", help="refuse unless the content under review is the one `review show` printed")
    s.add_argument("--json", action="store_true", help="show: as JSON")
    s.set_defaults(func=cmd_review)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(dest="audit_command", required=True)
    s = audit.add_parser("show", help="timeline of a workflow from OpenSearch")
    s.add_argument("workflow_id")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_audit_show)
    add_audit_commands(audit)

    session = sub.add_parser("session", help="sessions (normally from your identity provider)").add_subparsers(dest="session_command", required=True)
    s = session.add_parser("start", help="open a session for a user; prints its id")
    s.add_argument("--user", required=True)
    s.add_argument("--session")
    s.add_argument("--ttl-hours", type=float, default=8.0)
    s.set_defaults(func=cmd_session)

    s = sub.add_parser("consent", help="record consent granted/withdrawn by data subjects")
    s.add_argument("action", choices=["grant", "withdraw"])
    s.add_argument("--subject", action="append", required=True, help="repeatable")
    s.add_argument("--purpose", required=True)
    s.set_defaults(func=cmd_consent)

    pii = sub.add_parser("pii", help="PII detection").add_subparsers(dest="pii_command", required=True)
    add_pii_scan_arguments(pii.add_parser("scan", help="scan a JSONL file of {id, text}"))
    gdpr = sub.add_parser("gdpr", help="data-subject rights").add_subparsers(dest="gdpr_command", required=True)
    s = gdpr.add_parser("erase", help="erase a data subject (crypto-shredding)")
    s.add_argument("subject")
    s.add_argument("--operator", default="ufctl")
    s.set_defaults(func=cmd_gdpr_erase)
    add_policy_commands(sub, _send)
    add_dr_commands(sub)
    add_rollout_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # the CLI is a Kafka principal of its own (infra/topics.yaml `principals:`); a publisher with its
    # own certificate sets UF_KAFKA_PRINCIPAL
    kafka_auth.configure_kafka_identity(os.environ.get("UF_KAFKA_PRINCIPAL") or "ufctl")
    try:
        return args.func(args)
    except (CliError, kafka_auth.KafkaAuthError, redis_auth.RedisAuthError, search_auth.SearchAuthError) as exc:
        print(f"ufctl: {exc}", file=sys.stderr)
        return 1
    except SearchAuthorizationError:
        print("ufctl: the search engine refused this command for this identity (the CLI reads the audit trail; "
              "`audit replay` and `dr restore` need the audit service's certificate, docs/security.md)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except KafkaConnectionError:
        print(f"ufctl: cannot reach Kafka at {_settings().kafka_bootstrap} (is the stack up? `make up`)", file=sys.stderr)
        return 1
    except UnicodeDecodeError:
        print("ufctl: an input file is not UTF-8 text (check the file you passed)", file=sys.stderr)
        return 1
    except OSError as exc:  # unreadable/unwritable paths, refused connections not mapped above
        print(f"ufctl: {exc.strerror or exc.__class__.__name__}{f': {exc.filename}' if exc.filename else ''}", file=sys.stderr)
        return 1
    except Exception as exc:  # never a traceback: one line, no values (they may be PII)
        if os.environ.get("UF_DEBUG"):
            raise
        print(f"ufctl: failed ({exc.__class__.__name__}); check the input and that the stack is up "
              "(`make status`); UF_DEBUG=1 shows details", file=sys.stderr)
        return 1
