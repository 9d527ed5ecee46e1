"""What each phase does, one row per phase: the input its agent gets, the validation facts its
output contributes, and the events entering it emits. A new phase is one row here plus one
agent (and its place in `kit.contracts.phases`); the engine in `workflow.py` has no per-phase
branches."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.kit.contracts import topics
from services.kit.contracts.events import make_event, stable_id
from services.kit.contracts.phases import Phase
from services.kit.security.sealing import open_blob, seal_record
from services.kit.security.subject_keys import KeyStore
from services.orchestrator.state import WorkflowState

Emit = tuple[str, dict[str, Any]]
# (state, keys, envelope fields of the child events, agent name for agent phases) -> events
OnEntry = Callable[[WorkflowState, KeyStore, dict[str, Any], str], list[Emit]]


@dataclass(frozen=True)
class PhaseSpec:
    # Input of the phase's agent (None: no agent runs in this phase).
    agent_input: Callable[[WorkflowState], dict[str, Any]] | None = None
    # Facts the phase's recorded output adds to every later validation request.
    output_facts: Callable[[dict[str, Any], KeyStore], dict[str, Any]] | None = None
    # Events emitted on entering the phase (besides WorkflowPhaseChanged).
    on_entry: OnEntry | None = None


def _req(st: WorkflowState) -> Any:
    if st.request is None:
        raise ValueError("the request is gone: the workflow has finished")
    return st.request


def _discovery_input(st: WorkflowState) -> dict[str, Any]:
    return {"contacts": _req(st).contacts, "purpose": st.purpose}


def _strategy_input(st: WorkflowState) -> dict[str, Any]:
    return {"campaign": _req(st).campaign, "recipients": st.outputs[Phase.BATCH_DISCOVERY]["recipients"]}


def _generation_input(st: WorkflowState) -> dict[str, Any]:
    return {"workflow_id": st.workflow_id, "campaign": _req(st).campaign,
            "recipients": st.outputs[Phase.BATCH_DISCOVERY]["recipients"],
            "assignments": st.outputs[Phase.STRATEGY_ANALYSIS]["assignments"]}


def _assign_task(st: WorkflowState, keys: KeyStore, child: dict[str, Any], agent: str) -> list[Emit]:
    phase = st.phase
    assert phase is not None and PHASES[phase].agent_input is not None
    task_id = stable_id(st.workflow_id, phase.value, "task")
    st.task_id = task_id
    return [(topics.AGENT_TASKS, make_event(
        "AgentTaskAssigned", **child, event_id=task_id, task_id=task_id, phase=phase.value,
        agent=agent, input_json=json.dumps(PHASES[phase].agent_input(st))))]  # type: ignore[misc]


def _auto_review(st: WorkflowState, keys: KeyStore, child: dict[str, Any], agent: str) -> list[Emit]:
    """The requester may only *ask* for automatic approval; the proposal below is decided by the
    policy (`human_approval`: purpose and data class). Refused, the workflow waits for a human."""
    if not st.auto_approve:
        return []  # a human reviewer decides (uf.review.decisions)
    return [(topics.REVIEW_DECISIONS, make_event(
        "ReviewDecided", **child, event_id=stable_id(st.workflow_id, "auto-review"), approved=True,
        reviewer_id="policy:auto-approve", reason="automatic approval proposed; the policy decides"))]


def _delivery_requests(st: WorkflowState, keys: KeyStore, child: dict[str, Any], agent: str) -> list[Emit]:
    """One request per approved email, naming the approval it is sent under: the generation
    result approved (the one the workflow entered REVIEW with) and a human reviewer's signed
    attestation of it, copied verbatim, so delivery can check the email against the approved
    record itself (services/delivery/approval.py) rather than trust this request's copy."""
    review = st.review
    approval = {"approved_by": review.reviewer_id if review else "", "approved_content": st.review_content,
                "attestation": review.attestation if review else "",
                "attestation_key_id": review.attestation_key_id if review else "",
                "attestation_signature": review.attestation_signature if review else ""}
    out: list[Emit] = []
    for sealed in st.outputs[Phase.GENERATION]["emails"]:
        email = open_blob(keys, sealed)
        st.deliveries[email["delivery_id"]] = "PENDING"
        out.append((topics.DELIVERY_REQUESTS, seal_record(keys, make_event(
            "DeliveryRequested", **child, event_id=stable_id(email["delivery_id"], "request"),
            delivery_id=email["delivery_id"], subject_id=email["subject_id"], recipient=email["recipient"],
            sender=email["sender"], subject=email["subject"], body=email["body"], **approval))))
    return out


PHASES: dict[Phase, PhaseSpec] = {
    Phase.INITIALIZATION: PhaseSpec(),
    Phase.BATCH_DISCOVERY: PhaseSpec(
        agent_input=_discovery_input, on_entry=_assign_task,
        output_facts=lambda out, keys: {"recipients": len(out["recipients"])}),
    Phase.STRATEGY_ANALYSIS: PhaseSpec(
        agent_input=_strategy_input, on_entry=_assign_task,
        output_facts=lambda out, keys: {"templates": sorted({a["template"] for a in out["assignments"]})}),
    Phase.GENERATION: PhaseSpec(
        agent_input=_generation_input, on_entry=_assign_task,
        output_facts=lambda out, keys: {"emails": [{"recipient": e["recipient"], "subject": e["subject"], "body": e["body"]}
                                                   for e in open_blob(keys, out["emails"])]}),
    Phase.REVIEW: PhaseSpec(on_entry=_auto_review),
    Phase.DELIVERY: PhaseSpec(on_entry=_delivery_requests),
    Phase.COMPLETED: PhaseSpec(),
    Phase.FAILED: PhaseSpec(),
    Phase.REJECTED: PhaseSpec(),
    Phase.CANCELLED: PhaseSpec(),
}
