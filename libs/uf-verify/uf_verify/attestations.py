"""Review attestations, checked offline (an independent implementation of
services/kit/security/attestation.py).

A human review decision (`ReviewDecided` v4+) carries a statement - canonical JSON of who
(reviewer identity and roles from the verified token), which decision, when, and the exact
content reviewed (the generation result record by position and log content hash) - signed
with the reviewer ingress's key over `uf.review-attestation.v1\\0 || statement`. Checked here:
the statement is canonical and complete; its signature holds under a key in the bundle, the
same key that signed the record carrying it; it agrees with that record (workflow, decision,
reviewer, roles, time); the content it names is a record in the bundle with that content hash,
a successful GENERATION result, and the one the workflow entered REVIEW with. Anything else
is named: a forged or altered attestation fails the bundle.

Automatic proposals (`policy:` reviewers, signed by the orchestrator) carry none; decisions
recorded before attestations existed (schema v3 and older) are listed as unattested."""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from uf_verify.hashes import content_hash

TYPE = "uf.review-attestation/1"
DOMAIN = b"uf.review-attestation.v1\x00"
FIELDS = {"type", "workflow_id", "decision", "reviewer_id", "reviewer_roles", "decided_at", "content"}
CONTENT_FIELDS = {"topic", "partition", "offset", "record_sha256"}
REVIEW_TOPIC = "uf.review.decisions"
AUTOMATIC = "policy:"

Record = tuple[dict[str, Any], str, Any, str]  # (bundle record, topic, decoded value, signer key id)


def _b64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def record_content_hash(r: dict[str, Any]) -> str:
    headers = [(str(n), _b64(v)) for n, v in r["headers"]]
    return content_hash(r["timestamp"], _b64(r["key"]), _b64(r["value"]), headers).hex()


def _parse(text: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict) or set(doc) != FIELDS or doc.get("type") != TYPE \
            or not isinstance(doc["content"], dict) or set(doc["content"]) != CONTENT_FIELDS:
        return None
    if json.dumps(doc, sort_keys=True, separators=(",", ":")) != text:
        return None
    return doc


def _signature_ok(pub: Ed25519PublicKey, text: str, signature_hex: str) -> bool:
    try:
        pub.verify(bytes.fromhex(signature_hex), DOMAIN + text.encode())
        return True
    except (InvalidSignature, ValueError):
        return False


def _disagreements(doc: dict[str, Any], d: dict[str, Any]) -> list[str]:
    env = d["envelope"]
    wrong = []
    if doc["workflow_id"] != env["workflow_id"]:
        wrong.append("workflow_id")
    if doc["decision"] != ("approve" if d["approved"] else "reject"):
        wrong.append("decision")
    if doc["reviewer_id"] != d["reviewer_id"]:
        wrong.append("reviewer_id")
    if doc["reviewer_roles"] != sorted(d.get("reviewer_roles") or []):
        wrong.append("reviewer_roles")
    if doc["decided_at"] != env["occurred_at"]:
        wrong.append("decided_at")
    return wrong


def _entered_review_with(records: list[Record]) -> str | None:
    """causation_id of the phase change into REVIEW (the generation result it was caused by);
    a workflow enters REVIEW once (its id is stable per phase)."""
    found = None
    for _r, topic, d, _ in records:
        if topic == "uf.workflow.events" and d["envelope"]["event_type"] == "WorkflowPhaseChanged" and d["to_phase"] == "REVIEW":
            found = d["envelope"]["causation_id"]
    return found


def check_reviews(workflow_id: str, records: list[Record], keys: dict[str, Ed25519PublicKey],
                  fail: Callable[[str], None], used_keys: set[str]) -> list[str]:
    """Check every review decision among `records`; return one report line per decision. Then
    what was sent follows what was approved: the phase change into DELIVERY must be caused by
    an approval in the bundle that holds (attested, automatic, or recorded before attestations),
    and every delivery request by that phase change."""
    lines, held = _check_decisions(workflow_id, records, keys, fail, used_keys)
    _check_delivery_follows_approval(records, held, fail)
    return lines


