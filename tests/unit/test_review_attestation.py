"""Review attestations: the kit signs the statement, the standalone verifier (libs/uf-verify, no
service code) accepts an intact one and names every tampered or forged one."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.evidence.hashing import content_hash
from services.kit.contracts import codec
from services.kit.contracts.catalog import default_catalog
from services.kit.contracts.events import Origin, make_event
from services.kit.security import attestation
from services.kit.security.signing import Signer
from uf_verify import attestations, avro

WF = "wf-att-1"
ORCH = Signer("orchestrator", Ed25519PrivateKey.generate())
UFCTL = Signer("ufctl", Ed25519PrivateKey.generate())
OTHER = Signer("ufctl", Ed25519PrivateKey.generate())  # a second "ufctl" key nobody registered
CLI = Origin("ufctl", "1", "cli")
POLICY = "p-test"  # = tests/unit/test_workflow_engine.POLICY, what the scripted validator decides under


def _record(topic: str, offset: int, event: dict[str, Any], signer: Signer) -> tuple[dict[str, Any], str, Any, str]:
    """A bundle record as `ufctl audit export` writes it, decoded the verifier's way."""
    value = codec.encode(event)
    key = WF.encode()
    headers = signer.headers(topic, key, value)
    r = {"topic": topic, "partition": 0, "offset": offset, "timestamp": 1_700_000_000_000 + offset,
         "key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode(),
         "headers": [[n, base64.b64encode(v).decode()] for n, v in headers]}
    decoded = avro.decode(default_catalog().by_fingerprint[value[2:10]].canonical, value[10:])
    return r, topic, decoded, signer.key_id


def _generation(offset: int, text: str) -> tuple[dict[str, Any], str, Any, str]:
    ev = make_event("AgentTaskCompleted", origin=Origin("orchestrator", "1", "blue"), workflow_id=WF, session_id="s",
                    correlation_id=WF, event_id="t-result", task_id="t", phase="GENERATION", agent="gen", ok=True,
                    output_json=json.dumps({"emails": text}))
    return _record("uf.agent.results", offset, ev, ORCH)


def _entered_review(cause: str) -> tuple[dict[str, Any], str, Any, str]:
    ev = make_event("WorkflowPhaseChanged", origin=Origin("orchestrator", "1", "blue"), workflow_id=WF, session_id="s",
                    correlation_id=WF, causation_id=cause, from_phase="GENERATION", to_phase="REVIEW", reason="")
    return _record("uf.workflow.events", 5, ev, ORCH)


def _content(rec: tuple[dict[str, Any], str, Any, str]) -> attestation.ReviewedContent:
    r = rec[0]
    headers = [(n, base64.b64decode(v)) for n, v in r["headers"]]
    digest = content_hash(r["timestamp"], base64.b64decode(r["key"]), base64.b64decode(r["value"]), headers)
    return attestation.ReviewedContent(r["topic"], r["partition"], r["offset"], digest.hex())


def _review(content: attestation.ReviewedContent, *, approved: bool = True, attest_approved: bool | None = None,
            statement_signer: Signer = UFCTL, record_signer: Signer = UFCTL, edit=None, sig_edit=None,
            attest: bool = True) -> tuple[dict[str, Any], str, Any, str]:
    ev = make_event("ReviewDecided", origin=CLI, workflow_id=WF, session_id="s", correlation_id=WF, approved=approved,
                    reviewer_id="alice", reviewer_roles=["reviewer"], token_sha256="00" * 32, token_expires_at=1)
    if attest:
        text = attestation.statement(WF, approved if attest_approved is None else attest_approved, "alice", ["reviewer"],
                                     ev["envelope"]["occurred_at"], content, POLICY)
        key_id, sig = attestation.sign(statement_signer, text)
        ev["attestation"] = edit(text) if edit else text
        ev["attestation_key_id"], ev["attestation_signature"] = key_id, sig_edit(sig) if sig_edit else sig
    return _record("uf.review.decisions", 2, ev, record_signer)


def _check(records, keys=None) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    pubs = keys if keys is not None else {s.key_id: s.private.public_key() for s in (ORCH, UFCTL)}
    lines = attestations.check_reviews(WF, records, pubs, problems.append, set())
    return lines, problems


@pytest.fixture
def gen():
    return _generation(7, "sealed-emails-v1")


def test_an_intact_attestation_verifies_with_only_the_public_keys(gen):
    entered = _entered_review(gen[2]["envelope"]["event_id"])
    lines, problems = _check([gen, entered, _review(_content(gen))])
    assert problems == []
    assert len(lines) == 1 and "approve by alice (reviewer)" in lines[0] and _content(gen).record_sha256[:16] in lines[0]
    assert f"attested by {UFCTL.key_id}" in lines[0]


