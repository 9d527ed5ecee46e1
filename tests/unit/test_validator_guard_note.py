"""The state guard's set of allowed phases holds only phases whose ALLOW reached the log.

The servicer notes an allowed phase while the decision event is being written (one round trip
instead of two); these tests hold the rule that a decision the broker refused leaves no note
behind - else a caller could claim a phase the log never allowed - and that a note made by an
earlier, recorded ALLOW survives a later failure."""
from __future__ import annotations

from aiokafka.errors import KafkaTimeoutError

from services.kit.contracts.events import Origin
from services.kit.rpc import validator_pb2
from services.validator.servicer import ValidatorServicer


class Guard:
    """The StateGuard's set, in memory (its Redis form is exercised by the integration suite)."""

    def __init__(self, phases: set[str] | None = None) -> None:
        self.phases = set(phases or ())

    async def record(self, workflow_id: str, phase: str) -> bool:
        added = phase not in self.phases
        self.phases.add(phase)
        return added

    async def forget(self, workflow_id: str, phase: str) -> None:
        self.phases.discard(phase)


class Broker:
    def __init__(self, fail: bool) -> None:
        self.fail, self.sent = fail, 0

    async def send_and_wait(self, *args, **kwargs) -> None:
        if self.fail:
            raise KafkaTimeoutError()
        self.sent += 1


class Policies:
    def sha256_of(self, version: str) -> str:
        return ""


def servicer(broker: Broker, guard: Guard) -> ValidatorServicer:
    s = ValidatorServicer(policies=Policies(), deps=None, kafka=broker, origin=Origin("validator", "test", "blue"),  # type: ignore[arg-type]
                          deadline_s=1.0, guard=guard)  # type: ignore[arg-type]

    async def allow(request, recorder=None):
        return validator_pb2.ValidationDecision(allowed=True, decision_id="0b7c7e0e-0000-4000-8000-000000000001",
                                                policy_version="2026.11.1", reason="allowed")
    s.decide = allow  # type: ignore[method-assign]
    return s


REQUEST = validator_pb2.ValidateTransitionRequest(
    snapshot=validator_pb2.WorkflowSnapshot(workflow_id="wf-1", session_id="s", current_phase="INITIALIZATION",
                                            purpose="marketing", subject_ids=["a"], requester_id="u", correlation_id="wf-1"),
    target_phase="BATCH_DISCOVERY", actor=validator_pb2.Actor(user_id="u", auth_token="t"))


async def test_a_recorded_allow_is_noted():
    guard, broker = Guard(), Broker(fail=False)
    decision = await servicer(broker, guard)._validate(REQUEST)
    assert decision.allowed and broker.sent == 1
    assert guard.phases == {"BATCH_DISCOVERY"}


async def test_an_allow_the_broker_refused_is_denied_and_leaves_no_note():
    guard = Guard()
    decision = await servicer(Broker(fail=True), guard)._validate(REQUEST)
    assert not decision.allowed and decision.retryable
    assert guard.phases == set()


async def test_a_note_from_an_earlier_recorded_allow_survives_a_refused_write():
    guard = Guard({"BATCH_DISCOVERY"})  # a re-ask after a crash: the first ALLOW is in the log
    decision = await servicer(Broker(fail=True), guard)._validate(REQUEST)
    assert not decision.allowed
    assert guard.phases == {"BATCH_DISCOVERY"}
