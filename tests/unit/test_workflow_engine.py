"""The orchestrator's phase logic with a scripted validator (pure logic; the real gRPC path is
covered by the integration tests)."""
from __future__ import annotations

import json

import pytest

from services.kit.contracts import codec
from services.kit.contracts.codec import Decoded
from services.kit.contracts.events import Origin, caused_by, make_event
from services.kit.contracts.phases import Phase
from services.kit.messaging.bus import SemanticError
from services.kit.runtime.paths import ROOT
from services.kit.security.sealing import open_blob, seal_blob
from services.orchestrator.agents.registry import agent_for_phase
from services.orchestrator.state import WorkflowState
from services.orchestrator.validation import Verdict
from services.orchestrator.workflow import WorkflowEngine
from tests.unit.memory_keys import MemoryKeys
from ufctl import publishing

EXAMPLE = json.loads((ROOT / "examples" / "campaign.json").read_text())

KEYS = MemoryKeys()

P = Origin("test", "0", "blue")
POLICY = "p-test"  # the version the scripted validator decides under


class ScriptedValidator:
    def __init__(self, deny: dict[str, Verdict] | None = None) -> None:
        self.deny, self.asked = deny or {}, []

    async def validate(self, request):
        self.asked.append(request.target_phase)
        return self.deny.get(request.target_phase, Verdict(True, "allowed", decision_id=f"d-{request.target_phase}",
                                                                policy_version=POLICY))


def request(**overrides):
    doc = {**json.loads(json.dumps(EXAMPLE)), "workflow_id": "wf-1", **overrides}
    return Decoded("WorkflowRequested", 1, publishing.request_event(doc))


async def drive(engine, decoded, state, signer="test"):
    fx = await engine.handle(decoded, state, signer)
    return (fx.state if fx.state is not None else state), fx.emit


def agent_result(task):
    out = seal_blob(KEYS, agent_for_phase(task["phase"]).run(open_blob(KEYS, json.loads(task["input_json"]))))
    return Decoded("AgentTaskCompleted", 1, make_event(
        "AgentTaskCompleted", origin=P, **caused_by(task), task_id=task["task_id"], phase=task["phase"],
        agent=task["agent"], ok=True, output_json=json.dumps(out), error=""))


async def test_happy_path_asks_the_validator_before_every_transition():
    v = ScriptedValidator()
    engine = WorkflowEngine(P, KEYS, v)
    state, emitted = await drive(engine, request(), None)
    every = list(emitted)
    for _ in range(3):
        task = next(e for t, e in emitted if t == "uf.agent.tasks")
        state, emitted = await drive(engine, agent_result(task), state)
        every += emitted
    review = next(e for t, e in emitted if t == "uf.review.decisions")
    state, emitted = await drive(engine, Decoded("ReviewDecided", 1, review), state)
    every += emitted
    deliveries = [e for t, e in emitted if t == "uf.delivery.requests"]
    assert len(deliveries) == 3  # the opted-out contact is not discovered
    for d in deliveries:
        outcome = make_event("DeliveryOutcome", origin=P, **caused_by(d), delivery_id=d["delivery_id"], status="SENT")
        state, emitted = await drive(engine, Decoded("DeliveryOutcome", 1, outcome), state)
    assert state.phase == "COMPLETED"
    for _, event in every:
        wire = codec.encode(event)
        for c in EXAMPLE["contacts"]:
            assert c["email"].encode() not in wire and c["name"].encode() not in wire, event["envelope"]["event_type"]
    assert v.asked == ["INITIALIZATION", "BATCH_DISCOVERY", "STRATEGY_ANALYSIS", "GENERATION", "REVIEW", "DELIVERY", "COMPLETED"]
    assert state.request is None and state.outputs == {}, "no PII kept in state once finished"


async def test_state_keeps_no_token_and_no_clear_campaign_text():
    doc = request()
    token = doc.record["auth_token"] = "eyJhbGciOiJIUzI1NiJ9.secret-token.sig"
    doc.record["campaign"]["variables"]["hotline"] = "call Officer Ray on +44 20 7946 0958"
    state, _ = await drive(WorkflowEngine(P, KEYS, ScriptedValidator()), doc, None)
    raw = state.to_json()
    assert token.encode() not in raw and b"secret-token" not in raw
    assert b"7946" not in raw and doc.record["campaign"]["name"].encode() not in raw
    assert state.token_sha256 and len(state.token_sha256) == 64