def test_the_kit_statement_is_what_the_verifier_parses(gen):
    text = attestation.statement(WF, False, "alice", ["b", "a"], 123, _content(gen), POLICY)
    assert attestations._parse(text) == attestation.parse(text)
    assert attestation.parse(text)["reviewer_roles"] == ["a", "b"]
    key_id, sig = attestation.sign(UFCTL, text)
    assert attestations._signature_ok(UFCTL.private.public_key(), attestations._parse(text), text, sig)
    assert attestation.verify(UFCTL.private.public_key(), text, sig)
    # domain-separated: the statement's signature is no record signature and vice versa
    assert not attestation.verify(UFCTL.private.public_key(), text, UFCTL.sign(text.encode()).hex())


@pytest.mark.parametrize("case, expected", [
    ("flipped signature", "signature invalid"),
    ("altered statement", "signature invalid"),
    ("unknown key", "a key not in the bundle"),
    ("another bundled key", "but the record was signed by"),
    ("decision differs", "disagrees with its record on decision"),
    ("not canonical", "malformed"),
    ("stripped", "without its attestation"),
])
def test_a_tampered_or_forged_attestation_is_named(gen, case, expected):
    content = _content(gen)
    keys = {s.key_id: s.private.public_key() for s in (ORCH, UFCTL)}
    review = {
        "flipped signature": lambda: _review(content, sig_edit=lambda s: ("0" if s[0] != "0" else "1") + s[1:]),
        "altered statement": lambda: _review(content, edit=lambda t: t.replace('"alice"', '"mallory"')),
        "unknown key": lambda: _review(content, statement_signer=OTHER),
        "another bundled key": lambda: _review(content, statement_signer=ORCH),
        "decision differs": lambda: _review(content, approved=False, attest_approved=True),
        "not canonical": lambda: _review(content, edit=lambda t: t.replace(",", ", ", 1)),
        "stripped": lambda: _review(content, attest=False),
    }[case]()
    _, problems = _check([gen, _entered_review(gen[2]["envelope"]["event_id"]), review], keys)
    assert len(problems) == 1 and expected in problems[0], problems
    assert problems[0].startswith("review decision uf.review.decisions[0]@2")


def test_content_other_than_what_entered_review_is_named(gen):
    other = _generation(9, "sealed-emails-v2")
    entered = _entered_review(gen[2]["envelope"]["event_id"])
    forged_hash = attestation.ReviewedContent(*list(_content(gen).as_dict().values())[:3], record_sha256="ab" * 32)
    _, problems = _check([gen, other, entered, _review(forged_hash)])
    assert len(problems) == 1 and "hashes otherwise (not what was reviewed)" in problems[0]
    # `other` shares the stable event id (a redelivered result with different bytes): its own
    # position and hash check out, so it passes as the result that caused REVIEW...
    _, problems = _check([gen, other, entered, _review(_content(other))])
    assert problems == []
    # ...but a result the workflow did not enter REVIEW with does not.
    entered_other = _entered_review("some-other-result")
    _, problems = _check([gen, entered_other, _review(_content(gen))])
    assert len(problems) == 1 and "not the content the workflow entered REVIEW with" in problems[0]
    missing = attestation.ReviewedContent("uf.agent.results", 0, 99, _content(gen).record_sha256)
    _, problems = _check([gen, entered, _review(missing)])
    assert len(problems) == 1 and "not in the bundle" in problems[0]


def test_automatic_proposals_need_no_attestation_but_only_from_the_orchestrator(gen):
    ev = make_event("ReviewDecided", origin=Origin("orchestrator", "1", "blue"), workflow_id=WF, session_id="s",
                    correlation_id=WF, approved=True, reviewer_id="policy:auto-approve", reason="auto")
    lines, problems = _check([gen, _record("uf.review.decisions", 3, ev, ORCH)])
    assert problems == [] and "automatic proposal" in lines[0]
    _, problems = _check([gen, _record("uf.review.decisions", 3, ev, UFCTL)])
    assert len(problems) == 1 and "without its attestation" in problems[0]


# --- the orchestrator acts only on an attested human decision --------------------------------

