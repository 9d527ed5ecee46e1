"""Review without authority, as the attacks it stops: a rejection or approval by somebody who is
not an entitled reviewer changes nothing (dead-lettered, the workflow keeps waiting); the
requester cannot approve their own workflow under another spelling of their name; a requester
cannot make their workflow skip human review unless the policy allows it for its purpose."""
from __future__ import annotations

import pytest

from services.kit.contracts import topics
from services.kit.security import jwt_tokens as tokens
from tests.integration import helpers as h
from tests.integration.waiting import NotYet, eventually
from ufctl import publishing

pytestmark = pytest.mark.integration


def review(doc, wf, approved: bool, token: str):
    h.send(publishing.review_event(wf, doc["session_id"], approved, "", "because", token=token))


def refused(wf: str, since: dict[int, int]) -> str:
    def probe() -> str:
        for m in h.read_topic(topics.DEAD_LETTER, since=since):
            if m.key == wf.encode() and h.header(m, "uf.dlq.source.topic") == topics.REVIEW_DECISIONS:
                return h.header(m, "uf.dlq.detail")
        raise NotYet("review decision not dead-lettered")
    return eventually(probe, timeout_s=60, what="the refused review decision in the dead letters")


def test_a_rejection_without_the_reviewer_role_changes_nothing(suite):
    doc = h.campaign(auto_approve=False)
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW")
    since = h.end_offsets(topics.DEAD_LETTER)
    review(doc, wf, False, tokens.issue("mallory"))  # authenticated, but no reviewer role
    assert "reviewer" in refused(wf, since)
    assert h.status(wf)["phase"] == "REVIEW"
    review(doc, wf, False, tokens.issue("rita", roles=["reviewer"]))
    st = h.wait_phase(wf)
    assert st["phase"] == "REJECTED" and "rita" in st["reason"]


def test_four_eyes_holds_for_another_spelling_of_the_requester(suite):
    doc = h.campaign(auto_approve=False, requester="alice-x")
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW")
    since = h.end_offsets(topics.DEAD_LETTER)
    review(doc, wf, True, tokens.issue("ＡＬＩＣＥ-x", roles=["reviewer"]))  # full-width capitals: same person
    assert "four-eyes" in refused(wf, since)
    assert h.status(wf)["phase"] == "REVIEW", "the self-approval neither approved nor killed the workflow"
    review(doc, wf, True, tokens.issue("bob", roles=["reviewer"]))
    assert h.wait_phase(wf)["phase"] == "COMPLETED"


def test_the_policy_not_the_requester_decides_who_skips_review(suite):
    doc = h.campaign(auto_approve=True)
    doc["purpose"] = "research"  # the policy lists no automatic approval for research
    h.send(*[publishing.consent_event(c["subject_id"], "research", True) for c in doc["contacts"]])
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW")
    decided = eventually(lambda: [e for e in h.events_of(wf, topics.VALIDATION_DECISIONS) if e["to_phase"] == "DELIVERY"],
                         timeout_s=60, what="the policy's answer to the automatic approval")
    assert not decided[0]["allowed"]
    assert h.status(wf)["phase"] == "REVIEW", "asking for auto-approval did not skip human review"
    review(doc, wf, True, tokens.issue("bob", roles=["reviewer"]))
    assert h.wait_phase(wf)["phase"] == "COMPLETED"


def test_review_decisions_keep_no_token(suite):
    doc = h.campaign(auto_approve=False)
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW")
    token = tokens.issue("bob", roles=["reviewer"])
    review(doc, wf, True, token)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    signature = token.rsplit(".", 1)[1].encode()
    for m in h.read_topic(topics.REVIEW_DECISIONS):
        assert signature not in m.value
    decision = next(e for e in h.events_of(wf, topics.REVIEW_DECISIONS) if e["reviewer_id"] == "bob")
    assert len(decision["token_sha256"]) == 64 and decision["token_expires_at"] > 0
