"""The phase machine in motion: how each incoming event changes one workflow's state and which
events it emits. Every forward transition is asked of the validator first; no ALLOW decision,
no transition.

Handlers work on a copy of the state and return `Effects`; the caller applies them inside one
Kafka transaction, so a handler that fails half-way changes nothing.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from services.kit.contracts import topics
from services.kit.contracts.codec import Decoded
from services.kit.contracts.events import Origin, make_event, stable_id
from services.kit.contracts.limits import MAX_FIELD_CHARS, longest_string
from services.kit.contracts.phases import TERMINAL, Phase, next_phase
from services.kit.messaging.bus import SemanticError
from services.kit.messaging.retry import Backoff, dependency_of
from services.kit.rpc import validator_pb2
from services.kit.security import attestation
from services.kit.security.attestation import ReviewedContent
from services.kit.security.identity import token_hash
from services.kit.security.sealing import (
    blob_subjects,
    open_blob,
    open_record,
    open_token,
    record_subjects,
    seal_blob,
    seal_campaign,
    seal_token,
    workflow_subject,
)
from services.kit.security.signing import TrustStore, default_trust
from services.kit.security.subject_keys import KeyStore
from services.orchestrator.agents.registry import agent_for_phase
from services.orchestrator.phase_table import PHASES
from services.orchestrator.state import HistoryEntry, Parking, Request, Review, WorkflowState
from services.orchestrator.validation import ValidatorClient, Verdict

AUTOMATIC = "policy:"  # reviewer ids of automatic decisions (only the orchestrator may write them)
REVIEW_RULES = frozenset({"human_approval", "reviewer_authorised"})  # who-may-review rules

log = logging.getLogger(__name__)
MAX_CONTACTS = 10_000
DEFAULT_BUDGET_S = 600.0  # when the policy's own budget is not known (no answer from the validator)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Effects:
    state: WorkflowState | None = None
    emit: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class WorkflowEngine:
    """Contacts' PII is kept sealed under each subject's key (state, agent tasks and results hold
    tokens, never clear values) and opened only where it is used."""

    def __init__(self, origin: Origin, keys: KeyStore, validator: ValidatorClient,
                 agents: dict[Phase, str] | None = None, *, budget_s: float = DEFAULT_BUDGET_S,
                 backoff: Backoff | None = None, trust: TrustStore | None = None) -> None:
        self.origin, self.validator, self.keys = origin, validator, keys
        self.agents = agents  # agent name per work phase (orchestrator settings); None = from the environment
        self.budget_s = budget_s
        self.backoff = backoff or Backoff(base_s=1.0, cap_s=30.0)
        self.trust = trust or default_trust()  # the keys review attestations are checked with

    async def retry_parked(self, current: WorkflowState) -> Effects:
        """The durable timer fired: ask again for the transition the workflow waits for."""
        await self.keys.warm(_subjects(current.workflow_id, current))  # the sealed token, the facts' contacts
        fx = Effects(state=current.clone())
        st = fx.state
        assert st is not None and st.parked is not None
        parked = st.parked
        token = open_token(self.keys, parked.sealed_token, "auth_token") if parked.sealed_token else ""
        if await self._advance(fx, parked.target, parked.cause, token=token) and parked.target is Phase.INITIALIZATION:
            await self._advance(fx, Phase.BATCH_DISCOVERY, parked.cause)
        return fx

    # -- entry point -----------------------------------------------------------------------
    async def handle(self, decoded: Decoded, current: WorkflowState | None, signer: str = "",
                     source: ReviewedContent | None = None) -> Effects:
        """`signer`: the verified producer of the record (kit.security.admission). `source`: the
        record's position and content hash (given for agent results: a generation result is what
        a review attests)."""
        await self.keys.warm(_subjects(decoded.envelope["workflow_id"], current, decoded.record))  # look-ups then hit the cache
        if decoded.event_type == "ReviewDecided":
            fx = Effects(state=current.clone() if current is not None else None)
            await self._on_review(decoded.record, fx, signer)
            return fx
        if decoded.event_type == "AgentTaskCompleted":
            fx = Effects(state=current.clone() if current is not None else None)
            await self._on_agent_result(decoded.record, fx, source)
            return fx
        handler = {
            "WorkflowRequested": self._on_request,
            "DeliveryOutcome": self._on_delivery_outcome,
        }.get(decoded.event_type)
        if handler is None:
            raise SemanticError("unexpected-event-type", decoded.event_type)
        fx = Effects(state=current.clone() if current is not None else None)
        await handler(decoded.record, fx)
        return fx

    # -- handlers --------------------------------------------------------------------------
    async def _on_request(self, ev: dict[str, Any], fx: Effects) -> None:
        env = ev["envelope"]
        if fx.state is not None:
            if fx.state.request_event_id == env["event_id"]:
                fx.state = None  # redelivery of the request we already run: nothing to do
                return
            raise SemanticError("duplicate-workflow-id", "a workflow with this id already exists")
        ev = open_record(self.keys, ev)
        _check_request(ev)
        # The token is checked by the validator (`authenticated`) within this handler and never
        # kept: the state is a compacted, long-lived topic. Its hash is.
        token = ev.get("auth_token") or ""
        wf = env["workflow_id"]
        fx.state = WorkflowState(
            workflow_id=wf, session_id=env["session_id"], correlation_id=env["correlation_id"],
            request_event_id=env["event_id"], requester_id=ev["requester_id"],
            token_sha256=token_hash(token) if token else "",
            purpose=ev["purpose"], auto_approve=ev["auto_approve"],  # a wish: the policy decides (human_approval)
            subject_ids=[c["subject_id"] for c in ev["contacts"]],
            request=Request(campaign=seal_campaign(self.keys, wf, ev["campaign"]), contacts=seal_blob(self.keys, ev["contacts"])),
        )
        if await self._advance(fx, Phase.INITIALIZATION, env["event_id"], token=token):
            await self._advance(fx, Phase.BATCH_DISCOVERY, env["event_id"])

    async def _on_agent_result(self, ev: dict[str, Any], fx: Effects, source: ReviewedContent | None = None) -> None:
        st = _require(fx)
        phase = Phase(ev["phase"])
        if st.phase is not phase or st.task_id != ev["task_id"] or phase in st.outputs:
            # stale or duplicate result: the phase has moved on, or its result was accepted and
            # the workflow is parked waiting for the next transition (the first result stands:
            # it is what a reviewer is shown and attests)
            fx.state = None
            return
        cause = ev["envelope"]["event_id"]
        if not ev["ok"]:
            self._enter(fx, Phase.FAILED, cause, reason=f"agent {ev['agent']} failed in {phase.value}")
            return
        output = json.loads(ev["output_json"])
        st.outputs[phase] = output
        if phase is Phase.GENERATION:
            st.review_content = source.as_dict() if source is not None else None
        if phase is Phase.BATCH_DISCOVERY:
            st.subject_ids = [r["subject_id"] for r in output["recipients"]]
            st.summary["recipients"] = len(output["recipients"])
            st.summary["excluded"] = output.get("excluded", {})
            if not output["recipients"]:
                self._enter(fx, Phase.REJECTED, cause, reason="no eligible recipients (none opted in with a valid address)")
                return
        following = next_phase(phase)
        assert following is not None
        await self._advance(fx, following, cause)

    async def _on_review(self, ev: dict[str, Any], fx: Effects, signer: str) -> None:
        """Approvals and rejections alike are decided only for an authorised reviewer (the
        validator's `human_approval` / `reviewer_authorised` rules: the policy's reviewer role,
        four-eyes on normalised identities). A decision by somebody not entitled changes
        nothing: it is dead-lettered and the workflow keeps waiting for a real one. An automatic
        approval is only ever the orchestrator's own proposal, and the policy decides it."""
        st = _require(fx)
        cause = ev["envelope"]["event_id"]
        if st.review and st.review.event_id == cause:
            fx.state = None
            return
        if st.phase is not Phase.REVIEW:
            raise SemanticError("review-not-pending", f"workflow is in {st.phase.value if st.phase else 'no phase'}")
        automatic = ev["reviewer_id"].startswith(AUTOMATIC)
        if automatic and signer != self.origin.service:
            raise SemanticError("review-not-authorised", f"automatic decisions come only from {self.origin.service}, not {signer}")
        attested = ""
        if not automatic:  # a human decision counts only with its signed statement of exactly what was reviewed
            problem = attestation.problem_with(ev, signer, self.trust, st.review_content)
            if problem:
                raise SemanticError("review-attestation-invalid", problem)
            attested = attestation.parse(ev["attestation"])["policy_version"]
        st.review = Review(approved=ev["approved"], reviewer_id=ev["reviewer_id"], event_id=cause,
                           roles=list(ev.get("reviewer_roles") or []), token_sha256=ev.get("token_sha256") or "",
                           attestation=ev.get("attestation") or "", attestation_key_id=ev.get("attestation_key_id") or "",
                           attestation_signature=ev.get("attestation_signature") or "", policy_version=attested)
        target = Phase.DELIVERY if ev["approved"] else Phase.REJECTED
        verdict = await self.validator.validate(_validation_request(st, target, cause, self.keys))
        if not verdict.allowed and not verdict.unavailable and _only_review_rules_denied(verdict):
            if automatic:
                fx.state = None  # the policy does not let this workflow skip human review: wait for one
                return
            raise SemanticError("review-not-authorised", verdict.reason)
        if attested and ev["approved"] and verdict.allowed:  # approved under the policy that decides, or not at all
            problem = attestation.policy_problem(attested, verdict.policy_version)
            if problem:
                raise SemanticError("review-policy-changed", problem)
        if ev["approved"]:
            self._conclude(fx, verdict, Phase.DELIVERY, cause)
        elif verdict.allowed:
            self._enter(fx, Phase.REJECTED, cause, reason=f"rejected in review by {ev['reviewer_id']}",
                        decision_id=verdict.decision_id)
        else:  # the validator could not decide whether the reviewer may reject: wait and ask again
            self._conclude(fx, verdict, Phase.REJECTED, cause)

    async def _on_delivery_outcome(self, ev: dict[str, Any], fx: Effects) -> None:
        st = _require(fx)
        if st.phase is not Phase.DELIVERY:
            fx.state = None  # a late confirmation after the workflow ended
            return
        if ev["delivery_id"] not in st.deliveries:
            raise SemanticError("unknown-delivery", "delivery id not part of this workflow")
        cause = ev["envelope"]["event_id"]
        if ev["status"] != "SENT":
            st.deliveries[ev["delivery_id"]] = "FAILED"
            self._enter(fx, Phase.FAILED, cause, reason=f"delivery failed: {ev['error'] or ev['status']}")
            return
        st.deliveries[ev["delivery_id"]] = "SENT"
        if all(v == "SENT" for v in st.deliveries.values()):
            await self._advance(fx, Phase.COMPLETED, cause)

    # -- transitions -----------------------------------------------------------------------
    async def _advance(self, fx: Effects, target: Phase, cause: str, token: str = "") -> bool:
        """Ask the validator; enter `target` on ALLOW, REJECTED on a real denial. When no
        decision could be had for a transient reason the workflow is parked (back-pressure, not
        a verdict); FAILED only once the retry budget is spent. Returns whether it moved.
        `token`: the requester's bearer token, only for entering INITIALIZATION (never kept in
        clear: while parked for it, it is sealed under the workflow's key)."""
        st = fx.state
        assert st is not None
        try:
            request = _validation_request(st, target, cause, self.keys, token)
        except Exception as exc:  # our own dependency (the key store) is away: wait for it
            dependency = dependency_of(exc)
            if dependency is None:
                raise
            self._park(fx, target, cause, reason=f"{dependency} unavailable", kind="dependency", budget_s=None, token=token)
            return False
        verdict = await self.validator.validate(request)
        return self._conclude(fx, verdict, target, cause, token)

    def _conclude(self, fx: Effects, verdict: Verdict, target: Phase, cause: str, token: str = "") -> bool:
        st = fx.state
        assert st is not None
        if verdict.allowed and target is Phase.DELIVERY and st.review and st.review.policy_version:
            problem = attestation.policy_problem(st.review.policy_version, verdict.policy_version)
            if problem:  # a parked review decided later under another policy: it no longer counts
                self._void_review(fx, target, cause, problem)
                return False
        if verdict.allowed:
            st.parked = None
            reason = "allowed"
            if target is Phase.REJECTED and st.review and not st.review.approved:
                reason = f"rejected in review by {st.review.reviewer_id}"
            self._enter(fx, target, cause, reason=reason, decision_id=verdict.decision_id)
            return True
        if verdict.unavailable:
            kind = "undecided" if verdict.decision_id else "validator-unavailable"
            self._park(fx, target, cause, reason=verdict.reason, kind=kind, budget_s=verdict.retry_budget_s or None, token=token)
            return False
        st.parked = None
        self._enter(fx, Phase.REJECTED, cause, reason=verdict.reason, decision_id=verdict.decision_id)
        return False

    def _void_review(self, fx: Effects, target: Phase, cause: str, reason: str) -> None:
        """The review decision no longer counts (the policy changed while its transition waited
        for the validator): forget it and wait in REVIEW for a new one, saying so on the trail."""
        st = fx.state
        assert st is not None
        st.review, st.parked = None, None
        fx.emit.append((topics.WORKFLOW_EVENTS, make_event(
            "WorkflowWaiting", origin=self.origin, workflow_id=st.workflow_id, session_id=st.session_id,
            correlation_id=st.correlation_id, causation_id=cause,
            event_id=stable_id(st.workflow_id, "review-void", cause), phase=st.phase.value if st.phase else None,
            target_phase=target.value, reason=reason, kind="review-again", attempt=0, next_attempt_at=0, budget_deadline=0)))
        log.warning("review decision void: the policy changed", extra={"workflow_id": st.workflow_id})

    def _park(self, fx: Effects, target: Phase, cause: str, *, reason: str, kind: str, budget_s: float | None,
              token: str = "") -> None:
        st = fx.state
        assert st is not None
        now = now_ms()
        p = st.parked
        if p is None or p.target is not target:
            budget = budget_s or self.budget_s
            sealed = seal_token(self.keys, workflow_subject(st.workflow_id), token, "auth_token") if token else ""
            p = Parking(target=target, cause=cause, reason=reason, kind=kind, since=now, next_attempt_at=now,
                        budget_deadline=now + int(budget * 1000), attempts=0, sealed_token=sealed)
        elif budget_s:  # the policy in force says how long to wait
            p.budget_deadline = p.since + int(budget_s * 1000)
        p.attempts += 1
        p.reason, p.kind = reason, kind
        if now >= p.budget_deadline:
            st.parked = None
            waited = (now - p.since) / 1000
            self._enter(fx, Phase.FAILED, cause, reason=f"no decision for {target.value} within the retry budget "
                                                        f"({waited:.0f}s, {p.attempts} attempts): {reason}")
            return
        p.next_attempt_at = min(now + int(self.backoff.delay(p.attempts - 1) * 1000), p.budget_deadline)
        st.parked = p
        fx.emit.append((topics.WORKFLOW_EVENTS, make_event(
            "WorkflowWaiting", origin=self.origin, workflow_id=st.workflow_id, session_id=st.session_id,
            correlation_id=st.correlation_id, causation_id=cause,
            event_id=stable_id(st.workflow_id, "waiting", target.value, str(p.since), str(p.attempts)),
            phase=st.phase.value if st.phase else None, target_phase=target.value, reason=reason, kind=kind,
            attempt=p.attempts, next_attempt_at=p.next_attempt_at, budget_deadline=p.budget_deadline)))
        log.info("workflow waiting for a decision", extra={"workflow_id": st.workflow_id, "target": target.value,
                                                           "kind": kind, "attempt": p.attempts})

    def _enter(self, fx: Effects, target: Phase, cause: str, *, reason: str, decision_id: str | None = None) -> None:
        st = fx.state
        assert st is not None
        wf = st.workflow_id
        base = {"origin": self.origin, "workflow_id": wf, "session_id": st.session_id,
                "correlation_id": st.correlation_id, "causation_id": cause}
        changed = make_event("WorkflowPhaseChanged", **base, event_id=stable_id(wf, "phase", target.value),
                             from_phase=st.phase.value if st.phase else None, to_phase=target.value, reason=reason,
                             decision_id=decision_id)
        fx.emit.append((topics.WORKFLOW_EVENTS, changed))
        st.history.append(HistoryEntry(phase=target, at=changed["envelope"]["occurred_at"], reason=reason, decision_id=decision_id))
        st.phase = target
        if target in TERMINAL:
            st.reason, st.parked = reason, None
            st.forget_secrets()
            return
        spec = PHASES[target]
        if spec.on_entry is not None:
            child = {**base, "causation_id": changed["envelope"]["event_id"]}
            agent = agent_for_phase(target, self.agents).name if spec.agent_input is not None else ""
            fx.emit.extend(spec.on_entry(st, self.keys, child, agent))


