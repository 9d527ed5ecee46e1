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
    retry_budget_s: float = 0.0  # the policy's retry budget when the validator told it (0: unknown)
    rules: list[tuple[str, bool, str]] = field(default_factory=list)


class ValidatorClient:
    def __init__(self, address: str, timeout_s: float = 2.0, attempts: int = 1, backoff_s: float = 0.25,
                 breaker: CircuitBreaker | None = None, identity: str = "orchestrator", concurrency: int = 32,
                 channels: int = 2) -> None:
        self.address, self.timeout_s, self.attempts, self.backoff_s = address, timeout_s, attempts, backoff_s
        self.breaker = breaker or CircuitBreaker("validator")
        # Bounded calls in flight (pool size from settings): a burst queues here, not as a pile of
        # requests whose deadlines all run out together at the validator.
        self._slots = asyncio.Semaphore(concurrency)
        # Several connections (mutual TLS as `identity`), each its own subchannel (local pool): with
        # N validator instances behind one address (SO_REUSEPORT) the kernel spreads the
        # connections over them. Reconnect quickly after a validator restart (gRPC's default
        # backoff grows to minutes).
        options = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
                   ("grpc.max_reconnect_backoff_ms", 1000), ("grpc.use_local_subchannel_pool", 1)]
        self._channels = [tls.secure_channel(address, identity, options=[*options, ("uf.channel", i)], interceptors=[ClientTracing()])
                          for i in range(max(1, channels))]
        self._stubs = [validator_pb2_grpc.ValidatorStub(c) for c in self._channels]
        self._next = 0

    async def close(self) -> None:
        for c in self._channels:
            await c.close()

    def _stub(self) -> validator_pb2_grpc.ValidatorStub:
        self._next = (self._next + 1) % len(self._stubs)
        return self._stubs[self._next]

    async def warm(self, timeout_s: float = 2.0) -> None:
        """Connect now (best effort) rather than on the first transition: a freshly promoted
        colour's first decisions then cost no connection set-up."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.channel_ready() for c in self._channels)), timeout_s)

    async def validate(self, request: validator_pb2.ValidateTransitionRequest) -> Verdict:
        if not self.breaker.allow():
            return Verdict(False, f"validator unavailable at {self.address}: circuit open after "
                                  f"{self.breaker.failures} consecutive failures", unavailable=True)
        async with self._slots:
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
                d = await self._stub().ValidateTransition(request, timeout=self.timeout_s, wait_for_ready=True)
            except grpc.aio.AioRpcError as exc:
                telemetry.VALIDATION_SECONDS.labels(request.target_phase, "error").observe(time.perf_counter() - started)
                last = exc.code().name
                if exc.code() not in _RETRYABLE:
                    break
                if attempt < self.attempts - 1:
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
                               policy_version=d.policy_version, unavailable=True, retry_budget_s=d.retry_budget_s)
            return Verdict(
                allowed=d.allowed, reason=d.reason, decision_id=d.decision_id or None,
                policy_version=d.policy_version, rules=[(r.rule, r.allowed, r.reason) for r in d.rules],
            )
        return Verdict(False, f"validator unavailable at {self.address}: {last} after {self.attempts} attempt(s)", unavailable=True)