async def _in_review(trust):
    from services.kit.contracts.codec import Decoded
    from services.orchestrator.workflow import WorkflowEngine
    from tests.unit import test_workflow_engine as wfe

    engine = WorkflowEngine(wfe.P, wfe.KEYS, wfe.ScriptedValidator(), trust=trust)
    state, emitted = await wfe.drive(engine, wfe.request(auto_approve=False), None)
    generation = None
    for n in range(3):
        task = next(e for t, e in emitted if t == "uf.agent.tasks")
        source = attestation.ReviewedContent("uf.agent.results", 0, 40 + n, f"{n:02d}" * 32)
        fx = await engine.handle(wfe.agent_result(task), state, "test", source)
        state, emitted, generation = fx.state, fx.emit, source
    assert state.phase == "REVIEW" and state.review_content == generation.as_dict()
    return engine, state, generation, Decoded


def _decision(state, content, *, statement_signer=UFCTL, approved=True, attest=True, policy=POLICY):
    ev = make_event("ReviewDecided", origin=CLI, workflow_id=state.workflow_id, session_id="s",
                    correlation_id=state.workflow_id, approved=approved, reviewer_id="alice", reviewer_roles=["reviewer"],
                    reason="" if approved else "tone")
    if attest:
        text = attestation.statement(state.workflow_id, approved, "alice", ["reviewer"], ev["envelope"]["occurred_at"], content,
                                     policy)
        ev["attestation"] = text
        ev["attestation_key_id"], ev["attestation_signature"] = attestation.sign(statement_signer, text)
    return ev


async def test_the_orchestrator_acts_only_on_an_attestation_of_the_content_under_review():
    from services.kit.messaging.bus import SemanticError
    from services.kit.security.signing import TrustStore

    trust = TrustStore(Path("/nonexistent"))
    trust.add(UFCTL.key_id, UFCTL.private.public_key())
    engine, state, generation, decoded = await _in_review(trust)
    other = attestation.ReviewedContent(generation.topic, generation.partition, generation.offset, "ff" * 32)
    refused = {
        "no review attestation": _decision(state, generation, attest=False),
        "names other content": _decision(state, other),
        "signature invalid": {**_decision(state, generation, statement_signer=OTHER), "attestation_key_id": UFCTL.key_id},
    }
    for reason, ev in refused.items():
        with pytest.raises(SemanticError) as exc:
            await engine.handle(decoded("ReviewDecided", 4, ev), state, "ufctl")
        assert exc.value.reason == "review-attestation-invalid" and reason in exc.value.detail
    with pytest.raises(SemanticError) as exc:  # attested by one service, recorded by another
        await engine.handle(decoded("ReviewDecided", 4, _decision(state, generation)), state, "pii")
    assert "not signed by the service that signed the decision" in exc.value.detail
    fx = await engine.handle(decoded("ReviewDecided", 4, _decision(state, generation)), state, "ufctl")
    assert fx.state.phase == "DELIVERY"


VALIDATOR = Signer("validator", Ed25519PrivateKey.generate())
DELIVERY = Signer("delivery", Ed25519PrivateKey.generate())


def _delivery(review: tuple[dict[str, Any], str, Any, str], content: attestation.ReviewedContent, *,
              request_cause: str | None = None, decided_under: str = POLICY, requested: str | None = None,
              confirmed: str | None = None, automatic: bool = False):
    """The rest of a workflow after `review`: the validation decision and phase change into
    DELIVERY, one delivery request naming `requested` (default: the approved content) and its
    SENT confirmation naming `confirmed` (default: the same)."""
    review_ev = review[2]
    decision = make_event("ValidationDecided", origin=Origin("validator", "1", "blue"), workflow_id=WF, session_id="s",
                          correlation_id=WF, decision_id="dec-delivery", from_phase="REVIEW", to_phase="DELIVERY",
                          actor_id="a", allowed=True, policy_version=decided_under, rules=[], policy_sha256="", facts="{}")
    change = make_event("WorkflowPhaseChanged", origin=Origin("orchestrator", "1", "blue"), workflow_id=WF, session_id="s",
                        correlation_id=WF, causation_id=review_ev["envelope"]["event_id"], from_phase="REVIEW",
                        to_phase="DELIVERY", reason="", decision_id="dec-delivery")
    named = {**content.as_dict(), "record_sha256": requested or content.record_sha256}
    request = make_event("DeliveryRequested", origin=Origin("orchestrator", "1", "blue"), workflow_id=WF, session_id="s",
                         correlation_id=WF, causation_id=request_cause or change["envelope"]["event_id"], delivery_id="d1",
                         subject_id="s1", recipient="r", sender="x", subject="y", body="z", approved_content=named,
                         approved_by=review_ev["reviewer_id"], attestation="" if automatic else review_ev["attestation"],
                         attestation_key_id="" if automatic else review_ev["attestation_key_id"],
                         attestation_signature="" if automatic else review_ev["attestation_signature"])
    outcome = make_event("DeliveryOutcome", origin=Origin("delivery", "1", "blue"), workflow_id=WF, session_id="s",
                         correlation_id=WF, causation_id=request["envelope"]["event_id"], delivery_id="d1", status="SENT",
                         message_id="<m>", duplicate=False, error="",
                         approved_content_sha256=confirmed or content.record_sha256)
    return [_record("uf.validation.decisions", 3, decision, VALIDATOR), _record("uf.workflow.events", 8, change, ORCH),
            _record("uf.delivery.requests", 0, request, ORCH), _record("uf.delivery.outcomes", 0, outcome, DELIVERY)]


