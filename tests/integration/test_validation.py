"""The fail-closed state validator on the real stack: every (from, to) pair, tokens, consent,
four-eyes, PII gates, a killed validator, policies hot-reloaded, activated and rolled back."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request
from itertools import product
from pathlib import Path

import grpc
import pytest
import redis as syncredis
import yaml

from services.kit.contracts import codec, keys, topics
from services.kit.contracts.phases import Phase, is_legal
from services.kit.rpc import validator_pb2, validator_pb2_grpc
from services.kit.runtime import service_table as table
from services.kit.security import jwt_tokens as tokens
from services.kit.security import redis_auth, tls
from services.validator.config import ValidatorSettings
from tests.integration import helpers as h
from tests.integration.waiting import eventually
from ufctl import publishing

pytestmark = pytest.mark.integration
POLICY_DIR = Path(ValidatorSettings().policy_dir)
BASELINE = "2026.12.1"  # the newest policy file: in force when nothing was activated


def decide(target: str, current: str, doc: dict) -> validator_pb2.ValidationDecision:
    async def go():
        async with tls.secure_channel(table.grpc_addr("validator"), "orchestrator") as ch:
            snapshot = validator_pb2.WorkflowSnapshot(
                workflow_id=doc["workflow_id"], session_id=doc["session_id"], current_phase=current,
                purpose=doc["purpose"], subject_ids=[c["subject_id"] for c in doc["contacts"]],
                requester_id=doc["requester_id"], correlation_id=doc["workflow_id"])
            req = validator_pb2.ValidateTransitionRequest(
                snapshot=snapshot, target_phase=target,
                actor=validator_pb2.Actor(user_id=doc["requester_id"], auth_token=tokens.issue(doc["requester_id"])))
            return await validator_pb2_grpc.ValidatorStub(ch).ValidateTransition(req, timeout=5)

    return asyncio.run(go())


def ufctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ufctl", *args], cwd=h.ROOT, capture_output=True, text=True, timeout=60)


def metric(service_port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{service_port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_every_phase_pair_illegal_ones_denied(suite):
    doc = h.campaign()
    # recorded: the audit rules answer at once, and the validator answers for the phases it reached
    reached = {Phase(e["phase"]) for e in h.wait_phase(h.publish(doc))["history"]}
    states = [None, *Phase]
    for current, target in product(states, Phase):
        try:
            d = decide(target.value, current.value if current else "", doc)
        except grpc.aio.AioRpcError as exc:  # a phase the workflow never reached: refused before any rule
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, (current, target)
            assert current not in reached or (current is None and target is not Phase.INITIALIZATION), (current, target)
            continue
        machine = next(r for r in d.rules if r.rule == "phase_machine")
        if is_legal(current, target):
            assert machine.allowed, (current, target)
        else:
            assert not d.allowed and not machine.allowed, (current, target)
        assert d.decision_id and d.policy_version
    for bogus, current in (("BOGUS", ""), ("", ""), ("BATCH_DISCOVERY", "NOT_A_PHASE")):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            decide(bogus, current, doc)
        assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_every_transition_in_the_log_follows_an_allow_decision(suite):
    """100 % validation coverage, checked on the whole committed log (all workflows so far)."""
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    decisions = {}
    for m in h.read_topic(topics.VALIDATION_DECISIONS):
        rec = codec.decode(m.value).record
        decisions[rec["decision_id"]] = rec
    checked = 0
    for m in h.read_topic(topics.WORKFLOW_EVENTS):
        decoded = codec.decode(m.value)
        if decoded.event_type != "WorkflowPhaseChanged":
            continue  # WorkflowWaiting: no transition
        ev = decoded.record
        if ev["to_phase"] in ("FAILED", "REJECTED", "CANCELLED"):
            continue  # stops are always allowed (fail-safe)
        if ev["envelope"]["producer"]["colour"] == "bench-bypass":
            continue  # written by bench/validation.py's deliberate bypass on a developer's stack
        d = decisions.get(ev["decision_id"])
        assert d is not None, f"transition {ev['envelope']['event_id']} has no decision event"
        assert d["allowed"] and d["to_phase"] == ev["to_phase"] and d["envelope"]["workflow_id"] == ev["envelope"]["workflow_id"]
        assert d["envelope"]["occurred_at"] <= ev["envelope"]["occurred_at"]
        checked += 1
    assert checked >= 7


@pytest.mark.parametrize(("token", "reason"), [
    (lambda u: tokens.issue(u, ttl_s=-3600), "token expired"),
    (lambda u: tokens.issue(u, audience="someone-else"), "audience"),
    (lambda u: tokens.issue(u)[:-4] + "AAAA", "signature"),
    (lambda u: tokens.issue("somebody-else"), "subject"),
])
def test_bad_tokens_are_rejected(suite, token, reason):
    doc = h.campaign()
    doc["auth_token"] = token(doc["requester_id"])
    st = h.wait_phase(h.publish(doc))
    assert st["phase"] == "REJECTED" and reason in st["reason"], st


def test_consent_withdrawn_mid_flight_denies_the_next_transition(suite):
    doc = h.campaign(auto_approve=False)
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW")
    h.send(publishing.consent_event(doc["contacts"][1]["subject_id"], doc["purpose"], False))
    h.send(publishing.review_event(wf, doc["session_id"], True, "reviewer-1", "ok"))
    st = h.wait_phase(wf)
    assert st["phase"] == "REJECTED" and "consent" in st["reason"]
    assert h.smtp_messages(wf) == []




def test_restricted_data_in_a_request_is_stopped_before_batch_discovery(suite):
    doc = h.campaign()
    doc["campaign"]["variables"]["code"] = "card 4111 1111 1111 1111"
    st = h.wait_phase(h.publish(doc))
    assert st["phase"] == "REJECTED" and "RESTRICTED" in st["reason"]
    assert [e["phase"] for e in st["history"]] == ["INITIALIZATION", "REJECTED"]


def test_third_party_contact_data_in_output_is_stopped_before_delivery(suite):
    doc = h.campaign()
    doc["campaign"]["variables"]["until"] = "today - questions to jane.roe@partner-mail.net"
    st = h.wait_phase(h.publish(doc))
    assert st["phase"] == "REJECTED" and "output_privacy" in st["reason"], st
    assert h.smtp_messages(st["workflow_id"]) == []


def test_validator_killed_mid_workflow_parks_it_and_delivers_nothing_until_it_is_back(suite):
    """No ALLOW, no transition (nothing delivered) - but no verdict either: the workflow waits in
    REVIEW with the reason and completes once a validator answers again."""
    doc = h.campaign(auto_approve=False)
    wf = h.publish(doc)
    h.wait_phase(wf, "REVIEW")
    h.launcher("kill", "validator")
    try:
        h.send(publishing.review_event(wf, doc["session_id"], True, "reviewer-1", "ok"))
        st = eventually(lambda: (s := h.status(wf)) and s["waiting"] and s, timeout_s=90, what="workflow waiting")
        assert st["phase"] == "REVIEW" and st["waiting"]["target_phase"] == "DELIVERY"
        assert "validator unavailable" in st["waiting"]["reason"]
        assert h.smtp_messages(wf) == []
    finally:
        h.launcher("up", "validator")
    assert h.wait_phase(wf, timeout_s=180)["phase"] == "COMPLETED"


@pytest.fixture
def scratch_policies():
    created: list[Path] = []
    yield created
    for p in created:
        p.unlink(missing_ok=True)
    h.send(publishing.policy_event(BASELINE, "restore", "tests", True))
    wait_active(BASELINE)


def wait_active(version: str) -> None:
    """The validator reads the version in force from its projection of uf.policy."""
    r = syncredis.Redis.from_url(h.SETTINGS.redis_url, **redis_auth.credentials("admin"))
    eventually(lambda: r.get(keys.POLICY_ACTIVE) == version.encode(), what=f"policy {version} in force")


def wait_loaded(version: str) -> None:
    """The validator's hot reload logs each policy file it loads."""
    log_file = h.ROOT / "var" / "log" / "validator.log"
    eventually(lambda: f"loaded {version}".encode() in log_file.read_bytes(), what=f"the validator loading {version}")