def _check_delivery_follows_approval(records: list[Record], held: set[str], fail: Callable[[str], None]) -> None:
    entered = [(r, d) for r, topic, d, _ in records if topic == "uf.workflow.events"
               and d["envelope"]["event_type"] == "WorkflowPhaseChanged" and d["to_phase"] == "DELIVERY"]
    for r, d in entered:
        if d["envelope"]["causation_id"] not in held:
            fail(f"phase change @{r['offset']} -> DELIVERY: not caused by an approval in the bundle that holds "
                 "(what was sent was not shown to be approved)")
    changes = {d["envelope"]["event_id"] for _r, d in entered}
    for r, topic, d, _ in records:
        if topic == "uf.delivery.requests" and d["envelope"]["causation_id"] not in changes:
            fail(f"delivery request {topic}[{r['partition']}]@{r['offset']}: not caused by the phase change into DELIVERY")


def _check_decisions(workflow_id: str, records: list[Record], keys: dict[str, Ed25519PublicKey],
                     fail: Callable[[str], None], used_keys: set[str]) -> tuple[list[str], set[str]]:
    """(report lines, event ids of approvals that hold)."""
    by_pos = {(r["topic"], r["partition"], r["offset"]): (r, d) for r, _t, d, _s in records}
    lines = []
    held: set[str] = set()
    for r, topic, d, signer in records:
        if topic != REVIEW_TOPIC or d["envelope"]["event_type"] != "ReviewDecided":
            continue
        where = f"review decision {topic}[{r['partition']}]@{r['offset']}"
        decision = "approve" if d["approved"] else "reject"
        text = d.get("attestation", "")
        if not text:
            if d["reviewer_id"].startswith(AUTOMATIC) and signer.startswith("orchestrator-"):
                lines.append(f"review     {decision} by {d['reviewer_id']} (automatic proposal; the policy decided it)")
                if d["approved"]:
                    held.add(d["envelope"]["event_id"])
            elif "attestation" not in d:
                if d["approved"]:
                    held.add(d["envelope"]["event_id"])
                lines.append(f"review     {decision} by {d['reviewer_id']}: UNATTESTED (recorded before review attestations, "
                             f"schema v{d['envelope']['schema_version']})")
            else:
                fail(f"{where}: a human decision without its attestation")
            continue
        doc = _parse(text)
        if doc is None:
            fail(f"{where}: attestation malformed (not a canonical {TYPE} statement)")
            continue
        key_id = d.get("attestation_key_id", "")
        pub = keys.get(key_id)
        if pub is None:
            fail(f"{where}: attestation signed by {key_id or '(no key id)'}, a key not in the bundle")
            continue
        if not _signature_ok(pub, text, d.get("attestation_signature", "")):
            fail(f"{where}: attestation signature invalid (forged or altered statement)")
            continue
        used_keys.add(key_id)
        if key_id != signer:
            fail(f"{where}: attested by {key_id} but the record was signed by {signer or 'nobody'}")
        wrong = _disagreements(doc, d)
        if doc["workflow_id"] != workflow_id:
            wrong.append("workflow_id (not this bundle's workflow)")
        if wrong:
            fail(f"{where}: attestation disagrees with its record on {', '.join(sorted(set(wrong)))}")
        c = doc["content"]
        ref = f"{c['topic']}[{c['partition']}]@{c['offset']}"
        target = by_pos.get((c["topic"], c["partition"], c["offset"]))
        if target is None:
            fail(f"{where}: attests content {ref}, which is not in the bundle")
            continue
        if record_content_hash(target[0]) != c["record_sha256"]:
            fail(f"{where}: attests content hash {c['record_sha256'][:16]}... but {ref} hashes otherwise (not what was reviewed)")
            continue
        td = target[1]
        if td["envelope"]["event_type"] != "AgentTaskCompleted" or td.get("phase") != "GENERATION" or not td.get("ok"):
            fail(f"{where}: attests {ref}, which is not a successful generation result")
            continue
        cause = _entered_review_with(records)
        if cause is not None and cause != td["envelope"]["event_id"]:
            fail(f"{where}: attests {ref}, not the content the workflow entered REVIEW with")
            continue
        if not wrong and key_id == signer and d["approved"]:
            held.add(d["envelope"]["event_id"])
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(doc["decided_at"] / 1000))
        roles = ",".join(doc["reviewer_roles"]) or "no roles"
        lines.append(f"review     {doc['decision']} by {doc['reviewer_id']} ({roles}) at {when} of content "
                     f"{c['record_sha256'][:16]} ({ref}), attested by {key_id}")
    return lines, held
