"""Zero trust on the bus, as the attacks it stops: somebody with a Kafka client (and at most a
stolen key of one service) writes records onto the topics our services consume. Every such
record is dead-lettered by its consumer with the precise reason and changes nothing."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.kit.contracts import codec, topics
from services.kit.contracts.events import Origin, make_event
from services.kit.runtime.paths import KEYS
from services.kit.security import admission as adm
from services.kit.security import kafka_auth
from services.kit.security.signing import Signer, load_signer
from tests.integration import helpers as h
from tests.integration.waiting import NotYet, eventually

pytestmark = pytest.mark.integration
FAKE = Origin("delivery", "1", "blue")  # claims to be a service in the envelope: the envelope proves nothing


def produce(topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]] | None = None) -> int:
    """Write one record as an attacker would; returns its offset. The broker itself lets only a
    topic's declared producers write there (test_zero_trust_kafka.py), so the attacker here holds
    a certificate that may write (the admin's stands in for a stolen producer certificate): what
    is left to stop is the record's content, which the consumers' admission checks do."""

    async def go() -> int:
        p = AIOKafkaProducer(bootstrap_servers=h.SETTINGS.kafka_bootstrap, **kafka_auth.client_args(kafka_auth.ADMIN))
        await p.start()
        try:
            meta = await p.send_and_wait(topic, value, key=key, headers=headers or [])
            return meta.offset
        finally:
            await p.stop()

    return asyncio.run(go())


def attacker_key(service: str) -> Signer:
    """A key with a service's name that nobody registered."""
    return Signer(service, Ed25519PrivateKey.generate())


def stolen_key(service: str) -> Signer:
    """The real key of one service (a compromised service): it may still write only what the
    declaration grants that service."""
    return load_signer(service, KEYS)


def parked(topic: str, offset: int, service: str, since: dict[int, int]) -> str:
    """The dead-letter reason `service` gave the record at (topic, offset)."""
    def probe() -> str:
        for m in h.read_topic(topics.DEAD_LETTER, since=since):
            if (h.header(m, "uf.dlq.source.topic"), h.header(m, "uf.dlq.source.offset"),
                    h.header(m, "uf.dlq.service")) == (topic, str(offset), service):
                return h.header(m, "uf.dlq.reason")
        raise NotYet(f"{topic}@{offset} not dead-lettered by {service}")
    return eventually(probe, timeout_s=60, what=f"dead letter of {topic}@{offset} by {service}")


def send_as(signer: Signer | None, topic: str, record: dict[str, Any]) -> int:
    value, key = codec.encode(record), record["envelope"]["workflow_id"].encode()
    return produce(topic, value, key, signer.headers(topic, key, value) if signer else None)


def outcome(wf: str, status: str = "SENT") -> dict[str, Any]:
    return make_event("DeliveryOutcome", origin=FAKE, workflow_id=wf, session_id="s", correlation_id=wf,
                      delivery_id=f"d-{uuid.uuid4().hex[:6]}", status=status, error="", message_id="<forged@x>",
                      duplicate=False)


def test_forged_delivery_confirmations_are_dead_lettered_and_complete_nothing(suite):
    doc = h.campaign(auto_approve=False)
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW")
    since = h.end_offsets(topics.DEAD_LETTER)
    t = topics.DELIVERY_OUTCOMES
    cases = {
        "unsigned": send_as(None, t, outcome(wf)),
        "unknown-key": send_as(attacker_key("delivery"), t, outcome(wf)),
        adm.SIGNER_NOT_ALLOWED: send_as(stolen_key("ufctl"), t, outcome(wf)),
    }
    for reason, offset in cases.items():
        assert parked(t, offset, "orchestrator", since) == reason
    assert h.status(wf)["phase"] == "REVIEW", "nothing moved the workflow"
    assert h.smtp_messages(wf) == []


def test_forged_agent_task_is_not_executed(suite):
    since = h.end_offsets(topics.DEAD_LETTER)
    results_since = h.end_offsets(topics.AGENT_RESULTS)
    wf, task_id = h.unique("wf-forged"), str(uuid.uuid4())
    task = make_event("AgentTaskAssigned", origin=Origin("orchestrator", "1", "blue"), workflow_id=wf, session_id="s",
                      correlation_id=wf, event_id=task_id, task_id=task_id, phase="BATCH_DISCOVERY",
                      agent="builtin.discovery", input_json='{"contacts": "", "purpose": "marketing"}')
    unsigned = send_as(None, topics.AGENT_TASKS, task)
    foreign = send_as(stolen_key("delivery"), topics.AGENT_TASKS, task)
    assert parked(topics.AGENT_TASKS, unsigned, "agents", since) == "unsigned"
    assert parked(topics.AGENT_TASKS, foreign, "agents", since) == adm.SIGNER_NOT_ALLOWED
    done = [m for m in h.read_topic(topics.AGENT_RESULTS, since=results_since) if m.key == wf.encode()]
    assert done == [], "the runner signed no result for a task nobody entitled assigned"


def test_an_event_type_on_another_types_topic_is_dead_lettered(suite):
    since = h.end_offsets(topics.DEAD_LETTER)
    wf = h.unique("wf-type")
    # the orchestrator may write DeliveryRequested - but not onto the agent-results topic
    offset = send_as(stolen_key("orchestrator"), topics.AGENT_RESULTS,
                     make_event("WorkflowPhaseChanged", origin=Origin("orchestrator", "1", "blue"), workflow_id=wf,
                                session_id="s", correlation_id=wf, from_phase=None, to_phase="COMPLETED",
                                reason="forged", decision_id=None))
    assert parked(topics.AGENT_RESULTS, offset, "orchestrator", since) == adm.TYPE_NOT_ON_TOPIC
    # a publisher may write requests, but not a review decision dressed as a request's type elsewhere
    offset = send_as(stolen_key("ufctl"), topics.DELIVERY_OUTCOMES, outcome(wf))
    assert parked(topics.DELIVERY_OUTCOMES, offset, "orchestrator", since) == adm.SIGNER_NOT_ALLOWED


def test_a_valid_record_copied_to_another_topic_fails_its_signature(suite):
    doc = h.campaign()
    wf = h.publish(doc)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    original = next(m for m in h.read_topic(topics.WORKFLOW_EVENTS) if m.key == wf.encode())
    since = h.end_offsets(topics.DEAD_LETTER)
    offset = produce(topics.AGENT_RESULTS, original.value, original.key, list(original.headers))
    assert parked(topics.AGENT_RESULTS, offset, "orchestrator", since) == "bad-signature"


def test_forged_session_and_consent_are_not_projected(suite):
    """The validator's facts come only from registered publishers: a forged session for the
    requester does not make their workflow pass session ownership."""
    doc = h.campaign(owner="mallory-owner")  # the real session belongs to somebody else
    since = h.end_offsets(topics.DEAD_LETTER)
    forged = make_event("SessionStarted", origin=Origin("ufctl", "1", "cli"), workflow_id=doc["session_id"],
                        session_id=doc["session_id"], correlation_id=doc["session_id"], user_id=doc["requester_id"],
                        expires_at=2**41)
    offset = send_as(attacker_key("ufctl"), topics.SESSIONS, forged)
    assert parked(topics.SESSIONS, offset, "validator", since) == "unknown-key"
    wf = h.publish(doc)
    st = h.wait_phase(wf)
    assert st["phase"] == "REJECTED" and "session" in st["reason"], st
