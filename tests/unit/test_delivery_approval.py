"""Delivery sends only what was approved (services/delivery/approval.py): the request's approval
must hold and name this workflow and the approved record, that record must be the attested one,
and the email must be field for field the approved one. Every refusal names why."""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.delivery.approval import LogRecord, NotApproved, check_content, check_request, index_record, review_ingresses
from services.kit.contracts import codec
from services.kit.contracts.events import Origin, make_event
from services.kit.contracts.topics import load_topics
from services.kit.security import attestation, signing
from services.kit.security.admission import Admission
from services.kit.security.sealing import seal_blob
from tests.unit.memory_keys import MemoryKeys

WF = "wf-deliver-1"
ORCH = Origin("orchestrator", "1", "blue")
EMAIL = {"delivery_id": "d-1", "subject_id": "s-1", "recipient": "ann@example.org", "sender": "news@example.com",
         "subject": "Hello", "body": "Dear Ann", "template": "t"}


@pytest.fixture
def world(tmp_path):
    trust = signing.TrustStore(tmp_path)
    signers = {}
    for svc in ("orchestrator", "ufctl"):
        s = signing.Signer(svc, Ed25519PrivateKey.generate())
        trust.add(s.key_id, s.private.public_key())
        signers[svc] = s
    return Admission(load_topics(), trust), signers, MemoryKeys()


def _generation(signers, keys, *, workflow_id=WF, emails=None, offset=7) -> LogRecord:
    ev = make_event("AgentTaskCompleted", origin=ORCH, workflow_id=workflow_id, session_id="s", correlation_id=workflow_id,
                    task_id="t", phase="GENERATION", agent="gen", ok=True,
                    output_json=json.dumps({"emails": seal_blob(keys, emails or [EMAIL])}))
    value, key = codec.encode(ev), workflow_id.encode()
    headers = tuple(signers["orchestrator"].headers("uf.agent.results", key, value))
    return LogRecord("uf.agent.results", 0, offset, 1_700_000_000_000, key, value, headers)


def _content(rec: LogRecord) -> attestation.ReviewedContent:
    return attestation.ReviewedContent(rec.topic, rec.partition, rec.offset, rec.sha256())


def _request(signers, content, *, workflow_id=WF, attested_wf=WF, approve=True, signer="ufctl", named=None, **email):
    req = make_event("DeliveryRequested", origin=ORCH, workflow_id=workflow_id, session_id="s", correlation_id=workflow_id,
                     **{k: v for k, v in EMAIL.items() if k != "template"}, approved_by="alice",
                     approved_content=(named or content).as_dict())
    req.update(email)
    text = attestation.statement(attested_wf, approve, "alice", ["reviewer"], 1, content, "p-1")
    req["attestation"] = text
    req["attestation_key_id"], req["attestation_signature"] = attestation.sign(signers[signer], text)
    return req


def _verdict(world, req, rec) -> str | None:
    admission, _signers, keys = world
    try:
        content = check_request(req, admission.trust, review_ingresses(admission))
        check_content(req, content, index_record(rec, admission), keys)
    except NotApproved as exc:
        return str(exc)
    return None


def test_the_approved_email_passes(world):
    rec = _generation(world[1], world[2])
    assert _verdict(world, _request(world[1], _content(rec)), rec) is None
    assert review_ingresses(world[0]) == {"ufctl"}


def test_an_automatic_approval_is_checked_against_the_record_too(world):
    rec = _generation(world[1], world[2])
    req = {**_request(world[1], _content(rec)), "attestation": "", "approved_by": "policy:auto-approve"}
    assert _verdict(world, req, rec) is None
    assert _verdict(world, {**req, "body": "Dear Ann, buy now"}, rec) == "the email differs from the approved content in body"
    assert _verdict(world, {**req, "approved_by": "alice"}, rec) == "a human approval without its review attestation"