def _require(fx: Effects) -> WorkflowState:
    if fx.state is None:
        raise SemanticError("unknown-workflow", "no workflow with this id")
    return fx.state


def _check_request(ev: dict[str, Any]) -> None:
    """Schema-valid but meaningless requests are refused here (dead-lettered with the reason).
    Which campaign goals are allowed is the policy's decision (`policy_check`), not the door's."""
    env = ev["envelope"]
    if not env["workflow_id"] or not env["session_id"]:
        raise SemanticError("invalid-request", "workflow_id and session_id are required")
    if not ev["requester_id"] or not ev["purpose"]:
        raise SemanticError("invalid-request", "requester_id and purpose are required")
    if not ev["contacts"]:
        raise SemanticError("invalid-request", "contacts is empty")
    if len(ev["contacts"]) > MAX_CONTACTS:
        raise SemanticError("invalid-request", f"more than {MAX_CONTACTS} contacts")
    ids = [c["subject_id"] for c in ev["contacts"]]
    if not all(ids) or len(set(ids)) != len(ids):
        raise SemanticError("invalid-request", "contacts need unique, non-empty subject_id")
    if longest_string(ev) > MAX_FIELD_CHARS:
        raise SemanticError("field-too-large", f"a field is longer than {MAX_FIELD_CHARS} characters")
    if not ev["campaign"]["goal"]:
        raise SemanticError("invalid-request", "campaign.goal is required")
    if not ev["campaign"]["sender"] or "@" not in ev["campaign"]["sender"]:
        raise SemanticError("invalid-request", "campaign.sender must be an address")


