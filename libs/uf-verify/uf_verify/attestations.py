"""Review attestations, checked offline (an independent implementation of
services/kit/security/attestation.py), and what was delivered against what was approved.

A human review decision (`ReviewDecided` v4+) carries a statement - canonical JSON of who
(reviewer identity and roles from the verified token), which decision, when, the exact content
reviewed (the generation result record by position and log content hash) and (statement /2)
the policy version in force - signed with the reviewer ingress's key over
`uf.review-attestation.v<N>\\0 || statement`. Checked here: the statement is canonical and
complete; its signature holds under a key in the bundle, the same key that signed the record
carrying it; it agrees with that record (workflow, decision, reviewer, roles, time); the content
it names is a record in the bundle with that content hash, a successful GENERATION result, and
the one the workflow entered REVIEW with; for an approval that moved the workflow on, the
validation decision of that transition was made under the attested policy version. Anything
else is named: a forged or altered attestation fails the bundle.

Then delivery: every delivery request (v2) names the approval it was sent under and every
delivery confirmation (v2) the content hash delivery checked the email against; both must be
the content of the approval that holds.

Automatic proposals (`policy:` reviewers, signed by the orchestrator) carry none; decisions
recorded before attestations existed (schema v3 and older) are listed as unattested, /1
statements as naming no policy, v1 delivery records as not naming the approved content."""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from uf_verify.hashes import content_hash

_V1_FIELDS = {"type", "workflow_id", "decision", "reviewer_id", "reviewer_roles", "decided_at", "content"}
TYPES = {  # statement type -> (signing domain, fields)
    "uf.review-attestation/1": (b"uf.review-attestation.v1\x00", _V1_FIELDS),
    "uf.review-attestation/2": (b"uf.review-attestation.v2\x00", _V1_FIELDS | {"policy_version"}),
}
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
    kind = doc.get("type") if isinstance(doc, dict) else None
    known = TYPES.get(kind) if isinstance(kind, str) else None
    if known is None or set(doc) != known[1] \
            or not isinstance(doc["content"], dict) or set(doc["content"]) != CONTENT_FIELDS:
        return None
    if json.dumps(doc, sort_keys=True, separators=(",", ":")) != text:
        return None
    out: dict[str, Any] = doc
    return out


def _signature_ok(pub: Ed25519PublicKey, doc: dict[str, Any], text: str, signature_hex: str) -> bool:
    try:
        pub.verify(bytes.fromhex(signature_hex), TYPES[doc["type"]][0] + text.encode())
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


@dataclass
class Approval:
    """An approval that holds: the content it approved (content hash; None when it cannot be
    told from the bundle) and, for an attested one, its statement and policy version."""

    content_sha256: str | None
    statement: str = ""
    policy_version: str | None = None


def check_reviews(workflow_id: str, records: list[Record], keys: dict[str, Ed25519PublicKey],
                  fail: Callable[[str], None], used_keys: set[str]) -> list[str]:
    """Check every review decision among `records`; return one report line per decision. Then
    what was sent follows what was approved: the phase change into DELIVERY must be caused by
    an approval in the bundle that holds (attested, automatic, or recorded before attestations),
    decided under the attested policy, and every delivery request and confirmation must name
    the content that approval approved."""
    lines, held = _check_decisions(workflow_id, records, keys, fail, used_keys)
    lines += _check_delivery_follows_approval(records, held, fail)
    return lines


