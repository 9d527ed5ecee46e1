"""The walking skeleton on the real stack: the example campaign end to end, crash recovery,
dead letters, fail-closed validation and session ownership."""
from __future__ import annotations

from collections import Counter

import pytest

from services.kit.contracts import codec, topics
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration
HAPPY = ["INITIALIZATION", "BATCH_DISCOVERY", "STRATEGY_ANALYSIS", "GENERATION", "REVIEW", "DELIVERY", "COMPLETED"]


def opted_in(doc):
    return {c["email"].lower() for c in doc["contacts"] if c.get("opted_in", True)}


def assert_delivered_once(workflow_id: str, doc) -> None:
    def all_arrived() -> Counter | None:
        received = Counter(m["To"].lower() for m in h.smtp_messages(workflow_id))
        return received if set(received) >= opted_in(doc) else None

    received = eventually(all_arrived, what=f"every email of {workflow_id} at the SMTP sink")
    assert set(received) == opted_in(doc), "every opted-in contact, and only those, gets the email"
    assert all(n == 1 for n in received.values()), f"an email arrived more than once: {received}"


def test_example_campaign_completes_and_each_email_arrives_once(suite):
    doc = h.campaign()
    wf = h.publish(doc)
    st = h.wait_phase(wf, timeout_s=60)
    assert st["phase"] == "COMPLETED", st
    assert [e["phase"] for e in st["history"]] == HAPPY
    assert all(e["decision_id"] for e in st["history"]), "every transition names the ALLOW decision that permitted it"
    assert_delivered_once(wf, doc)
    # The vip contact got the vip template, the German one the German template.
    bodies = {m["To"]: m.get_payload() for m in h.smtp_messages(wf)}
    assert any("most valued customers" in b for b in bodies.values())
    assert any("Rabatt" in b for b in bodies.values())


def test_audit_timeline_in_opensearch_has_every_transition_and_no_pii(suite):
    from services.audit.config import AuditSettings
    from ufctl.queries import audit_timeline

    doc = h.campaign()
    wf = h.publish(doc)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    s = AuditSettings()

    def whole_timeline() -> list | None:  # the search engine shows writes after its refresh interval
        events = audit_timeline(s.es_url, s.es_index, wf)
        done = [e for e in events if e["event_type"] == "WorkflowPhaseChanged"]
        delivered = [e for e in events if e["event_type"] == "DeliveryOutcome"]
        decided = [e for e in events if e["event_type"] == "ValidationDecided"]
        if len(decided) < len(HAPPY):
            return None  # each topic is indexed on its own: decisions may trail the phase changes
        return events if len(done) >= len(HAPPY) and len(delivered) >= len(opted_in(doc)) else None

    timeline = eventually(whole_timeline, what="the whole timeline in the search engine")
    phases = [e["phase"] for e in timeline if e["event_type"] == "WorkflowPhaseChanged"]
    assert phases == HAPPY
    types = Counter(e["event_type"] for e in timeline)
    assert types["ValidationDecided"] >= len(HAPPY)
    assert types["DeliveryOutcome"] == len(opted_in(doc))
    flat = repr(timeline)
    for c in doc["contacts"]:
        assert c["email"] not in flat and c["name"] not in flat, "no clear PII in the searchable trail"


def test_orchestrator_killed_mid_workflow_still_completes_once(suite):
    doc = h.campaign(auto_approve=False)
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW", timeout_s=60)
    h.launcher("kill", "orchestrator")  # SIGKILL: no clean shutdown
    h.launcher("up", "orchestrator")
    h.send(__import__("ufctl.publishing", fromlist=["x"]).review_event(wf, doc["session_id"], True, "reviewer-1", "ok"))
    st = h.wait_phase(wf, timeout_s=60)
    assert st["phase"] == "COMPLETED", st
    assert [e["phase"] for e in st["history"]] == HAPPY
    assert_delivered_once(wf, doc)


