"""Fail-closed building blocks: circuit breaker, token verification, rule evaluation errors."""
from __future__ import annotations

import time

from services.kit.rpc import validator_pb2
from services.kit.security import jwt_tokens as tokens
from services.orchestrator.circuit import CircuitBreaker
from services.validator.rules import RULES


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown():
    b = CircuitBreaker("x", threshold=3, cooldown_s=0.05)
    for _ in range(3):
        assert b.allow()
        b.failure()
    assert b.is_open and not b.allow()
    time.sleep(0.06)
    assert b.allow(), "one trial after the cooldown"
    assert not b.allow(), "only one trial at a time"
    b.failure()
    assert b.is_open and not b.allow(), "a failed trial re-opens"
    time.sleep(0.06)
    assert b.allow()
    b.success()
    assert not b.is_open and b.allow()


def test_token_verifier_reasons(tmp_path, monkeypatch):
    monkeypatch.setenv("UF_AUTH_KEY_FILE", str(tmp_path / "k"))
    verifier = tokens.TokenVerifier(tokens.load_key(create=True))
    good = tokens.issue("ann")
    claims, reason = verifier.verify(good)
    assert reason == "" and claims["sub"] == "ann"
    assert verifier.verify(tokens.issue("ann", ttl_s=-60))[1] == "token expired"
    assert verifier.verify(tokens.issue("ann", audience="x"))[1] == "token audience mismatch"
    assert verifier.verify("")[1] == "no token"
    assert "invalid" in verifier.verify("not.a.jwt")[1]
    assert tokens.TokenVerifier(None).verify(good)[1] == "no token verification key configured"
    assert good not in str(verifier.verify(good[:-2] + "xx"))


async def test_a_rule_that_raises_denies():
    from pathlib import Path

    from services.validator.config import ValidatorSettings
    from services.validator.policy.loader import load_policy_file
    from services.validator.servicer import evaluate

    class Broken:
        async def session(self, _):
            raise ConnectionError("redis down")

        async def consent(self, *_):
            raise ConnectionError("redis down")

    class Deps:
        store = Broken()
        tokens = tokens.TokenVerifier(b"k" * 32)

        async def barrier(self):
            return True

    policy = load_policy_file(Path(ValidatorSettings().policy_dir) / "2026.11.1.yaml").policy
    req = validator_pb2.ValidateTransitionRequest(
        snapshot=validator_pb2.WorkflowSnapshot(workflow_id="w", session_id="s", subject_ids=["a"], purpose="marketing"),
        target_phase="INITIALIZATION", actor=validator_pb2.Actor(user_id="u", auth_token=""))
    outcomes = await evaluate(req, policy, Deps())
    by_rule = {o.rule: o for o in outcomes}
    assert by_rule["phase_machine"].allowed
    assert not by_rule["session_ownership"].allowed and by_rule["session_ownership"].reason == "rule error: ConnectionError"
    assert not by_rule["authenticated"].allowed
    assert set(by_rule) <= set(RULES) | {"phase_machine"}
