"""gRPC `ValidateTransition`: evaluate the active policy's rules under a deadline, record the
decision as an event, answer. Fail closed: a timeout, an exception, an unknown rule or phase, or
a decision that could not be recorded is a denial."""
from __future__ import annotations

import asyncio
import logging
import uuid

import grpc
import redis
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
from services.validator.state_guard import StateGuard

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


async def evaluate(request: validator_pb2.ValidateTransitionRequest, policy: Policy, deps: Dependencies,
                   deadline_s: float | None = None) -> list[validator_pb2.RuleOutcome]:
    """Rules are independent: they run concurrently (a decision takes as long as its slowest
    rule, not the sum), and their outcomes are reported in policy order. A rule still running
    at the deadline is cancelled and reported as an error (retryable); the rules that finished
    keep their outcomes, so a real denial (e.g. phase_machine) stays a denial under load."""
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

    names = rules_for(policy, request.target_phase, request.snapshot.current_phase)
    tasks = [asyncio.ensure_future(run(name)) for name in names]
    _, pending = await asyncio.wait(tasks, timeout=deadline_s)
    for t in pending:
        t.cancel()
    return [t.result() if t.done() and not t.cancelled() else
            validator_pb2.RuleOutcome(rule=name, allowed=False, error=True, reason=f"rule did not finish within {deadline_s}s")
            for name, t in zip(names, tasks, strict=True)]


class ValidatorServicer(validator_pb2_grpc.ValidatorServicer):
    def __init__(self, *, policies: PolicyManager, deps: Dependencies, kafka: AIOKafkaProducer, origin: Origin,
                 deadline_s: float, max_concurrent: int = 64, admission_wait_s: float = 0.5,
                 guard: StateGuard | None = None) -> None:
        self.policies, self.deps, self.kafka, self.origin, self.deadline_s = policies, deps, kafka, origin, deadline_s
        self.guard = guard  # checks the claimed phase against the recorded state (None: unit tests)
        # Admission control: at most `max_concurrent` decisions run at once; a request that cannot
        # start within `admission_wait_s` is refused with RESOURCE_EXHAUSTED (retryable) instead of
        # queueing until its deadline is burnt and then being answered with a useless timeout.
        self._slots = asyncio.Semaphore(max_concurrent)
        self.admission_wait_s = admission_wait_s

    async def decide(self, request: validator_pb2.ValidateTransitionRequest,
                     recorder: Recorder | None = None) -> validator_pb2.ValidationDecision:
        decision_id = str(uuid.uuid4())
        version = NO_POLICY
        deps = recording(self.deps, recorder) if recorder is not None else self.deps
        try:
            policy = await self.policies.current()
            version = policy.version
            with EVALUATE_SECONDS.labels(request.target_phase or "?").time():
                outcomes = await evaluate(request, policy, deps, self.deadline_s)
        except TimeoutError:
            outcomes = [validator_pb2.RuleOutcome(rule="deadline", allowed=False, error=True,
                                                  reason=f"decision took over {self.deadline_s}s")]
        except Exception as exc:
            outcomes = [validator_pb2.RuleOutcome(rule="validator", allowed=False, error=True,
                                                  reason=f"validator error: {exc.__class__.__name__}")]
        budget = policy.retry.budget_s if version != NO_POLICY else 0.0
        denials = [o for o in outcomes if not o.allowed]
        allowed = bool(outcomes) and not denials
        deciding_rule = next((o.rule for o in denials if not o.error), None) or next((o.rule for o in denials), "none")
        to_phase = request.target_phase if request.target_phase in Phase.__members__ else "unknown"  # bounded label
        telemetry.VALIDATOR_DECISIONS.labels(to_phase, "allow" if allowed else "deny", deciding_rule).inc()
        first_denial = next((f"{o.rule}: {o.reason}" for o in denials if not o.error), None) \
            or next((f"{o.rule}: {o.reason}" for o in denials), "allowed")
        return validator_pb2.ValidationDecision(
            allowed=allowed, decision_id=decision_id, policy_version=version, rules=outcomes, reason=first_denial,
            retryable=bool(denials) and all(o.error for o in denials), retry_budget_s=budget)

    async def ValidateTransition(self, request, context: grpc.aio.ServicerContext) -> validator_pb2.ValidationDecision:
        try:
            await asyncio.wait_for(self._slots.acquire(), self.admission_wait_s)
        except TimeoutError:
            telemetry.SHED_REQUESTS.inc()
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "validator busy: too many decisions in flight")
        try:
            try:
                problem = await self.guard.problem(request) if self.guard else ""
            except (redis.RedisError, OSError) as exc:  # the state store is away: retryable, not a verdict
                log.warning("state guard unavailable", extra={"error": exc.__class__.__name__})
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"validator state store unavailable ({exc.__class__.__name__})")
            if problem:  # never sign a decision for a transition the workflow is not in
                log.warning("request refused: not the recorded state", extra={"workflow_id": request.snapshot.workflow_id,
                                                                              "to_phase": request.target_phase})
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, problem)
            decision = await self._validate(request)
            if decision.allowed and self.guard:
                try:
                    await self.guard.record(request.snapshot.workflow_id, request.target_phase)
                except Exception as exc:  # the audit projection still tells the phase once committed
                    log.error("allowed phase not recorded", extra={"error": exc.__class__.__name__})
            return decision
        finally:
            self._slots.release()

    async def _validate(self, request) -> validator_pb2.ValidationDecision:
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
            # Not a verdict: the broker is away. The caller parks the workflow and asks again.
            return validator_pb2.ValidationDecision(allowed=False, decision_id="", policy_version=decision.policy_version,
                                                    reason="validator: decision could not be recorded", retryable=True,
                                                    retry_budget_s=decision.retry_budget_s)
        return decision