def test_orchestrator_killed_while_many_workflows_in_flight(suite):
    docs = [h.campaign() for _ in range(6)]
    ids = [h.publish(d) for d in docs]
    eventually(lambda: any(h.status(wf) for wf in ids), what="the burst under way")  # kill it mid-flight
    h.launcher("kill", "orchestrator")
    h.launcher("up", "orchestrator")
    for wf in ids:
        st = h.wait_phase(wf, timeout_s=90)
        assert st["phase"] == "COMPLETED", st
        assert [e["phase"] for e in st["history"]] == HAPPY, "no transition lost or repeated"
    for wf, doc in zip(ids, docs):
        assert_delivered_once(wf, doc)
        changes = [e for e in h.events_of(wf, topics.WORKFLOW_EVENTS) if e["envelope"]["event_type"] == "WorkflowPhaseChanged"]
        assert [e["to_phase"] for e in changes] == HAPPY, "the committed log holds each transition exactly once"


def test_bad_input_is_dead_lettered_and_the_next_request_completes(suite):
    since = h.end_offsets(topics.DEAD_LETTER)
    key = h.unique("wf-bad").encode()
    # garbage from an entitled (signing) publisher: refused for what it is, not for who sent it
    h.produce_raw(topics.REQUESTS, b"\x00not avro at all", key, signed_by="ufctl")
    h.produce_raw(topics.REQUESTS, codec.MAGIC + b"\x01\x02\x03\x04\x05\x06\x07\x08" + b"\x00", key, signed_by="ufctl")
    bad = h.campaign()
    bad["contacts"] = []
    h.send(__import__("ufctl.publishing", fromlist=["x"]).request_event(bad))
    good = h.campaign()
    wf = h.publish(good)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    def parked_all() -> list | None:
        parked = h.read_topic(topics.DEAD_LETTER, since=since)
        reasons = {h.header(m, "uf.dlq.reason") for m in parked}
        return parked if {"bad-magic", "unknown-fingerprint", "invalid-request"} <= reasons else None

    parked = eventually(parked_all, what="the three bad records in the dead-letter topic")
    reasons = {h.header(m, "uf.dlq.reason") for m in parked}
    assert {"bad-magic", "unknown-fingerprint", "invalid-request"} <= reasons, reasons
    for m in parked:
        assert h.header(m, "uf.dlq.source.topic") == topics.REQUESTS
        assert h.header(m, "uf.dlq.source.offset").isdigit()
    originals = {m.value for m in parked}
    assert b"\x00not avro at all" in originals, "the original bytes are kept for inspection/replay"


def test_validator_down_parks_the_workflow_and_it_completes_once_the_validator_is_back(suite):
    """Fail closed, never fail busy: no transition without an ALLOW, but no verdict either -
    the workflow waits (shown with the reason and the next attempt) and moves on afterwards."""
    doc = h.campaign()
    h.launcher("down", "validator")
    try:
        wf = h.publish(doc)
        st = eventually(lambda: (s := h.status(wf)) and s["waiting"] and s, timeout_s=60, what="workflow shown as waiting")
        assert st["waiting"]["target_phase"] == "INITIALIZATION" and "validator" in st["waiting"]["reason"]
        assert st["waiting"]["next_attempt_at"] > 0
        assert st["history"] == [], "not a single transition without a decision"
        assert h.smtp_messages(wf) == []
    finally:
        h.launcher("up", "validator")
    st = h.wait_phase(wf, timeout_s=120)
    assert st["phase"] == "COMPLETED", st
    assert st["waiting"] is None


def test_session_not_owned_by_requester_is_rejected(suite):
    doc = h.campaign(owner="mallory-owner")
    wf = h.publish(doc)
    st = h.wait_phase(wf)
    assert st["phase"] == "REJECTED"
    assert "not owned" in st["reason"]
    assert h.smtp_messages(wf) == []


def test_missing_consent_is_rejected(suite):
    doc = h.campaign(grant=False)
    wf = h.publish(doc)
    st = h.wait_phase(wf)
    assert st["phase"] == "REJECTED"
    assert "consent" in st["reason"]


def test_review_rejection_ends_rejected_without_delivery(suite):
    from ufctl import publishing

    doc = h.campaign(auto_approve=False)
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW")
    h.send(publishing.review_event(wf, doc["session_id"], False, "reviewer-2", "tone"))
    st = h.wait_phase(wf)
    assert st["phase"] == "REJECTED" and "reviewer-2" in st["reason"]
    assert h.smtp_messages(wf) == []