async def test_an_automatic_approval_not_from_the_orchestrator_is_refused():
    engine = WorkflowEngine(P, KEYS, ScriptedValidator())
    state, _ = await drive(engine, request(), None)
    state.phase = Phase.REVIEW
    forged = make_event("ReviewDecided", origin=P, workflow_id=state.workflow_id, session_id="s",
                        correlation_id=state.workflow_id, approved=True, reviewer_id="policy:auto-approve")
    with pytest.raises(SemanticError) as exc:
        await engine.handle(Decoded("ReviewDecided", 1, forged), state, "ufctl")
    assert exc.value.reason == "review-not-authorised"


async def test_denial_rejects_and_unavailability_parks():
    engine = WorkflowEngine(P, KEYS, ScriptedValidator({"INITIALIZATION": Verdict(False, "session_ownership: not owned", decision_id="d")}))
    state, emitted = await drive(engine, request(), None)
    assert state.phase == "REJECTED" and "not owned" in state.reason
    assert [t for t, _ in emitted] == ["uf.workflow.events"]
    engine = WorkflowEngine(P, KEYS, ScriptedValidator({"INITIALIZATION": Verdict(False, "validator unavailable at x", unavailable=True)}))
    state, emitted = await drive(engine, request(), None)
    assert state.phase is None and not state.finished, "overload is back-pressure, never a verdict"
    assert state.parked is not None and state.parked.target == "INITIALIZATION" and "validator" in state.parked.reason
    assert [e["envelope"]["event_type"] for _, e in emitted] == ["WorkflowWaiting"]


async def test_parked_workflow_moves_on_once_a_decision_comes_and_fails_only_after_its_budget():
    busy = Verdict(False, "validator could not decide: deadline", decision_id="d0", unavailable=True, retry_budget_s=60)
    v = ScriptedValidator({"INITIALIZATION": busy})
    engine = WorkflowEngine(P, KEYS, v)
    state, _ = await drive(engine, request(), None)
    assert state.parked and state.parked.budget_deadline - state.parked.since == 60_000, "the policy's budget applies"
    assert state.parked.since <= state.parked.next_attempt_at <= state.parked.budget_deadline
    restored = WorkflowState.from_json(state.to_json())  # the timer survives a restart: it is in the state
    assert restored.parked == state.parked
    fx = await engine.retry_parked(restored)
    assert fx.state.parked.attempts == 2 and fx.state.phase is None
    v.deny.clear()  # the validator answers again
    fx = await engine.retry_parked(fx.state)
    assert fx.state.parked is None and fx.state.phase == "BATCH_DISCOVERY"  # INITIALIZATION, then on
    v.deny["INITIALIZATION"] = busy
    state, _ = await drive(engine, request(), None)
    state.parked.since -= 61_000
    state.parked.budget_deadline -= 61_000
    fx = await engine.retry_parked(state)
    assert fx.state.phase == "FAILED" and "retry budget" in fx.state.reason and "deadline" in fx.state.reason


async def test_a_workflow_parked_before_initialization_keeps_its_token_sealed_and_uses_it_on_retry():
    class TokenSeen(ScriptedValidator):
        tokens: list[str] = []

        async def validate(self, request):
            self.tokens.append(request.actor.auth_token)
            return await super().validate(request)

    busy = Verdict(False, "validator unavailable at x", unavailable=True)
    v = TokenSeen({"INITIALIZATION": busy})
    doc = request()
    token = doc.record["auth_token"] = "eyJhbGciOiJIUzI1NiJ9.secret-token.sig"
    state, _ = await drive(WorkflowEngine(P, KEYS, v), doc, None)
    assert b"secret-token" not in state.to_json(), "never in clear on the changelog"
    v.deny.clear()
    fx = await WorkflowEngine(P, KEYS, v).retry_parked(WorkflowState.from_json(state.to_json()))
    assert fx.state.phase == "BATCH_DISCOVERY" and v.tokens[-2] == token
    assert fx.state.parked is None and b"secret-token" not in fx.state.to_json()


def test_state_records_written_before_parking_existed_still_load():
    old = {"workflow_id": "w", "session_id": "s", "correlation_id": "w", "request_event_id": "e", "requester_id": "u",
           "purpose": "marketing", "auto_approve": False, "subject_ids": [], "request": None, "phase": "REVIEW"}
    assert WorkflowState.from_json(json.dumps(old)).parked is None