def _subjects(workflow_id: str, current: WorkflowState | None, record: dict[str, Any] | None = None) -> set[str]:
    """Every subject whose key handling an event (or a parked workflow's timer) may open or seal
    with: the workflow's own (campaign text, the parked token), every contact's in its request
    (opted-out ones too: the validation facts open them all), and those the record names."""
    subjects = record_subjects(record) if record is not None else set()
    subjects.add(workflow_subject(workflow_id))
    if current is not None:
        subjects.update(current.subject_ids)
        if current.request is not None:
            subjects |= blob_subjects(current.request.contacts)
    return subjects


def _facts(st: WorkflowState, keys: KeyStore) -> dict[str, str]:
    """What the rules inspect, as JSON strings: everything known so far (the active policy, not
    the orchestrator, decides which rules look at what). Each phase's output adds the facts its
    row in the phase table declares."""
    facts: dict[str, Any] = {"transitions": len(st.history)}
    if st.request:
        campaign = open_blob(keys, st.request.campaign)
        campaign_text = [campaign["name"], campaign["subject"], *campaign.get("variables", {}).values()]
        contacts = open_blob(keys, st.request.contacts)
        facts["content"] = campaign_text + [v for c in contacts for v in (c["name"], c["email"])]
        facts["sender_domain"] = campaign["sender"].rsplit("@", 1)[-1]
        facts["goal"] = campaign["goal"]
    for phase, output in st.outputs.items():
        contribute = PHASES[phase].output_facts
        if contribute is not None:
            facts.update(contribute(output, keys))
    if st.review:
        facts["reviewer_roles"] = st.review.roles
    return {k: json.dumps(v) for k, v in facts.items()}


