"""Client side of the fail-closed gate: ask the validator before every transition. A missing
answer is a denial: after bounded retries with backoff, the caller gets `unavailable=True` and a
reason that names the validator."""
from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import grpc

from services.kit.rpc import validator_pb2, validator_pb2_grpc
from services.kit.runtime import telemetry
from services.kit.runtime.grpc_telemetry import ClientTracing
from services.kit.security import tls
from services.orchestrator.circuit import CircuitBreaker

_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    decision_id: str | None = None
    policy_version: str = ""
    unavailable: bool = False  # no decision could be obtained (as opposed to a denial)
    rules: list[tuple[str, bool, str]] = field(default_factory=list)


class ValidatorClient:
    def __init__(self, address: str, timeout_s: float = 2.0, attempts: int = 3, backoff_s: float = 0.25,
                 breaker: CircuitBreaker | None = None, identity: str = "orchestrator") -> None:
        self.address, self.timeout_s, self.attempts, self.backoff_s = address, timeout_s, attempts, backoff_s
        self.breaker = breaker or CircuitBreaker("validator")
        # Reconnect quickly after a validator restart (gRPC's default backoff grows to minutes).
        self._channel = tls.secure_channel(address, identity, options=[  # mutual TLS as `identity`
            ("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000)], interceptors=[ClientTracing()])
        self._stub = validator_pb2_grpc.ValidatorStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def warm(self, timeout_s: float = 2.0) -> None:
        """Connect now (best effort) rather than on the first transition: a freshly promoted
        colour's first decisions then cost no connection set-up."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._channel.channel_ready(), timeout_s)

    async def validate(self, request: validator_pb2.ValidateTransitionRequest) -> Verdict:
        if not self.breaker.allow():
            return Verdict(False, f"validator unavailable at {self.address}: circuit open after "
                                  f"{self.breaker.failures} consecutive failures", unavailable=True)
        verdict = await self._call(request)
        if verdict.unavailable and verdict.decision_id is None:  # no answer at all: the validator is down
            self.breaker.failure()
        else:
            self.breaker.success()
        return verdict

    async def _call(self, request: validator_pb2.ValidateTransitionRequest) -> Verdict:
        last = "no attempt made"
        for attempt in range(self.attempts):
            started = time.perf_counter()
            try:
                # wait_for_ready: a channel still reconnecting waits (within the deadline) instead
                # of failing at once; a validator that stays down still fails the call.
                d = await self._stub.ValidateTransition(request, timeout=self.timeout_s, wait_for_ready=True)
            except grpc.aio.AioRpcError as exc:
                telemetry.VALIDATION_SECONDS.labels(request.target_phase, "error").observe(time.perf_counter() - started)
                last = exc.code().name
                if exc.code() not in _RETRYABLE:
                    break
                await asyncio.sleep(self.backoff_s * 2**attempt)
                continue
            except Exception as exc:  # fail closed on anything unexpected
                last = exc.__class__.__name__
                break
            telemetry.VALIDATION_SECONDS.labels(request.target_phase, "allow" if d.allowed else "deny").observe(time.perf_counter() - started)
            if d.retryable and attempt < self.attempts - 1:
                last = f"rule could not be evaluated ({d.reason})"
                await asyncio.sleep(self.backoff_s * 2**attempt)
                continue
            if d.retryable:
                return Verdict(False, f"validator could not decide: {d.reason}", decision_id=d.decision_id or None,
                               policy_version=d.policy_version, unavailable=True)
            return Verdict(
                allowed=d.allowed, reason=d.reason, decision_id=d.decision_id or None,
                policy_version=d.policy_version, rules=[(r.rule, r.allowed, r.reason) for r in d.rules],
            )
        return Verdict(False, f"validator unavailable at {self.address}: {last} after {self.attempts} attempt(s)", unavailable=True)
