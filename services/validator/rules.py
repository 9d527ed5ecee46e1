"""Validation rules as small plug-ins, and which rules guard the entry to each phase.

A rule returns (allowed, reason). Rules never see PII values and never put any in a reason.
Look-ups that miss are re-checked once the projections have caught up with the log, so a
session opened a millisecond before the request is still found; a miss after that is a denial.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.kit.phases import STOP_PHASES, Phase, is_legal, parse_phase
from services.kit.rpc import validator_pb2
from services.validator.store import PolicyStore

POLICY_VERSION = "builtin-2026.11.1"


@dataclass
class Context:
    request: validator_pb2.ValidateTransitionRequest
    store: PolicyStore
    barrier: Callable[[], Awaitable[bool]]  # True when projections are caught up

    @property
    def snapshot(self) -> validator_pb2.WorkflowSnapshot:
        return self.request.snapshot


Outcome = tuple[bool, str]
Rule = Callable[[Context], Awaitable[Outcome]]


async def phase_machine(ctx: Context) -> Outcome:
    try:
        current, target = parse_phase(ctx.snapshot.current_phase), parse_phase(ctx.request.target_phase)
    except ValueError:
        return False, "unknown phase"
    if target is None:
        return False, "no target phase"
    if not is_legal(current, target):
        return False, f"illegal transition {current.value if current else 'START'} -> {target.value}"
    return True, "legal transition"


async def session_ownership(ctx: Context) -> Outcome:
    sid, actor = ctx.snapshot.session_id, ctx.request.actor.user_id
    if not sid or not actor:
        return False, "session id and actor are required"
    session = await ctx.store.session(sid)
    if session is None and await ctx.barrier():
        session = await ctx.store.session(sid)
    if session is None:
        return False, "session unknown"
    if session["user_id"] != actor:
        return False, "session is not owned by the requesting user"
    if int(session.get("expires_at", "0")) < int(time.time() * 1000):
        return False, "session expired"
    return True, "session owned by the actor"


async def consent_recorded(ctx: Context) -> Outcome:
    subjects, purpose = list(ctx.snapshot.subject_ids), ctx.snapshot.purpose
    if not subjects:
        return False, "no data subjects listed"
    granted = await ctx.store.consent(subjects, purpose)
    if not all(granted.values()) and await ctx.barrier():
        granted = await ctx.store.consent(subjects, purpose)
    missing = sum(1 for ok in granted.values() if not ok)
    if missing:
        return False, f"no consent for purpose {purpose!r} from {missing} of {len(subjects)} data subject(s)"
    return True, f"consent recorded for {len(subjects)} subject(s)"


async def human_approval(ctx: Context) -> Outcome:
    s = ctx.snapshot
    if not s.review_approved:
        return False, "no approving review decision"
    if s.reviewer_id.startswith("policy:") and not s.auto_approve:
        return False, "automatic approval without an auto-approve policy"
    return True, f"approved by {s.reviewer_id}"


async def delivery_confirmation(ctx: Context) -> Outcome:
    s = ctx.snapshot
    if s.deliveries_expected <= 0 or s.deliveries_confirmed != s.deliveries_expected:
        return False, f"{s.deliveries_confirmed} of {s.deliveries_expected} deliveries confirmed"
    return True, f"all {s.deliveries_expected} deliveries confirmed"


RULES: dict[str, Rule] = {
    "phase_machine": phase_machine,
    "session_ownership": session_ownership,
    "consent_recorded": consent_recorded,
    "human_approval": human_approval,
    "delivery_confirmation": delivery_confirmation,
}

# Which rules guard entering each phase (phase_machine guards all). Stops are always legal.
MATRIX: dict[Phase, tuple[str, ...]] = {
    Phase.INITIALIZATION: ("session_ownership", "consent_recorded"),
    Phase.BATCH_DISCOVERY: ("consent_recorded",),
    Phase.STRATEGY_ANALYSIS: ("consent_recorded",),
    Phase.GENERATION: ("consent_recorded",),
    Phase.REVIEW: (),
    Phase.DELIVERY: ("human_approval", "consent_recorded"),
    Phase.COMPLETED: ("delivery_confirmation",),
    **{p: () for p in STOP_PHASES},
}


def rules_for(target_phase: str) -> list[str]:
    """Unknown phase: only phase_machine, which denies it."""
    try:
        return ["phase_machine", *MATRIX[Phase(target_phase)]]
    except ValueError:
        return ["phase_machine"]
