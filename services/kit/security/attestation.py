"""Review attestations: a reviewer's decision as a signed statement an auditor can check with
nothing but the signer's public key (`python -m uf_verify`, libs/uf-verify, re-implements the
check independently).

The statement is canonical JSON (sorted keys, no whitespace) naming
  * who   - the reviewer's identity from the *verified* token (normalised subject) and its roles;
            never the token itself, nor its hash (the statement is kept forever);
  * what  - the workflow id and the exact content reviewed: the generation result record the
            workflow entered REVIEW with, by position (topic, partition, offset) and by its
            content hash as the audit log attests it (`services.audit.evidence.hashing.
            content_hash`: timestamp, key, value, headers) - the sealed emails, so the statement
            carries no personal data and still pins every byte that was shown;
  * when  - `decided_at`, the decision event's `occurred_at` (ms);
  * which - `approve` or `reject`;
  * under - (statement /2) `policy_version`, the policy in force when the reviewer decided
            (the reviewer ingress reads it from the validator's event-sourced activation). The
            orchestrator acts on an approval only when the validator decides the transition out
            of REVIEW under that same version; uf_verify checks it against the recorded decision.
It is signed (Ed25519, domain-separated from record signatures) by the reviewer ingress's key -
the same key that signs the `ReviewDecided` record carrying it (schema v4: `attestation`,
`attestation_key_id`, `attestation_signature`), so the statement stands alone outside the log
and is bound to the record that put it there."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.kit.security.signing import Signer, TrustStore, signer_service

TYPE = "uf.review-attestation/2"
# Statement types this kit can read, with their signing domain and fields. /1 (no policy version)
# is still *verified* (statements are kept forever) but no longer acted on (`problem_with`).
_V1_FIELDS = frozenset({"type", "workflow_id", "decision", "reviewer_id", "reviewer_roles", "decided_at", "content"})
TYPES: dict[str, tuple[bytes, frozenset[str]]] = {
    "uf.review-attestation/1": (b"uf.review-attestation.v1\x00", _V1_FIELDS),
    TYPE: (b"uf.review-attestation.v2\x00", _V1_FIELDS | {"policy_version"}),
}
DOMAIN, FIELDS = TYPES[TYPE]
CONTENT_FIELDS = frozenset({"topic", "partition", "offset", "record_sha256"})


@dataclass(frozen=True)
class ReviewedContent:
    """The record a reviewer saw: where it is on the log and its content hash (hex)."""

    topic: str
    partition: int
    offset: int
    record_sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset, "record_sha256": self.record_sha256}


def statement(workflow_id: str, approved: bool, reviewer_id: str, reviewer_roles: list[str], decided_at: int,
              content: ReviewedContent, policy_version: str) -> str:
    if not policy_version:
        raise ValueError("a review attestation names the policy version in force")
    return json.dumps({"type": TYPE, "workflow_id": workflow_id, "decision": "approve" if approved else "reject",
                       "reviewer_id": reviewer_id, "reviewer_roles": sorted(reviewer_roles), "decided_at": int(decided_at),
                       "content": content.as_dict(), "policy_version": policy_version}, sort_keys=True, separators=(",", ":"))


def _domain(text: str) -> bytes:
    """The signing domain of the statement's own type (v2's differs from v1's, so a v1
    signature can never be replayed onto a v2 statement or back)."""
    try:
        kind = json.loads(text).get("type")
    except (ValueError, AttributeError):
        kind = None
    return TYPES.get(kind, (DOMAIN, FIELDS))[0] if isinstance(kind, str) else DOMAIN


def sign(signer: Signer, text: str) -> tuple[str, str]:
    """(key id, signature hex) over the domain-separated statement."""
    return signer.key_id, signer.sign(_domain(text) + text.encode()).hex()


def verify(pub: Ed25519PublicKey, text: str, signature_hex: str) -> bool:
    try:
        pub.verify(bytes.fromhex(signature_hex), _domain(text) + text.encode())
        return True
    except (InvalidSignature, ValueError):
        return False


def parse(text: str) -> dict[str, Any]:
    """The statement's fields; ValueError when it is not a canonical statement of a known type."""
    doc = json.loads(text)
    kind = doc.get("type") if isinstance(doc, dict) else None
    known = TYPES.get(kind) if isinstance(kind, str) else None
    if known is None or set(doc) != known[1] \
            or not isinstance(doc["content"], dict) or set(doc["content"]) != CONTENT_FIELDS:
        raise ValueError("not a review attestation")
    if json.dumps(doc, sort_keys=True, separators=(",", ":")) != text:
        raise ValueError("review attestation not in canonical form")
    out: dict[str, Any] = doc
    return out


def matches_record(doc: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """Where a parsed statement disagrees with the ReviewDecided record carrying it."""
    env = record["envelope"]
    wrong = []
    if doc["workflow_id"] != env["workflow_id"]:
        wrong.append("workflow_id")
    if doc["decision"] != ("approve" if record["approved"] else "reject"):
        wrong.append("decision")
    if doc["reviewer_id"] != record["reviewer_id"]:
        wrong.append("reviewer_id")
    if doc["reviewer_roles"] != sorted(record.get("reviewer_roles") or []):
        wrong.append("reviewer_roles")
    if doc["decided_at"] != env["occurred_at"]:
        wrong.append("decided_at")
    return wrong


def problem_with(record: dict[str, Any], signer: str, trust: TrustStore, expected: dict[str, Any] | None) -> str | None:
    """Why a human `ReviewDecided` cannot be acted on (None: it can): its attestation must be
    present, canonical, signed by a key of the service that signed the record (`signer`, the
    service admission verified; a key the trust store holds - uf_verify pins the exact key id),
    agree with the record, and - when the orchestrator knows it (`expected`, recorded when it
    accepted the generation result) - name exactly the content the workflow is in REVIEW with.
    It must be a current (/2) statement: one without a policy version is not acted on. Whether
    its policy version is the one that decides the transition is checked once the validator has
    decided (`policy_problem`). Reasons carry no statement content beyond field names."""
    text = record.get("attestation") or ""
    if not text:
        return "no review attestation"
    try:
        doc = parse(text)
    except ValueError:
        return "review attestation malformed"
    key_id = record.get("attestation_key_id") or ""
    if signer_service(key_id) != signer:
        return "review attestation not signed by the service that signed the decision"
    pub = trust.get(key_id)
    if pub is None or not verify(pub, text, record.get("attestation_signature") or ""):
        return "review attestation signature invalid"
    wrong = matches_record(doc, record)
    if wrong:
        return f"review attestation disagrees with the decision on {', '.join(wrong)}"
    if expected is not None and doc["content"] != expected:
        return "review attestation names other content than the workflow is in REVIEW with"
    if doc["type"] != TYPE:
        return f"review attestation is a {doc['type']} statement (names no policy version): review again"
    return None


def policy_problem(attested_version: str, decided_version: str) -> str | None:
    """Why an approval attested under `attested_version` cannot carry a transition the validator
    decided under `decided_version` (None: it can). A reviewer approves under the policy in force
    when they look; if another is in force when the transition is decided, they review again."""
    if attested_version == decided_version:
        return None
    return (f"the approval was attested under policy {attested_version or '(none)'} but policy "
            f"{decided_version or '(unknown)'} decided the transition: review again")
