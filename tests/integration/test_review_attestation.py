"""Review attestations on the real stack: `ufctl review show` prints what is under review and
its content hash (read from the signed log); an approval pinned to other content is refused
and sends nothing; the approval lands in the audit trail as a signed statement; the exported
bundle's review is checked by the standalone verifier with only the bundle's keys; a forged
statement is refused by the orchestrator (dead-lettered, nothing happens) and named by the
verifier."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.kit.contracts import topics
from tests.integration import helpers as h
from tests.integration.waiting import eventually
from ufctl import publishing

pytestmark = pytest.mark.integration


def ufctl(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ufctl", *args], cwd=h.ROOT, capture_output=True, text=True, timeout=timeout)


def uf_verify(bundle: Path) -> subprocess.CompletedProcess:
    # the auditor's way: the verifier package alone, outside the repository
    return subprocess.run([sys.executable, "-m", "uf_verify", str(bundle)], cwd=bundle.parent, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(h.ROOT / "libs" / "uf-verify"), "PATH": "/usr/bin:/bin"})


def export(wf: str, out: Path) -> None:
    res = ufctl("audit", "export", wf, "--out", str(out), "--json", "--wait", "90", timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr


def in_review() -> tuple[dict, str]:
    doc = h.campaign(auto_approve=False)
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW", timeout_s=120)
    return doc, wf


def test_an_approval_attests_exactly_the_content_shown_and_verifies_offline(suite, tmp_path):
    doc, wf = in_review()
    res = ufctl("review", "show", wf, "--json")
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    digest = shown["content"]["record_sha256"]
    assert shown["content"]["topic"] == "uf.agent.results" and len(digest) == 64
    assert len(shown["emails"]) == sum(1 for c in doc["contacts"] if c.get("opted_in", True)) > 0
    assert all(e["body"] and e["recipient"] for e in shown["emails"])

    wrong = ("0" if digest[0] != "0" else "1") + digest[1:]
    res = ufctl("review", "approve", wf, "--content-sha256", wrong)
    assert res.returncode != 0 and "not the" in res.stderr and digest in res.stderr
    assert h.status(wf)["phase"] == "REVIEW"  # nothing was recorded
    assert not [e for e in h.events_of(wf, "uf.review.decisions")]

    res = ufctl("review", "approve", wf, "--content-sha256", digest)
    assert res.returncode == 0, res.stderr
    assert h.wait_phase(wf, timeout_s=120)["phase"] == "COMPLETED"

    # in the audit trail: the signed record carries the statement; the timeline names the content
    (review,) = h.events_of(wf, "uf.review.decisions")
    statement = json.loads(review["attestation"])
    assert statement["content"]["record_sha256"] == digest and statement["decision"] == "approve"
    assert statement["reviewer_id"] == review["reviewer_id"] == "cli-reviewer"
    assert "token" not in review["attestation"]
    assert review["attestation_key_id"].startswith("ufctl-")
    timeline = eventually(lambda: [e for e in json.loads(ufctl("audit", "show", wf, "--json").stdout or "[]")
                                   if e["event_type"] == "ReviewDecided"], what="the review in the audit timeline")
    assert f"attested content {digest[:16]}" in timeline[0]["summary"]

    out = tmp_path / "bundle"
    export(wf, out)
    res = uf_verify(out)
    assert res.returncode == 0, res.stdout
    lines = res.stdout.strip().splitlines()
    assert lines[-1] == "VERIFIED"
    assert any(line.startswith("review     approve by cli-reviewer (reviewer)") and digest[:16] in line for line in lines), lines


def test_a_forged_attestation_is_refused_by_the_orchestrator_and_named_by_the_offline_verifier(suite, tmp_path):
    doc, wf = in_review()
    since = h.end_offsets(topics.DEAD_LETTER)
    event = publishing.review_event(wf, doc["session_id"], True, "reviewer-1", "ok")
    # Somebody holding the ingress's record key rewrites the statement after it was signed
    # (claims another reviewer) and records it: the record signature holds, the statement's not.
    event["attestation"] = event["attestation"].replace('"reviewer_id":"reviewer-1"', '"reviewer_id":"reviewer-9"')
    assert "reviewer-9" in event["attestation"]
    h.send(event)

    def refused() -> list | None:
        dead = [m for m in h.read_topic(topics.DEAD_LETTER, since=since) if m.key == wf.encode()]
        return dead or None

    (dead,) = eventually(refused, what="the forged decision dead-lettered")
    assert h.header(dead, "uf.dlq.reason") == "review-attestation-invalid"
    assert h.status(wf)["phase"] == "REVIEW"  # nothing happened on it: still waiting for a real decision
    h.send(publishing.review_event(wf, doc["session_id"], True, "reviewer-1", "ok"))
    assert h.wait_phase(wf, timeout_s=120)["phase"] == "COMPLETED"

    # The forged statement stays on the log (kept forever): the bundle carries it, the auditor is told.
    out = tmp_path / "bundle"
    export(wf, out)
    res = uf_verify(out)
    assert res.returncode == 1, res.stdout
    assert "attestation signature invalid (forged or altered statement)" in res.stdout
    assert any(line.startswith("review     approve by reviewer-1") for line in res.stdout.splitlines()), res.stdout
    assert res.stdout.strip().splitlines()[-1].startswith("NOT VERIFIED")


def test_an_approval_attested_under_another_policy_than_decides_is_refused(suite, tmp_path):
    """The reviewer approved under one policy, the validator decides under another: the
    approval does not count (dead-lettered `review-policy-changed`, nothing sent); one attested
    under the policy in force does, and the bundle shows it."""
    doc, wf = in_review()
    in_force = publishing.policy_in_force()
    other = next(p.stem for p in sorted((h.ROOT / "policies").glob("*.yaml")) if p.stem != in_force)
    since = h.end_offsets(topics.DEAD_LETTER)
    h.send(publishing.review_event(wf, doc["session_id"], True, "reviewer-1", "ok", policy_version=other))

    def refused() -> list | None:
        return [m for m in h.read_topic(topics.DEAD_LETTER, since=since) if m.key == wf.encode()] or None

    (dead,) = eventually(refused, interval_s=1.0, what="the approval under another policy dead-lettered")
    assert h.header(dead, "uf.dlq.reason") == "review-policy-changed"
    assert h.status(wf)["phase"] == "REVIEW" and h.smtp_messages(wf) == []
    h.send(publishing.review_event(wf, doc["session_id"], True, "reviewer-1", "ok"))
    assert h.wait_phase(wf, timeout_s=120)["phase"] == "COMPLETED"

    out = tmp_path / "bundle"
    export(wf, out)
    res = uf_verify(out)
    assert res.returncode == 0 and res.stdout.strip().splitlines()[-1] == "VERIFIED", res.stdout
    assert f"under policy {in_force}" in res.stdout and f"under policy {other}" in res.stdout