@pytest.mark.parametrize("case, expected", [
    ("body changed", "the email differs from the approved content in body"),
    ("recipient changed", "the email differs from the approved content in recipient"),
    ("another workflow's approval", "the review attestation approves another workflow"),
    ("a rejection", "the attested review decision is not an approval"),
    ("signed by the orchestrator", "review attestation not signed by a review ingress"),
    ("statement altered", "review attestation signature invalid"),
    ("other content named", "the review attestation approves other content than the request names"),
    ("swapped record", "the record at the approved position is not the approved content (content hash differs)"),
    ("record of another workflow", "the approved content belongs to another workflow"),
    ("unknown delivery id", "the approved content has no email with this delivery id"),
    ("no approval reference", "the request names no approved content (recorded before approvals were bound)"),
])
def test_anything_but_the_approved_email_is_refused_with_its_reason(world, case, expected):
    _admission, signers, keys = world
    rec = _generation(signers, keys)
    content = _content(rec)
    other_wf = _generation(signers, keys, workflow_id="wf-other")
    if case == "body changed":
        req, at = _request(signers, content, body="Dear Ann, wire the money"), rec
    elif case == "recipient changed":
        req, at = _request(signers, content, recipient="mallory@example.net"), rec
    elif case == "another workflow's approval":
        req, at = _request(signers, content, attested_wf="wf-other"), rec
    elif case == "a rejection":
        req, at = _request(signers, content, approve=False), rec
    elif case == "signed by the orchestrator":
        req, at = _request(signers, content, signer="orchestrator"), rec
    elif case == "statement altered":
        req = _request(signers, content)
        req["attestation"] = req["attestation"].replace('"alice"', '"bob"')
        req["approved_by"], at = "bob", rec
    elif case == "other content named":
        req, at = _request(signers, content, named=_content(other_wf)), rec
    elif case == "swapped record":  # the record read at the attested position is another one
        req, at = _request(signers, content), _generation(signers, keys, emails=[{**EMAIL, "body": "other"}])
    elif case == "record of another workflow":  # an approval of another workflow's content, replayed here
        req, at = _request(signers, _content(other_wf)), other_wf
    elif case == "unknown delivery id":
        req, at = _request(signers, content, delivery_id="d-2"), rec
    else:
        req, at = {**_request(signers, content), "approved_content": None}, rec
    assert _verdict(world, req, at) == expected


def test_an_unreadable_results_topic_is_waited_out_not_a_refusal(monkeypatch):
    """Delivery lacking read access to the results topic (an ACL not yet applied, metadata not
    there yet) sees no partitions at all: that is an outage to wait out, not a verdict on the
    request; only a partition the visible topic does not have is a refusal."""
    import asyncio

    from services.delivery import approval
    from services.kit.messaging.retry import DependencyUnavailable

    cached: set[int] = set()  # what the reader's own metadata knows of the topic

    class Consumer:
        async def start(self):
            return None

        async def stop(self):
            return None

        def partitions_for_topic(self, topic):
            return set(cached) or None

    visible: list = []
    asked: list[str] = []
    monkeypatch.setattr(approval.logreader, "new_consumer", lambda bootstrap: Consumer())

    async def partitions_of(consumer, topics):
        asked.append("metadata")
        return list(visible)

    async def track(consumer, topics):
        return None

    class PastTheMetadata(Exception):
        pass

    async def bounds(consumer, tps):
        raise PastTheMetadata

    monkeypatch.setattr(approval.logreader, "partitions_of", partitions_of)
    monkeypatch.setattr(approval.logreader, "track", track)
    monkeypatch.setattr(approval.logreader, "bounds", bounds)
    reader = approval.ApprovedContentReader("127.0.0.1:1", admission=None)  # type: ignore[arg-type]
    with pytest.raises(DependencyUnavailable):
        asyncio.run(reader._fetch("uf.agent.results", 3, 0))
    visible.append(approval.TopicPartition("uf.agent.results", 0))
    with pytest.raises(NotApproved, match="partition that does not exist"):
        asyncio.run(reader._fetch("uf.agent.results", 3, 0))
    # a partition the reader's metadata already knows costs no metadata round
    cached.add(3)
    asked.clear()
    with pytest.raises(PastTheMetadata):
        asyncio.run(reader._fetch("uf.agent.results", 3, 0))
    assert asked == []