def test_what_is_sent_follows_an_approval_that_holds(gen):
    entered = _entered_review(gen[2]["envelope"]["event_id"])
    content = _content(gen)
    good = _review(content)
    lines, problems = _check([gen, entered, good, *_delivery(good, content)])
    assert problems == []
    assert f"under policy {POLICY}" in lines[0]
    assert f"delivery   1 request(s), 1 sent, each checked of the approved content {content.record_sha256[:16]}" in lines[1]
    forged = _review(content, sig_edit=lambda s: ("0" if s[0] != "0" else "1") + s[1:])
    _, problems = _check([gen, entered, forged, *_delivery(forged, content)])
    assert any("-> DELIVERY: not caused by an approval in the bundle that holds" in p for p in problems), problems
    _, problems = _check([gen, entered, good, *_delivery(good, content, request_cause="elsewhere")])
    assert len(problems) == 1 and "not caused by the phase change into DELIVERY" in problems[0]


@pytest.mark.parametrize("case, expected", [
    ("confirmation names other content", "what was delivered is not what was approved"),
    ("request names other content", "what was to be sent is not what was approved"),
    ("decided under another policy", "but the approval was attested under policy p-test"),
])
def test_a_delivery_that_does_not_match_the_attestation_fails_the_bundle(gen, case, expected):
    entered = _entered_review(gen[2]["envelope"]["event_id"])
    content, good = _content(gen), _review(_content(gen))
    other = "cd" * 32
    rest = {"confirmation names other content": lambda: _delivery(good, content, confirmed=other),
            "request names other content": lambda: _delivery(good, content, requested=other),
            "decided under another policy": lambda: _delivery(good, content, decided_under="p-other")}[case]()
    _, problems = _check([gen, entered, good, *rest])
    assert len(problems) == 1 and expected in problems[0], problems


def test_an_automatic_approval_binds_delivery_to_the_content_that_entered_review(gen):
    entered = _entered_review(gen[2]["envelope"]["event_id"])
    ev = make_event("ReviewDecided", origin=Origin("orchestrator", "1", "blue"), workflow_id=WF, session_id="s",
                    correlation_id=WF, approved=True, reviewer_id="policy:auto-approve", reason="auto")
    auto = _record("uf.review.decisions", 3, ev, ORCH)
    content = _content(gen)
    _, problems = _check([gen, entered, auto, *_delivery(auto, content, automatic=True, decided_under="any")])
    assert problems == []
    _, problems = _check([gen, entered, auto, *_delivery(auto, content, automatic=True, confirmed="cd" * 32)])
    assert len(problems) == 1 and "what was delivered is not what was approved" in problems[0]


def test_a_v1_statement_still_verifies_but_is_not_acted_on(gen):
    """Statements are kept forever: /1 (no policy version) ones stay verifiable offline; the
    orchestrator no longer acts on one (tested below)."""
    content = _content(gen)
    v1 = json.dumps({"type": "uf.review-attestation/1", "workflow_id": WF, "decision": "approve", "reviewer_id": "alice",
                     "reviewer_roles": ["reviewer"], "decided_at": 1, "content": content.as_dict()},
                    sort_keys=True, separators=(",", ":"))
    sig = UFCTL.sign(b"uf.review-attestation.v1\x00" + v1.encode()).hex()
    assert attestation.verify(UFCTL.private.public_key(), v1, sig)
    assert attestation.parse(v1)["type"] == "uf.review-attestation/1"
    # the domains differ: the v1 signature does not carry over to the same fields as a v2 statement
    v2 = attestation.statement(WF, True, "alice", ["reviewer"], 1, content, POLICY)
    assert not attestation.verify(UFCTL.private.public_key(), v2, sig)
    rebuilt = make_event("ReviewDecided", origin=CLI, workflow_id=WF, session_id="s", correlation_id=WF, occurred_at=1,
                         approved=True, reviewer_id="alice", reviewer_roles=["reviewer"], attestation=v1,
                         attestation_key_id=UFCTL.key_id, attestation_signature=sig)
    rec = _record("uf.review.decisions", 2, rebuilt, UFCTL)
    lines, problems = _check([gen, _entered_review(gen[2]["envelope"]["event_id"]), rec])
    assert problems == [] and "(statement /1: names no policy)" in lines[0]
    assert attestation.problem_with(rebuilt, "ufctl", _trust(), content.as_dict()) == \
        "review attestation is a uf.review-attestation/1 statement (names no policy version): review again"


