"""What is sent is what was approved, on the real stack: a reviewed workflow's emails go out and
each confirmation names the approved content hash (and the bundle verifies offline); a delivery
request that is not exactly what was approved - its body altered, or another workflow's approval
reused for a new recipient - is refused by delivery: nothing reaches the SMTP server and the
FAILED confirmation with the reason is on the trail; a delivery confirmation naming other
content than the attestation makes the standalone verifier fail the bundle."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.kit.contracts import codec, topics
from services.kit.contracts.events import Origin, make_event
from services.kit.security.sealing import open_record, seal_record
from tests.integration import helpers as h
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration
ORCH = Origin("orchestrator", "test", "blue")


def ufctl(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ufctl", *args], cwd=h.ROOT, capture_output=True, text=True, timeout=timeout)


def uf_verify(bundle: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uf_verify", str(bundle)], cwd=bundle.parent, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(h.ROOT / "libs" / "uf-verify"), "PATH": "/usr/bin:/bin"})


def approved_workflow() -> tuple[str, str, list[dict]]:
    """A workflow a human approved and delivery completed: (id, attested content hash, its
    delivery requests opened)."""
    wf = h.publish(h.campaign(auto_approve=False))
    h.wait_phase(wf, "REVIEW", timeout_s=120)
    res = ufctl("review", "approve", wf)
    assert res.returncode == 0 and "under policy " in res.stdout, res.stdout + res.stderr
    assert h.wait_phase(wf, timeout_s=120)["phase"] == "COMPLETED"
    (review,) = h.events_of(wf, topics.REVIEW_DECISIONS)
    digest = json.loads(review["attestation"])["content"]["record_sha256"]
    requests = [open_record(h.KEYS, r) for r in h.events_of(wf, topics.DELIVERY_REQUESTS)]
    return wf, digest, requests


def outcome_of(wf: str, delivery_id: str, status: str) -> dict:
    def found() -> dict | None:
        return next((o for o in h.events_of(wf, topics.DELIVERY_OUTCOMES)
                     if o["delivery_id"] == delivery_id and o["status"] == status), None)
    return eventually(found, timeout_s=60, interval_s=1.0, what=f"a {status} outcome for {delivery_id}")


def forged_request(genuine: dict, workflow_id: str, **changes: str) -> None:
    """A delivery request signed with the orchestrator's own key (a compromised or buggy
    orchestrator): admission lets it in; only the approval check stands in its way."""
    fields = {k: v for k, v in genuine.items() if k != "envelope"} | changes
    event = make_event("DeliveryRequested", origin=ORCH, workflow_id=workflow_id, session_id="s",
                       correlation_id=workflow_id, causation_id=genuine["envelope"]["causation_id"], **fields)
    h.produce_raw(topics.DELIVERY_REQUESTS, codec.encode(seal_record(h.KEYS, event)), workflow_id.encode(), signed_by="orchestrator")


def test_a_genuine_approval_delivers_and_every_confirmation_names_the_approved_content(suite, tmp_path):
    wf, digest, requests = approved_workflow()
    assert requests and all(r["approved_content"]["record_sha256"] == digest and r["attestation"] for r in requests)
    sent = [o for o in h.events_of(wf, topics.DELIVERY_OUTCOMES) if o["status"] == "SENT"]
    assert len(sent) == len(requests) and all(o["approved_content_sha256"] == digest for o in sent)
    assert len(h.smtp_messages(wf)) == len(requests)

    out = tmp_path / "bundle"
    res = ufctl("audit", "export", wf, "--out", str(out), "--json", "--wait", "90", timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    res = uf_verify(out)
    assert res.returncode == 0 and res.stdout.strip().splitlines()[-1] == "VERIFIED", res.stdout
    assert f"{len(requests)} sent, each checked of the approved content {digest[:16]}" in res.stdout
    assert "under policy " in res.stdout


def test_a_request_that_is_not_what_was_approved_sends_nothing_and_fails_with_the_reason(suite):
    wf, _digest, requests = approved_workflow()
    genuine = requests[0]
    emailed = len(h.smtp_messages(wf))

    # the approved email, its body rewritten
    forged_request(genuine, wf, delivery_id=genuine["delivery_id"] + "-x", body="Wire the money to this account.")
    failed = outcome_of(wf, genuine["delivery_id"] + "-x", "FAILED")
    assert failed["error"] == "not what was approved: the approved content has no email with this delivery id"
    forged_request(genuine, wf, body="Wire the money to this account.")
    failed = outcome_of(wf, genuine["delivery_id"], "FAILED")
    assert failed["error"] == "not what was approved: the email differs from the approved content in body"
    assert failed["approved_content_sha256"] == ""

    # the approval of this workflow reused for another one, to a new recipient
    other = h.unique("wf-forged")
    forged_request(genuine, other, recipient="mallory@example.net")
    failed = outcome_of(other, genuine["delivery_id"], "FAILED")
    assert failed["error"] == "not what was approved: the review attestation approves another workflow"

    assert len(h.smtp_messages(wf)) == emailed and h.smtp_messages(other) == []  # nothing was sent
    assert h.status(wf)["phase"] == "COMPLETED"


def test_the_verifier_fails_a_bundle_whose_confirmation_is_not_the_approved_content(suite, tmp_path):
    wf, digest, requests = approved_workflow()
    request = h.events_of(wf, topics.DELIVERY_REQUESTS)[0]
    other = ("0" if digest[0] != "0" else "1") + digest[1:]
    # a delivery service that confirms having checked (and sent) other content
    lying = make_event("DeliveryOutcome", origin=Origin("delivery", "test", "blue"), workflow_id=wf, session_id="s",
                       correlation_id=wf, causation_id=request["envelope"]["event_id"], delivery_id=request["delivery_id"],
                       status="SENT", message_id="<x@y>", duplicate=True, error="", approved_content_sha256=other)
    h.produce_raw(topics.DELIVERY_OUTCOMES, codec.encode(lying), wf.encode(), signed_by="delivery")
    eventually(lambda: any(o["approved_content_sha256"] == other for o in h.events_of(wf, topics.DELIVERY_OUTCOMES)),
               interval_s=1.0, what="the confirmation on the log")

    out = tmp_path / "bundle"
    res = ufctl("audit", "export", wf, "--out", str(out), "--json", "--wait", "90", timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    res = uf_verify(out)
    assert res.returncode == 1, res.stdout
    assert "what was delivered is not what was approved" in res.stdout and other[:16] in res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("NOT VERIFIED")