async def test_oversized_field_is_refused_at_the_door():
    doc = json.loads(json.dumps(EXAMPLE))
    doc["campaign"]["variables"] = {"blob": "x" * 600_000}
    with pytest.raises(SemanticError) as exc:
        await WorkflowEngine(P, KEYS, ScriptedValidator()).handle(request(**doc), None)
    assert exc.value.reason == "field-too-large"


async def test_redelivered_request_is_a_no_op_and_a_reused_id_is_refused():
    engine = WorkflowEngine(P, KEYS, ScriptedValidator())
    decoded = request()
    state, _ = await drive(engine, decoded, None)
    fx = await engine.handle(decoded, state)
    assert fx.state is None and fx.emit == []
    with pytest.raises(SemanticError) as exc:
        await engine.handle(request(), state)
    assert exc.value.reason == "duplicate-workflow-id"


@pytest.mark.parametrize("change", [
    {"contacts": []},
    {"campaign": {**EXAMPLE["campaign"], "goal": ""}},
    {"contacts": [EXAMPLE["contacts"][0], EXAMPLE["contacts"][0]]},
])
async def test_semantically_invalid_requests_are_refused(change):
    with pytest.raises(SemanticError) as exc:
        await WorkflowEngine(P, KEYS, ScriptedValidator()).handle(request(**change), None)
    assert exc.value.reason == "invalid-request"


async def test_review_decision_outside_review_is_refused():
    engine = WorkflowEngine(P, KEYS, ScriptedValidator())
    state, _ = await drive(engine, request(), None)
    review = make_event("ReviewDecided", origin=P, workflow_id="wf-1", session_id="s", correlation_id="wf-1", approved=True, reviewer_id="r")
    with pytest.raises(SemanticError) as exc:
        await engine.handle(Decoded("ReviewDecided", 1, review), state)
    assert exc.value.reason == "review-not-pending"


async def test_state_round_trips_through_the_changelog_and_old_records_load():
    from services.orchestrator.state import WorkflowState

    state, _ = await drive(WorkflowEngine(P, KEYS, ScriptedValidator()), request(), None)
    again = WorkflowState.from_json(state.to_json())
    assert again == state and again.phase is state.phase
    # a changelog record written before the state was typed (a plain dict with string phases)
    old = {"workflow_id": "wf-0", "session_id": "s", "correlation_id": "wf-0", "request_event_id": "e",
           "requester_id": "u", "auth_token": "old.bearer.token", "purpose": "marketing", "auto_approve": True,
           "subject_ids": ["a"], "request": None, "phase": "COMPLETED",
           "history": [{"phase": "INITIALIZATION", "at": 1, "reason": "allowed", "decision_id": "d"}],
           "outputs": {}, "summary": {}, "task_id": None, "review": None, "deliveries": {"x": "SENT"}, "reason": "allowed"}
    loaded = WorkflowState.from_json(json.dumps(old))
    assert loaded.phase == "COMPLETED" and loaded.history[0].phase == "INITIALIZATION" and loaded.deliveries == {"x": "SENT"}
    assert b"old.bearer.token" not in loaded.to_json(), "a token in an old record is dropped on the next write"


def _full_state():
    from services.orchestrator.state import HistoryEntry, Parking, Request, Review, WorkflowState
    return WorkflowState(
        workflow_id="wf", session_id="s", correlation_id="c", request_event_id="e", requester_id="r", purpose="marketing",
        auto_approve=True, subject_ids=["a", "b"], request=Request(campaign={"name": "n", "nested": {"x": [1, 2]}}, contacts="sealed"),
        token_sha256="h", phase=Phase.REVIEW, history=[HistoryEntry(Phase.INITIALIZATION, 1, "why", "d1")],
        outputs={Phase.BATCH_DISCOVERY: {"recipients": [{"subject_id": "a"}]}}, summary={"k": [1]}, task_id="t",
        review=Review(True, "rev", "ev", ["reviewer"], "th"), deliveries={"d": "SENT"}, reason="x",
        parked=Parking(Phase.DELIVERY, "c", "r", "undecided", 1, 2, 3, 4, "tok"))


