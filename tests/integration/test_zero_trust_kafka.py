"""Kafka itself authenticates and authorises, as the attacks it stops: somebody with a Kafka
client on the network, with no certificate, with a certificate of another CA, or with the real
certificate of a service that is not a declared producer of the topic, tries to forge a delivery
confirmation, an audit checkpoint or an orchestrator state record, or to read the state topic.
The broker refuses before any consumer sees a byte (TopicAuthorizationFailed / failed handshake);
the workflows of the other tests complete with the same ACLs in force."""
from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from services.kit.contracts import topics
from services.kit.contracts.acls import desired_bindings, load_principals
from services.kit.contracts.topics import apply_topics, load_topics
from services.kit.security import kafka_auth, tls
from tests.integration import helpers as h

pytestmark = pytest.mark.integration


def _send(client_args: dict[str, Any], topic: str, value: bytes = b"forged") -> int:
    async def go() -> int:
        p = AIOKafkaProducer(bootstrap_servers=h.SETTINGS.kafka_bootstrap, request_timeout_ms=10000, **client_args)
        try:
            await p.start()
            meta = await p.send_and_wait(topic, value, key=b"wf-forged")
            return meta.offset
        finally:
            await p.stop()

    return asyncio.run(go())


@pytest.mark.parametrize(("principal", "topic"), [
    ("validator", topics.DELIVERY_OUTCOMES),      # "the emails were sent" - only delivery may say so
    ("orchestrator", topics.DELIVERY_OUTCOMES),
    ("delivery", topics.AUDIT_CHECKPOINTS),       # a checkpoint - only the audit service
    ("orchestrator", topics.AUDIT_CHECKPOINTS),
    ("ufctl", topics.ORCHESTRATOR_STATE),         # a workflow's state - only the orchestrator
    ("validator", topics.ORCHESTRATOR_STATE),
    ("witness", topics.WORKFLOW_EVENTS),
])
def test_another_services_certificate_cannot_write_the_topic(stack, principal: str, topic: str) -> None:
    before = h.end_offsets(topic)
    forged = h.unique("forged").encode()
    with pytest.raises(TopicAuthorizationFailedError):
        _send(kafka_auth.client_args(principal), topic, forged)
    # nothing landed (the topic's real writer, e.g. the audit checkpointer, may append meanwhile)
    assert [m.offset for m in h.read_topic(topic, since=before) if m.value == forged] == []


def test_no_certificate_cannot_connect(stack) -> None:
    with pytest.raises(KafkaConnectionError):
        _send({}, topics.DELIVERY_OUTCOMES)  # PLAINTEXT: there is no such listener
    ctx = ssl.create_default_context(cafile=str(tls.ca_file()))  # TLS, but no client certificate
    with pytest.raises(KafkaConnectionError):
        _send({"security_protocol": "SSL", "ssl_context": ctx}, topics.DELIVERY_OUTCOMES)


def test_a_certificate_from_another_ca_is_refused(stack, tmp_path: Path) -> None:
    """A self-made certificate that *names* the delivery service: the broker trusts only the suite's CA."""
    tls.issue("delivery", tmp_path)
    ctx = ssl.create_default_context(cafile=str(tls.ca_file()))
    ctx.load_cert_chain(str(tmp_path / "delivery.crt"), str(tmp_path / "delivery.key"))
    before = h.end_offsets(topics.DELIVERY_OUTCOMES)
    forged = h.unique("forged").encode()
    with pytest.raises(KafkaConnectionError):
        _send({"security_protocol": "SSL", "ssl_context": ctx}, topics.DELIVERY_OUTCOMES, forged)
    # nothing landed (delivery may confirm a real workflow meanwhile)
    assert [m.offset for m in h.read_topic(topics.DELIVERY_OUTCOMES, since=before) if m.value == forged] == []


def test_a_service_cannot_read_what_it_does_not_consume(stack) -> None:
    """The state topic (every workflow's state) is readable by the orchestrator (and the
    operator's audit tools), not by delivery - even inside delivery's own consumer group."""
    async def go() -> None:
        c = AIOKafkaConsumer(topics.ORCHESTRATOR_STATE, bootstrap_servers=h.SETTINGS.kafka_bootstrap,
                             group_id="uf-delivery-probe", auto_offset_reset="earliest",
                             **kafka_auth.client_args("delivery"))
        try:
            await c.start()
            await c.getmany(timeout_ms=2000)
        finally:
            await c.stop()

    with pytest.raises(TopicAuthorizationFailedError):
        asyncio.run(go())


def test_the_broker_holds_exactly_the_declared_acls(stack) -> None:
    """Applying the declaration again changes nothing (idempotent), and what it holds is what
    infra/topics.yaml derives - nothing more (the topics tool deletes undeclared grants)."""
    changes = asyncio.run(apply_topics(h.SETTINGS.kafka_bootstrap))
    assert [c for c in changes if c.startswith("acl ")] == []
    want = desired_bindings(load_topics(), load_principals())
    writers = {b.principal for b in want if b.resource_name == topics.DELIVERY_OUTCOMES and b.operation == 4}
    assert writers == {"User:delivery"}