def _trust():
    from services.kit.security.signing import TrustStore

    trust = TrustStore(Path("/nonexistent"))
    trust.add(UFCTL.key_id, UFCTL.private.public_key())
    return trust


async def test_an_approval_counts_only_under_the_policy_it_attests():
    from services.kit.messaging.bus import SemanticError
    from services.orchestrator.validation import Verdict
    from tests.unit import test_workflow_engine as wfe

    engine, state, generation, decoded = await _in_review(_trust())
    with pytest.raises(SemanticError) as exc:
        await engine.handle(decoded("ReviewDecided", 4, _decision(state, generation, policy="p-old")), state, "ufctl")
    assert exc.value.reason == "review-policy-changed" and "attested under policy p-old" in exc.value.detail
    # parked for the validator, then decided under a policy switched in the meantime: void, wait for a new review
    engine.validator = wfe.ScriptedValidator(deny={"DELIVERY": Verdict(False, "validator unavailable", unavailable=True)})
    fx = await engine.handle(decoded("ReviewDecided", 4, _decision(state, generation)), state, "ufctl")
    assert fx.state.phase == "REVIEW" and fx.state.parked is not None and fx.state.review.policy_version == POLICY
    engine.validator = wfe.ScriptedValidator(deny={"DELIVERY": Verdict(True, "allowed", decision_id="d", policy_version="p-new")})
    retried = await engine.retry_parked(fx.state)
    assert retried.state.phase == "REVIEW" and retried.state.review is None and retried.state.parked is None
    (waiting,) = [e for _t, e in retried.emit]
    assert waiting["kind"] == "review-again" and "review again" in waiting["reason"]


async def test_delivery_requests_carry_the_approval_they_are_sent_under():
    engine, state, generation, decoded = await _in_review(_trust())
    ev = _decision(state, generation)
    fx = await engine.handle(decoded("ReviewDecided", 4, ev), state, "ufctl")
    requests = [e for t, e in fx.emit if t == "uf.delivery.requests"]
    assert requests and all(r["approved_content"] == generation.as_dict() and r["attestation"] == ev["attestation"]
                            and r["attestation_signature"] == ev["attestation_signature"] and r["approved_by"] == "alice"
                            for r in requests)


def test_the_ingress_names_the_newest_valid_activation_as_the_policy_in_force(monkeypatch):
    """An activation the validator refused (missing or invalid file) leaves the previous one in
    force: the ingress must not attest it."""
    from ufctl import publishing

    class History:
        def __init__(self, versions):
            self.versions = [v.encode() for v in versions]

        def lrange(self, *_):
            return self.versions

    older, newest = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "policies").glob("*.yaml"))[-2:]
    monkeypatch.setattr(publishing.redis_auth, "credentials", lambda *_a, **_k: {})
    for history, expected in (([newest, older], older), ([older, "zz-refused"], older), ([], newest)):
        monkeypatch.setattr(publishing.redis.Redis, "from_url", lambda *_a, h=history, **_k: History(h))
        assert publishing.policy_in_force() == expected


async def test_a_delivery_refused_as_not_approved_fails_the_workflow_with_the_reason():
    engine, state, generation, decoded = await _in_review(_trust())
    fx = await engine.handle(decoded("ReviewDecided", 4, _decision(state, generation)), state, "ufctl")
    request = next(e for t, e in fx.emit if t == "uf.delivery.requests")
    outcome = make_event("DeliveryOutcome", origin=Origin("delivery", "1", "blue"), workflow_id=state.workflow_id,
                         session_id="s", correlation_id=state.workflow_id, delivery_id=request["delivery_id"],
                         status="FAILED", error="not what was approved: the email differs from the approved content in body")
    done = await engine.handle(decoded("DeliveryOutcome", 2, outcome), fx.state)
    assert done.state.phase == "FAILED"
    assert done.state.reason == "delivery failed: not what was approved: the email differs from the approved content in body"