def write_policy(created: list[Path], version: str, **changes) -> None:
    doc = yaml.safe_load((POLICY_DIR / f"{BASELINE}.yaml").read_text())
    doc["version"] = version
    for k, v in changes.items():
        doc[k] = v
    path = POLICY_DIR / f"{version}.yaml"
    path.write_text(yaml.safe_dump(doc))
    created.append(path)


def last_decision_version(wf: str) -> str:
    return h.events_of(wf, topics.VALIDATION_DECISIONS)[-1]["policy_version"]


def test_invalid_policy_is_refused_and_the_previous_stays_in_force(suite, scratch_policies):
    tag = h.unique("zz-invalid")
    errors_before = metric(table.http_port("validator"), "uf_policy_reload_errors_total")  # before the watcher can see it
    write_policy(scratch_policies, tag, rules={"INITIALIZATION": ["no_such_rule"]})
    res = ufctl("policy", "activate", tag)
    assert res.returncode == 1 and "unknown rule" in res.stderr and "no_such_rule" in res.stderr
    eventually(lambda: metric(table.http_port("validator"), "uf_policy_reload_errors_total") > errors_before,
               what="the validator's watcher refusing the file")
    h.send(publishing.policy_event(tag, "forced", "attacker", False))  # bypass ufctl's check
    doc = h.campaign()
    wf = h.publish(doc)
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    assert last_decision_version(wf) == BASELINE
    assert metric(table.http_port("validator"), "uf_policy_reload_errors_total") > errors_before


def test_policy_hot_load_activate_and_rollback(suite, scratch_policies):
    tag = h.unique("zz-strict")
    base = yaml.safe_load((POLICY_DIR / f"{BASELINE}.yaml").read_text())
    write_policy(scratch_policies, tag, lists={**base["lists"], "purposes_allowed": ["service"]})
    wait_loaded(tag)  # hot reload: no restart
    assert ufctl("policy", "activate", tag).returncode == 0
    wait_active(tag)
    wf = h.publish(h.campaign())
    st = h.wait_phase(wf)
    assert st["phase"] == "REJECTED" and "purpose 'marketing' not allowed" in st["reason"]
    assert last_decision_version(wf) == tag
    res = ufctl("policy", "rollback")
    assert res.returncode == 0 and BASELINE in res.stdout
    wait_active(BASELINE)
    wf = h.publish(h.campaign())
    assert h.wait_phase(wf)["phase"] == "COMPLETED"
    assert last_decision_version(wf) == BASELINE
