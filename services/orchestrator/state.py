"""The workflow's state: what the orchestrator knows about one workflow between two events.

It is the value of the compacted changelog topic (`uf.orchestrator.state`), so it has a JSON
round trip, and `from_json` reads every changelog record ever written (older records simply
lack newer fields, which then take their defaults). It holds contacts only sealed under each
subject's key, its campaign's free text sealed under the workflow's key, and never a bearer
token: the changelog is compacted and kept, so only the token's SHA-256 is (the token itself is
verified where it enters and passed on only within the handler that received it)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from services.kit.contracts.phases import TERMINAL, Phase, parse_phase


@dataclass
class HistoryEntry:
    phase: Phase
    at: int
    reason: str
    decision_id: str | None = None


@dataclass
class Review:
    approved: bool
    reviewer_id: str  # the identity provider's subject, normalised (kit.security.identity)
    event_id: str
    roles: list[str] = field(default_factory=list)
    token_sha256: str = ""
    # A human approval's signed statement (kit.security.attestation), carried into every delivery
    # request so delivery can check what it sends against it; "" for automatic approvals and for
    # state written before approvals were bound. `policy_version`: the version it attests.
    attestation: str = ""
    attestation_key_id: str = ""
    attestation_signature: str = ""
    policy_version: str = ""


@dataclass
class Request:
    campaign: dict[str, Any]
    contacts: str  # sealed blob of the contact list (per-subject keys)


@dataclass
class Parking:
    """A transition that could not be decided for a transient reason (validator down or busy,
    a rule's dependency failing, the audit trail behind): the workflow waits in its phase and a
    durable timer asks again at `next_attempt_at`, until `budget_deadline` (wall-clock ms).
    `kind` is a reason code for metrics; `reason` is the text shown to users (no PII)."""

    target: Phase
    cause: str
    reason: str
    kind: str
    since: int
    next_attempt_at: int
    budget_deadline: int
    attempts: int = 1
    # The requester's bearer token while waiting to enter INITIALIZATION, sealed under the
    # workflow's key (never in clear on the changelog); "" otherwise. Dropped with the parking.
    sealed_token: str = ""

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Parking:
        return cls(target=Phase(doc["target"]), cause=doc["cause"], reason=doc.get("reason", ""),
                   kind=doc.get("kind", "undecided"), since=int(doc["since"]), next_attempt_at=int(doc["next_attempt_at"]),
                   budget_deadline=int(doc["budget_deadline"]), attempts=int(doc.get("attempts", 1)),
                   sealed_token=doc.get("sealed_token") or "")


@dataclass
class WorkflowState:
    workflow_id: str
    session_id: str
    correlation_id: str
    request_event_id: str
    requester_id: str
    purpose: str
    auto_approve: bool
    subject_ids: list[str]
    request: Request | None
    token_sha256: str = ""  # of the requester's token; the token is never kept
    phase: Phase | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    outputs: dict[Phase, dict[str, Any]] = field(default_factory=dict)  # agent output per phase (sealed where PII)
    summary: dict[str, Any] = field(default_factory=dict)
    task_id: str | None = None
    review: Review | None = None
    deliveries: dict[str, str] = field(default_factory=dict)  # delivery id -> PENDING | SENT | FAILED
    reason: str = ""
    parked: Parking | None = None  # waiting for a decision (absent in records written before parking existed)
    # The generation result the workflow entered REVIEW with, as a review attestation names it
    # (topic, partition, offset, record_sha256): a human decision must attest exactly this.
    # None in records written before attestations (then only signature and record are checked).
    review_content: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL

    def forget_secrets(self) -> None:
        """Once finished, keep no PII or credentials (the log has what an auditor needs)."""
        self.request, self.outputs = None, {}

    # -- changelog round trip --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Written field by field rather than with `dataclasses.asdict`, which deep-copies every
        nested value first: this runs for every event (the changelog record), and the result is
        only read (serialised). It shares nested values with the state: do not mutate it."""
        p = self.parked
        return {
            "workflow_id": self.workflow_id, "session_id": self.session_id, "correlation_id": self.correlation_id,
            "request_event_id": self.request_event_id, "requester_id": self.requester_id, "purpose": self.purpose,
            "auto_approve": self.auto_approve, "subject_ids": self.subject_ids,
            "request": {"campaign": self.request.campaign, "contacts": self.request.contacts} if self.request else None,
            "token_sha256": self.token_sha256, "phase": self.phase.value if self.phase else None,
            "history": [{"phase": h.phase.value, "at": h.at, "reason": h.reason, "decision_id": h.decision_id}
                        for h in self.history],
            "outputs": {ph.value: out for ph, out in self.outputs.items()},
            "summary": self.summary, "task_id": self.task_id,
            "review": {"approved": self.review.approved, "reviewer_id": self.review.reviewer_id,
                       "event_id": self.review.event_id, "roles": self.review.roles,
                       "token_sha256": self.review.token_sha256, "attestation": self.review.attestation,
                       "attestation_key_id": self.review.attestation_key_id,
                       "attestation_signature": self.review.attestation_signature,
                       "policy_version": self.review.policy_version} if self.review else None,
            "deliveries": self.deliveries, "reason": self.reason,
            "parked": {"target": p.target.value, "cause": p.cause, "reason": p.reason, "kind": p.kind, "since": p.since,
                       "next_attempt_at": p.next_attempt_at, "budget_deadline": p.budget_deadline,
                       "attempts": p.attempts, "sealed_token": p.sealed_token} if p else None,
            "review_content": self.review_content,
        }

    def clone(self) -> WorkflowState:
        """A deep copy, which handlers work on (the table keeps the committed state until the
        transaction commits). Built from the JSON-shaped dict: several times cheaper than
        `copy.deepcopy`, which dispatches on every object of the tree."""
        return WorkflowState.from_dict(_copy_json(self.to_dict()))

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> WorkflowState:
        req = doc.get("request")
        review = doc.get("review")
        return cls(
            workflow_id=doc["workflow_id"], session_id=doc["session_id"], correlation_id=doc["correlation_id"],
            request_event_id=doc["request_event_id"], requester_id=doc["requester_id"], purpose=doc["purpose"],
            auto_approve=bool(doc.get("auto_approve", False)), subject_ids=list(doc.get("subject_ids", [])),
            request=Request(campaign=req["campaign"], contacts=req["contacts"]) if req else None,
            token_sha256=doc.get("token_sha256") or "",  # records before v2 held the token itself: dropped
            phase=parse_phase(doc.get("phase")),
            history=[HistoryEntry(phase=Phase(h["phase"]), at=h["at"], reason=h["reason"], decision_id=h.get("decision_id"))
                     for h in doc.get("history", [])],
            outputs={Phase(p): out for p, out in (doc.get("outputs") or {}).items()},
            summary=dict(doc.get("summary") or {}),
            task_id=doc.get("task_id"),
            review=Review(approved=review["approved"], reviewer_id=review["reviewer_id"], event_id=review["event_id"],
                          roles=list(review.get("roles") or []), token_sha256=review.get("token_sha256") or "",
                          attestation=review.get("attestation") or "", attestation_key_id=review.get("attestation_key_id") or "",
                          attestation_signature=review.get("attestation_signature") or "",
                          policy_version=review.get("policy_version") or "")
            if review else None,
            deliveries=dict(doc.get("deliveries") or {}),
            reason=doc.get("reason") or "",
            parked=Parking.from_dict(doc["parked"]) if doc.get("parked") else None,
            review_content=dict(doc["review_content"]) if doc.get("review_content") else None,
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> WorkflowState:
        return cls.from_dict(json.loads(raw))


def _copy_json(value: Any) -> Any:
    """Deep copy of JSON-shaped data (dicts, lists, scalars)."""
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value
