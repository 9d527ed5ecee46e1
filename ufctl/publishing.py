"""Turning user input into events on Kafka: workflow requests, sessions, consent, reviews.

ufctl is a registered publisher (ADR 0006): every record it writes is signed with the
publisher key `UF_PUBLISHER_ID` (default `ufctl`; seed from `UF_SIGNING_KEY` or
`var/keys/<id>.ed25519`), whose public key must be in the services' trusted-keys directory and
which `infra/topics.yaml` lists as a producer of the inbox topics. Unsigned records are
dead-lettered by every consumer."""
from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import redis
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from services import __version__
from services.audit.tools import logcheck
from services.kit.contracts import codec, topics
from services.kit.contracts.events import Origin, make_event, now_ms
from services.kit.contracts.keys import POLICY_ACTIVE
from services.kit.messaging.bus import producer_config, publish
from services.kit.runtime.config import ServiceSettings
from services.kit.security import attestation, identity, redis_auth, sealing
from services.kit.security import jwt_tokens as tokens
from services.kit.security.signing import SigningError, configure_signing, default_signer
from services.kit.security.subject_keys import DEFAULT_RETENTION_S, KeyStore
from ufctl.errors import CliError

CLI = Origin("ufctl", __version__, "cli")
REQUEST_FIELDS = ("session_id", "requester_id", "purpose", "campaign", "contacts")