def _only_review_rules_denied(verdict: Verdict) -> bool:
    """The denial is about who reviewed (not consent, privacy, ...): the decision is void."""
    denied = {name for name, allowed, _ in verdict.rules if not allowed}
    return bool(denied) and denied <= REVIEW_RULES


def _validation_request(st: WorkflowState, target: Phase, cause: str, keys: KeyStore,
                        token: str = "") -> validator_pb2.ValidateTransitionRequest:
    review = st.review
    snapshot = validator_pb2.WorkflowSnapshot(
        workflow_id=st.workflow_id, session_id=st.session_id, current_phase=st.phase.value if st.phase else "",
        purpose=st.purpose, subject_ids=st.subject_ids, requester_id=st.requester_id,
        auto_approve=st.auto_approve, review_approved=bool(review and review.approved),
        reviewer_id=review.reviewer_id if review else "", deliveries_expected=len(st.deliveries),
        deliveries_confirmed=sum(1 for v in st.deliveries.values() if v == "SENT"),
        correlation_id=st.correlation_id, facts=_facts(st, keys),
    )
    return validator_pb2.ValidateTransitionRequest(
        snapshot=snapshot, target_phase=target.value, causation_id=cause,
        actor=validator_pb2.Actor(user_id=st.requester_id, auth_token=token),
    )
