"""gRPC `ValidateTransition`: evaluate the rules under a deadline, record the decision as an
event, answer. Fail closed: a timeout, an exception, an unknown rule or a decision that could
not be recorded is a denial."""
from __future__ import annotations

import asyncio
import logging
import uuid

import grpc
from aiokafka import AIOKafkaProducer

from services.kit import topics
from services.kit.bus import publish
from services.kit.events import Producer, make_event
from services.kit.rpc import validator_pb2, validator_pb2_grpc
from services.validator.rules import POLICY_VERSION, RULES, Context, rules_for
from services.validator.store import PolicyStore

log = logging.getLogger(__name__)


class ValidatorServicer(validator_pb2_grpc.ValidatorServicer):
    def __init__(self, *, store: PolicyStore, barrier, kafka: AIOKafkaProducer, producer: Producer, deadline_s: float) -> None:
        self.store, self.barrier, self.kafka, self.producer, self.deadline_s = store, barrier, kafka, producer, deadline_s

    async def _evaluate(self, request: validator_pb2.ValidateTransitionRequest) -> list[validator_pb2.RuleOutcome]:
        ctx = Context(request, self.store, self.barrier)
        outcomes = []
        for name in rules_for(request.target_phase):
            rule = RULES.get(name)
            if rule is None:
                outcomes.append(validator_pb2.RuleOutcome(rule=name, allowed=False, reason="unknown rule"))
                continue
            try:
                allowed, reason = await rule(ctx)
            except Exception as exc:
                allowed, reason = False, f"rule error: {exc.__class__.__name__}"
            outcomes.append(validator_pb2.RuleOutcome(rule=name, allowed=allowed, reason=reason))
        return outcomes

    async def ValidateTransition(self, request, context: grpc.aio.ServicerContext) -> validator_pb2.ValidationDecision:
        decision_id = str(uuid.uuid4())
        try:
            outcomes = await asyncio.wait_for(self._evaluate(request), self.deadline_s)
        except asyncio.TimeoutError:
            outcomes = [validator_pb2.RuleOutcome(rule="deadline", allowed=False, reason=f"decision took over {self.deadline_s}s")]
        except Exception as exc:
            outcomes = [validator_pb2.RuleOutcome(rule="validator", allowed=False, reason=f"validator error: {exc.__class__.__name__}")]
        allowed = bool(outcomes) and all(o.allowed for o in outcomes)
        first_denial = next((f"{o.rule}: {o.reason}" for o in outcomes if not o.allowed), "allowed")
        decision = validator_pb2.ValidationDecision(allowed=allowed, decision_id=decision_id, policy_version=POLICY_VERSION,
                                                    rules=outcomes, reason=first_denial)
        s = request.snapshot
        log.info("decision", extra={"workflow_id": s.workflow_id, "actor": request.actor.user_id,
                                    "to_phase": request.target_phase, "allowed": allowed, "reason": first_denial})
        try:
            await publish(self.kafka, topics.VALIDATION_DECISIONS, make_event(
                "ValidationDecided", producer=self.producer, event_id=decision_id, workflow_id=s.workflow_id or "unknown",
                session_id=s.session_id, correlation_id=s.correlation_id or s.workflow_id or decision_id,
                causation_id=request.causation_id or None, decision_id=decision_id, from_phase=s.current_phase or None,
                to_phase=request.target_phase or "?", actor_id=request.actor.user_id, allowed=allowed,
                policy_version=POLICY_VERSION,
                rules=[{"rule": o.rule, "allowed": o.allowed, "reason": o.reason} for o in outcomes]))
        except Exception as exc:
            log.error("decision could not be recorded; denying", extra={"error": exc.__class__.__name__})
            return validator_pb2.ValidationDecision(allowed=False, decision_id="", policy_version=POLICY_VERSION,
                                                    reason="validator: decision could not be recorded")
        return decision