def _check_delivery_follows_approval(records: list[Record], held: dict[str, Approval], fail: Callable[[str], None]) -> list[str]:
    entered = [(r, d) for r, topic, d, _ in records if topic == "uf.workflow.events"
               and d["envelope"]["event_type"] == "WorkflowPhaseChanged" and d["to_phase"] == "DELIVERY"]
    decisions = {d["decision_id"]: d for _r, topic, d, _ in records
                 if topic == "uf.validation.decisions" and d["envelope"]["event_type"] == "ValidationDecided"}
    approval: Approval | None = None
    for r, d in entered:
        approval = held.get(d["envelope"]["causation_id"])
        if approval is None:
            fail(f"phase change @{r['offset']} -> DELIVERY: not caused by an approval in the bundle that holds "
                 "(what was sent was not shown to be approved)")
            continue
        if approval.policy_version is not None:
            decided = decisions.get(d.get("decision_id") or "")
            if decided is None:
                fail(f"phase change @{r['offset']} -> DELIVERY: the validation decision that allowed it is not in the bundle")
            elif decided["policy_version"] != approval.policy_version:
                fail(f"phase change @{r['offset']} -> DELIVERY: decided under policy {decided['policy_version']}, "
                     f"but the approval was attested under policy {approval.policy_version}")
    changes = {d["envelope"]["event_id"] for _r, d in entered}
    lines: list[str] = []
    requests = sent = unbound = 0
    for r, topic, d, _ in records:
        where = f"{topic}[{r['partition']}]@{r['offset']}"
        if topic == "uf.delivery.requests":
            requests += 1
            if d["envelope"]["causation_id"] not in changes:
                fail(f"delivery request {where}: not caused by the phase change into DELIVERY")
            if "approved_content" not in d:
                unbound += 1
                continue
            named = (d.get("approved_content") or {}).get("record_sha256")
            if approval is not None and approval.content_sha256 is not None and named != approval.content_sha256:
                fail(f"delivery request {where}: names content {str(named)[:16]}..., not the approved "
                     f"{approval.content_sha256[:16]}... (what was to be sent is not what was approved)")
            if approval is not None and d.get("attestation", "") != approval.statement:
                fail(f"delivery request {where}: carries another review attestation than the approval that holds")
        elif topic == "uf.delivery.outcomes" and d.get("status") == "SENT":
            sent += 1
            if "approved_content_sha256" not in d:
                unbound += 1
                continue
            if approval is None or approval.content_sha256 is None:
                continue  # failed above (no approval), or an approval whose content the bundle cannot tell
            if d["approved_content_sha256"] != approval.content_sha256:
                fail(f"delivery confirmation {where}: sent content checked against "
                     f"{d['approved_content_sha256'][:16] or '(nothing)'}..., not the approved "
                     f"{approval.content_sha256[:16]}... (what was delivered is not what was approved)")
    if requests or sent:
        bound = f"of the approved content {approval.content_sha256[:16]}" if approval and approval.content_sha256 else ""
        lines.append(f"delivery   {requests} request(s), {sent} sent" + (f", each checked {bound}" if bound else "")
                     + (f"; {unbound} record(s) from before deliveries named the approved content" if unbound else ""))
    return lines


def _check_decisions(workflow_id: str, records: list[Record], keys: dict[str, Ed25519PublicKey],
                     fail: Callable[[str], None], used_keys: set[str]) -> tuple[list[str], dict[str, Approval]]:
    """(report lines, approvals that hold by event id)."""
    by_pos = {(r["topic"], r["partition"], r["offset"]): (r, d) for r, _t, d, _s in records}
    by_id = {d["envelope"]["event_id"]: r for r, _t, d, _s in records}
    review_cause = _entered_review_with(records)
    reviewed = by_id.get(review_cause or "")
    reviewed_sha = record_content_hash(reviewed) if reviewed is not None else None
    lines = []
    held: dict[str, Approval] = {}
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
                    held[d["envelope"]["event_id"]] = Approval(reviewed_sha)
            elif "attestation" not in d:
                if d["approved"]:
                    held[d["envelope"]["event_id"]] = Approval(reviewed_sha)
                lines.append(f"review     {decision} by {d['reviewer_id']}: UNATTESTED (recorded before review attestations, "
                             f"schema v{d['envelope']['schema_version']})")
            else:
                fail(f"{where}: a human decision without its attestation")
            continue
        doc = _parse(text)
        if doc is None:
            fail(f"{where}: attestation malformed (not a canonical review attestation)")
            continue
        key_id = d.get("attestation_key_id", "")
        pub = keys.get(key_id)
        if pub is None:
            fail(f"{where}: attestation signed by {key_id or '(no key id)'}, a key not in the bundle")
            continue
        if not _signature_ok(pub, doc, text, d.get("attestation_signature", "")):
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
        if review_cause is not None and review_cause != td["envelope"]["event_id"]:
            fail(f"{where}: attests {ref}, not the content the workflow entered REVIEW with")
            continue
        if not wrong and key_id == signer and d["approved"]:
            held[d["envelope"]["event_id"]] = Approval(c["record_sha256"], text, doc.get("policy_version"))
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(doc["decided_at"] / 1000))
        roles = ",".join(doc["reviewer_roles"]) or "no roles"
        policy = f"under policy {doc['policy_version']}" if "policy_version" in doc else "(statement /1: names no policy)"
        lines.append(f"review     {doc['decision']} by {doc['reviewer_id']} ({roles}) at {when} of content "
                     f"{c['record_sha256'][:16]} ({ref}) {policy}, attested by {key_id}")
    return lines, held