def load_request_file(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{path}: no such file")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise CliError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(doc, dict):
        raise CliError(f"{path}: expected a JSON object")
    missing = [f for f in REQUEST_FIELDS if f not in doc]
    if missing:
        raise CliError(f"{path}: missing field(s) {', '.join(missing)}")
    return doc


def local_token(user_id: str, roles: list[str] | None = None) -> str | None:
    """A token from the local identity-provider key (var/keys), if this machine has one."""
    return tokens.issue(user_id, roles=roles) if tokens.load_key() is not None else None


def request_event(doc: dict[str, Any], keys: KeyStore | None = None) -> dict[str, Any]:
    """The request event; with `keys`, contacts' PII is sealed under each subject's key (the
    inbox then holds no clear PII), keys created with the purpose's retention."""
    workflow_id = doc.get("workflow_id") or f"wf-{uuid.uuid4()}"
    token = doc.get("auth_token") or local_token(doc["requester_id"])
    event = make_event(
        "WorkflowRequested", origin=CLI, workflow_id=workflow_id, session_id=doc["session_id"],
        correlation_id=workflow_id, requester_id=doc["requester_id"], auth_token=token,
        purpose=doc["purpose"], campaign=doc["campaign"], contacts=doc["contacts"],
        auto_approve=bool(doc.get("auto_approve", False)))
    try:
        codec.encode(event)  # fail here, with the field names, rather than at the broker
    except codec.CodecError as exc:
        raise CliError(f"request does not match the WorkflowRequested schema: {exc}") from None
    if keys is not None:
        try:
            retention = DEFAULT_RETENTION_S.get(doc["purpose"])
            # free text may carry personal data too (an officer's phone number): sealed under the
            # workflow's key at the edge, like contacts under theirs (opened only where used)
            event["campaign"] = sealing.seal_campaign(keys, workflow_id, event["campaign"], retention)
            event = sealing.seal_record(keys, event, retention_s=retention)
        except redis.ConnectionError:
            raise CliError("cannot reach the key store (Redis; is the stack up? `make up`)") from None
    return event


def erasure_event(subject_id: str, reason: str, operator: str, key_id: str = "") -> dict[str, Any]:
    return make_event("SubjectErased", origin=CLI, workflow_id=subject_id, session_id="", correlation_id=subject_id,
                      subject_id=subject_id, reason=reason, erased_by=operator, key_id=key_id)


def session_event(user_id: str, session_id: str, ttl_hours: float) -> dict[str, Any]:
    return make_event("SessionStarted", origin=CLI, workflow_id=session_id, session_id=session_id,
                      correlation_id=session_id, user_id=user_id, expires_at=now_ms() + int(ttl_hours * 3600_000))


def consent_event(subject_id: str, purpose: str, granted: bool) -> dict[str, Any]:
    return make_event("ConsentChanged", origin=CLI, workflow_id=subject_id, session_id="",
                      correlation_id=subject_id, subject_id=subject_id, purpose=purpose, granted=granted)


REVIEWER_ROLE = "reviewer"


def review_event(workflow_id: str, session_id: str, approved: bool, reviewer: str, reason: str,
                 token: str | None = None, *, bootstrap: str | None = None,
                 expect_content_sha256: str | None = None, policy_version: str | None = None) -> dict[str, Any]:
    """The reviewer ingress (ADR 0006): the bearer token is verified here, where it enters, and
    the decision records the verified identity (normalised subject), its roles, the token's
    SHA-256 and expiry - never the token (the review topic is kept forever). Without `token`
    the local identity-provider stand-in issues one for `reviewer` with the reviewer role.

    The decision carries its review attestation (kit.security.attestation), signed with this
    publisher's key: the content it decides on is read from the signed log (the generation
    result the workflow entered REVIEW with), never taken from a projection. With
    `expect_content_sha256` (what `ufctl review show` printed) a decision on content that is not
    exactly what the reviewer saw is refused. The statement names the policy version in force
    (`policy_in_force`, or `policy_version`): the orchestrator acts on it only if that version
    decides the transition out of REVIEW."""
    token = token or local_token(reviewer, roles=[REVIEWER_ROLE])
    key = tokens.load_key()
    if not token or key is None:
        raise CliError("no reviewer token and no local identity-provider key (pass --token or set UF_AUTH_KEY_FILE)")
    claims, problem = tokens.TokenVerifier(key).verify(token)
    if problem:
        raise CliError(f"reviewer token refused: {problem}")
    content = reviewed_content(bootstrap or ServiceSettings().kafka_bootstrap, workflow_id)[0]
    if expect_content_sha256 is not None and expect_content_sha256.lower() != content.record_sha256:
        raise CliError(f"the content under review is {content.record_sha256}, not the {expect_content_sha256} you "
                       "reviewed: look again (`ufctl review show`)")
    raw_roles = claims.get("roles") or []
    roles = [str(r) for r in raw_roles] if isinstance(raw_roles, list) else []
    reviewer_id = identity.normalise(str(claims["sub"]))
    event = make_event("ReviewDecided", origin=CLI, workflow_id=workflow_id, session_id=session_id,
                       correlation_id=workflow_id, approved=approved, reviewer_id=reviewer_id,
                       reason=reason, reviewer_roles=roles,
                       token_sha256=identity.token_hash(token), token_expires_at=int(claims["exp"]) * 1000)
    text = attestation.statement(workflow_id, approved, reviewer_id, roles, event["envelope"]["occurred_at"], content,
                                 policy_version or policy_in_force())
    configure_publisher()
    event["attestation"] = text
    event["attestation_key_id"], event["attestation_signature"] = attestation.sign(default_signer(), text)
    return event


def policy_in_force() -> str:
    """The policy version the validator decides with now, found the validator's way
    (services/validator/policy/manager.py): the event-sourced activation projected into Redis,
    else its configured default, else the newest valid file. CliError when neither is known."""
    from services.validator.config import ValidatorSettings
    from services.validator.policy.loader import PolicyLibrary

    try:
        active = redis.Redis.from_url(ServiceSettings().redis_url, socket_timeout=5,
                                      **redis_auth.credentials()).get(POLICY_ACTIVE)
    except redis.ConnectionError:
        raise CliError("cannot reach Redis to read the policy in force (is the stack up? `make up`)") from None
    if active:
        return active.decode() if isinstance(active, bytes) else str(active)
    settings = ValidatorSettings()
    if settings.policy_default:
        return settings.policy_default
    library = PolicyLibrary(Path(settings.policy_dir))
    library.refresh()
    if not library.versions:
        raise CliError(f"no valid policy in {settings.policy_dir}: cannot name the policy in force")
    return sorted(library.versions)[-1]


def reviewed_content(bootstrap: str, workflow_id: str) -> tuple[attestation.ReviewedContent, dict[str, Any]]:
    """The generation result under review, from the signed log (CliError when not in REVIEW)."""
    try:
        found = asyncio.run(logcheck.reviewed_content(bootstrap, workflow_id))
    except logcheck.NotVerified as exc:
        raise CliError(f"cannot read what is under review from the signed log: {exc}") from None
    if found is None:
        raise CliError(f"workflow {workflow_id} is not waiting for review according to the signed log")
    return found


def policy_event(version: str, sha256: str, operator: str, rollback: bool) -> dict[str, Any]:
    return make_event("PolicyActivated", origin=CLI, workflow_id="policy", session_id="", correlation_id="policy",
                      version=version, sha256=sha256, activated_by=operator, rollback=rollback)


def configure_publisher() -> None:
    """Sign as the registered publisher (see the module docstring)."""
    try:
        configure_signing(os.environ.get("UF_PUBLISHER_ID") or "ufctl")
    except (SigningError, OSError) as exc:
        raise CliError(f"cannot load the publisher signing key ({exc}; set UF_SIGNING_KEY or check var/keys/)") from None


async def send_events(bootstrap: str, events: list[tuple[str, dict[str, Any]]]) -> None:
    configure_publisher()
    producer = AIOKafkaProducer(**producer_config(bootstrap, request_timeout_ms=10000))
    try:
        await producer.start()
    except KafkaConnectionError:
        await producer.stop()
        raise CliError(f"cannot reach Kafka at {bootstrap} (is the stack up? `make up`)") from None
    try:
        for topic, event in events:
            await publish(producer, topic, event)
    except KafkaError as exc:
        raise CliError(f"Kafka refused the event: {exc.__class__.__name__}") from None
    finally:
        await producer.stop()


TOPIC_OF = {"WorkflowRequested": topics.REQUESTS, "SessionStarted": topics.SESSIONS,
            "ConsentChanged": topics.CONSENT, "ReviewDecided": topics.REVIEW_DECISIONS,
            "PolicyActivated": topics.POLICY, "SubjectErased": topics.GDPR,
            "PiiScanRequested": topics.PII_SCAN_REQUESTS}
