"""Admission of consumed records: signature, declared signer, event type bound to the topic."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.kit.contracts.topics import load_topics
from services.kit.security import admission as adm
from services.kit.security import signing


@pytest.fixture
def gate(tmp_path):
    trust = signing.TrustStore(tmp_path)
    signers = {}
    for svc in ("orchestrator", "delivery", "ufctl"):
        s = signing.Signer(svc, Ed25519PrivateKey.generate())
        trust.add(s.key_id, s.private.public_key())
        signers[svc] = s
    return adm.Admission(load_topics(), trust), signers


def refused(gate, topic, headers, event_type, value=b"v"):
    with pytest.raises(adm.Refused) as exc:
        gate.admit(topic, b"wf", value, headers, event_type)
    return exc.value.reason


def test_a_declared_producer_is_admitted(gate):
    g, s = gate
    hdrs = s["delivery"].headers("uf.delivery.outcomes", b"wf", b"v")
    assert g.admit("uf.delivery.outcomes", b"wf", b"v", hdrs, "DeliveryOutcome") == "delivery"


def test_every_forgery_has_its_reason(gate):
    g, s = gate
    t = "uf.delivery.outcomes"
    assert refused(g, t, [], "DeliveryOutcome") == "unsigned"
    stranger = signing.Signer("delivery", Ed25519PrivateKey.generate())  # right name, key not registered
    assert refused(g, t, stranger.headers(t, b"wf", b"v"), "DeliveryOutcome") == "unknown-key"
    assert refused(g, t, s["delivery"].headers(t, b"wf", b"other"), "DeliveryOutcome") == "bad-signature"
    copied = s["delivery"].headers("uf.agent.results", b"wf", b"v")  # valid elsewhere, replayed here
    assert refused(g, t, copied, "DeliveryOutcome") == "bad-signature"
    assert refused(g, t, s["orchestrator"].headers(t, b"wf", b"v"), "DeliveryOutcome") == adm.SIGNER_NOT_ALLOWED
    assert refused(g, t, s["delivery"].headers(t, b"wf", b"v"), "AgentTaskCompleted") == adm.TYPE_NOT_ON_TOPIC
    assert refused(g, t, [(signing.KEY_HEADER, b"x"), (signing.SIG_HEADER, b"y")], "DeliveryOutcome") == "malformed-signature"
    assert refused(g, "uf.deadletter", s["delivery"].headers("uf.deadletter", b"wf", b"v"), "X") == adm.UNDECLARED_TOPIC


def test_a_signer_declared_on_a_topic_is_limited_to_its_own_types(gate):
    g, s = gate
    t = "uf.review.decisions"
    assert g.admit(t, b"wf", b"v", s["ufctl"].headers(t, b"wf", b"v"), "ReviewDecided") == "ufctl"
    spec = load_topics()["uf.gdpr"]
    assert spec.event_types == {"SubjectErased", "ErasureReceipt"}  # receipts: audit only (ADR 0011)


def test_every_consumed_topic_declares_its_producers():
    declared = {n for n, spec in load_topics().items() if spec.producers}
    assert set(load_topics()) - declared == {"uf.deadletter"}