def test_state_dict_names_every_field_and_matches_asdict():
    """to_dict is written by hand (speed): a field added to a dataclass must not silently miss
    the changelog record."""
    from dataclasses import asdict, fields
    state = _full_state()
    doc = state.to_dict()
    assert set(doc) == {f.name for f in fields(state)}
    reference = asdict(state)
    reference["phase"] = state.phase.value
    reference["history"] = [{**asdict(h), "phase": h.phase.value} for h in state.history]
    reference["outputs"] = {p.value: o for p, o in state.outputs.items()}
    reference["parked"] = {**asdict(state.parked), "target": state.parked.target.value}
    assert doc == reference
    assert WorkflowState.from_json(state.to_json()) == state


def test_clone_is_a_deep_copy():
    state = _full_state()
    twin = state.clone()
    assert twin == state
    twin.outputs[Phase.BATCH_DISCOVERY]["recipients"].append({"subject_id": "c"})
    twin.request.campaign["nested"]["x"].append(3)
    twin.history.append(twin.history[0])
    twin.deliveries["e"] = "PENDING"
    twin.parked.attempts += 1
    twin.review.roles.append("admin")
    assert state == _full_state(), "the committed state is untouched by a handler working on its copy"


class WarmedOnly(MemoryKeys):
    """Keys that note every look-up of a subject the current event did not `warm` first: in a
    service each would be a Redis round trip blocking the event loop (or, after a rebalance, on
    an instance whose cache is cold)."""

    def __init__(self, shared: MemoryKeys) -> None:
        super().__init__()
        self.keys = shared.keys  # the same key material the test's agents seal with
        self.warmed: set[str] = set()
        self.cold: list[str] = []

    async def warm(self, subject_ids) -> None:
        self.warmed |= set(subject_ids)

    def get(self, subject_id: str):
        if subject_id not in self.warmed:
            self.cold.append(subject_id)
        return super().get(subject_id)

    def get_or_create(self, subject_id: str, retention_s: int | None = None):
        if subject_id not in self.warmed:
            self.cold.append(subject_id)
        return super().get_or_create(subject_id, retention_s)


async def test_every_key_look_up_of_an_event_was_warmed_by_that_event():
    """The engine warms the key cache (asynchronously) with every subject an event's handling
    opens or seals with, so no key look-up blocks the orchestrator's loop - checked per event
    over a whole workflow, each event handled as if by a fresh instance."""
    KEYS.get_or_create("workflow:wf-1")  # minted where the request enters (ufctl), as in the suite
    keys = WarmedOnly(KEYS)
    engine = WorkflowEngine(P, keys, ScriptedValidator())

    async def step(decoded, state):
        keys.warmed.clear()
        return await drive(engine, decoded, state)

    state, emitted = await step(request(), None)
    for _ in range(3):
        task = next(e for t, e in emitted if t == "uf.agent.tasks")
        state, emitted = await step(agent_result(task), state)
    review = next(e for t, e in emitted if t == "uf.review.decisions")
    state, emitted = await step(Decoded("ReviewDecided", 1, review), state)
    for d in [e for t, e in emitted if t == "uf.delivery.requests"]:
        outcome = make_event("DeliveryOutcome", origin=P, **caused_by(d), delivery_id=d["delivery_id"], status="SENT")
        state, emitted = await step(Decoded("DeliveryOutcome", 1, outcome), state)
    assert state.phase == "COMPLETED"
    assert keys.cold == [], f"looked up without warming: {sorted(set(keys.cold))}"


async def test_a_parked_workflows_retry_looks_up_only_keys_it_warmed():
    """The durable timer's path (`retry_parked`) opens the sealed token and the facts' contacts
    without an event to warm from: it warms from the state itself."""
    KEYS.get_or_create("workflow:wf-1")
    keys = WarmedOnly(KEYS)
    busy = Verdict(False, "validator could not decide: deadline", decision_id="d0", unavailable=True, retry_budget_s=60)
    v = ScriptedValidator({"INITIALIZATION": busy})
    engine = WorkflowEngine(P, keys, v)
    state, _ = await drive(engine, request(), None)
    assert state.parked is not None
    v.deny.clear()
    keys.warmed.clear()
    keys.cold.clear()
    fx = await engine.retry_parked(WorkflowState.from_json(state.to_json()))  # as after a restart
    assert fx.state.phase == "BATCH_DISCOVERY"
    assert keys.cold == [], f"looked up without warming: {sorted(set(keys.cold))}"
