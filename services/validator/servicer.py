"""gRPC `ValidateTransition`: evaluate the active policy's rules under a deadline, record the
decision as an event, answer. Fail closed: a timeout, an exception, an unknown rule or phase, or
a decision that could not be recorded is a denial."""
from __future__ import annotations

import asyncio
import logging
import uuid

import grpc
from aiokafka import AIOKafkaProducer
from prometheus_client import Histogram

from services.kit.contracts import topics
from services.kit.contracts.events import Origin, make_event
from services.kit.contracts.phases import Phase
from services.kit.messaging.bus import publish
from services.kit.rpc import validator_pb2, validator_pb2_grpc
from services.kit.runtime import telemetry
from services.validator.deps import Dependencies
from services.validator.policy.manager import PolicyManager
from services.validator.policy.model import Policy
from services.validator.recording import Recorder, recording
from services.validator.rules import RULES, Context

log = logging.getLogger(__name__)
NO_POLICY = "none"
_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 2.5)
EVALUATE_SECONDS = Histogram("uf_validator_evaluate_seconds", "Rule evaluation of one decision", ["to_phase"], buckets=_BUCKETS)
RECORD_SECONDS = Histogram("uf_validator_record_seconds", "Writing the decision event (acks=all) before answering", buckets=_BUCKETS)


def rules_for(policy: Policy, target_phase: str, current_phase: str = "") -> list[str]:
    """phase_machine always; a rejection in review also needs an authorised reviewer (not
    configurable, like the phase machine); then the policy's rules. Unknown phase:
    phase_machine denies it."""
    try:
        target = Phase(target_phase)
    except ValueError:
        return ["phase_machine"]
    fixed = ["phase_machine"]
    if target is Phase.REJECTED and current_phase == Phase.REVIEW.value:
        fixed.append("reviewer_authorised")
    return [*fixed, *policy.rules_for(target)]


async def evaluate(request: validator_pb2.ValidateTransitionRequest, policy: Policy, deps: Dependencies) -> list[validator_pb2.RuleOutcome]:
    """Rules are independent: they run concurrently (a decision takes as long as its slowest
    rule, not the sum), and their outcomes are reported in policy order."""
    ctx = Context(request, policy, deps)

    async def run(name: str) -> validator_pb2.RuleOutcome:
        rule = RULES.find(name)
        if rule is None:
            return validator_pb2.RuleOutcome(rule=name, allowed=False, reason="unknown rule")
        try:
            allowed, reason = await rule(ctx)
        except Exception as exc:  # a broken rule or an unreachable dependency denies
            return validator_pb2.RuleOutcome(rule=name, allowed=False, reason=f"rule error: {exc.__class__.__name__}", error=True)
        return validator_pb2.RuleOutcome(rule=name, allowed=allowed, reason=reason)

    return list(await asyncio.gather(*(run(name) for name in rules_for(policy, request.target_phase, request.snapshot.current_phase))))


class ValidatorServicer(validator_pb2_grpc.ValidatorServicer):
    def __init__(self, *, policies: PolicyManager, deps: Dependencies, kafka: AIOKafkaProducer, origin: Origin,
                 deadline_s: float) -> None:
        self.policies, self.deps, self.kafka, self.origin, self.deadline_s = policies, deps, kafka, origin, deadline_s

    async def decide(self, request: validator_pb2.ValidateTransitionRequest,
                     recorder: Recorder | None = None) -> validator_pb2.ValidationDecision:
        decision_id = str(uuid.uuid4())
        version = NO_POLICY
        deps = recording(self.deps, recorder) if recorder is not None else self.deps
        try:
            policy = await self.policies.current()
            version = policy.version
            with EVALUATE_SECONDS.labels(request.target_phase or "?").time():
                outcomes = await asyncio.wait_for(evaluate(request, policy, deps), self.deadline_s)
        except TimeoutError:
            outcomes = [validator_pb2.RuleOutcome(rule="deadline", allowed=False, error=True,
                                                  reason=f"decision took over {self.deadline_s}s")]
        except Exception as exc:
            outcomes = [validator_pb2.RuleOutcome(rule="validator", allowed=False, error=True,
                                                  reason=f"validator error: {exc.__class__.__name__}")]
        denials = [o for o in outcomes if not o.allowed]
        allowed = bool(outcomes) and not denials
        deciding_rule = next((o.rule for o in denials if not o.error), None) or next((o.rule for o in denials), "none")
        to_phase = request.target_phase if request.target_phase in Phase.__members__ else "unknown"  # bounded label
        telemetry.VALIDATOR_DECISIONS.labels(to_phase, "allow" if allowed else "deny", deciding_rule).inc()
        first_denial = next((f"{o.rule}: {o.reason}" for o in denials if not o.error), None) \
            or next((f"{o.rule}: {o.reason}" for o in denials), "allowed")
        return validator_pb2.ValidationDecision(
            allowed=allowed, decision_id=decision_id, policy_version=version, rules=outcomes, reason=first_denial,
            retryable=bool(denials) and all(o.error for o in denials))

    async def ValidateTransition(self, request, context: grpc.aio.ServicerContext) -> validator_pb2.ValidationDecision:
        recorder = Recorder()
        decision = await self.decide(request, recorder)
        s = request.snapshot
        log.info("decision", extra={"workflow_id": s.workflow_id, "actor": request.actor.user_id,
                                    "to_phase": request.target_phase, "allowed": decision.allowed, "reason": decision.reason})
        event = make_event(
            "ValidationDecided", origin=self.origin, event_id=decision.decision_id,
            workflow_id=s.workflow_id or "unknown", session_id=s.session_id,
            correlation_id=s.correlation_id or s.workflow_id or decision.decision_id,
            causation_id=request.causation_id or None, decision_id=decision.decision_id,
            from_phase=s.current_phase or None, to_phase=request.target_phase or "?",
            actor_id=request.actor.user_id, allowed=decision.allowed, policy_version=decision.policy_version,
            rules=[{"rule": o.rule, "allowed": o.allowed, "reason": o.reason} for o in decision.rules],
            policy_sha256=self.policies.sha256_of(decision.policy_version), facts=recorder.facts(request))
        try:
            with RECORD_SECONDS.time():
                await publish(self.kafka, topics.VALIDATION_DECISIONS, event)
        except Exception as exc:
            log.error("decision could not be recorded; denying", extra={"error": exc.__class__.__name__})
            return validator_pb2.ValidationDecision(allowed=False, decision_id="", policy_version=decision.policy_version,
                                                    reason="validator: decision could not be recorded")
        return decision
