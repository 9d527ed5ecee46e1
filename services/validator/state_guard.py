"""The validator never signs a decision for a transition the workflow is not in.

A request names its workflow and the phase it claims to be in. That claim is checked against
what is recorded before any rule runs: the phases this validator (any instance) allowed the
workflow into - every forward transition needs its ALLOW, so the orchestrator's current phase
is always one of them - or the phase the audit projection of the signed log shows. A workflow
with no phase yet may only ask to enter INITIALIZATION. Anything else is refused with
FAILED_PRECONDITION and nothing is recorded: the validator is no oracle that signs ALLOW
decisions for made-up states, even for a caller that holds a valid certificate.

Re-asking after a crash (the orchestrator's transaction aborted after an ALLOW) stays possible:
the earlier phase is still in the allowed set."""
from __future__ import annotations

import redis.asyncio as aioredis

from services.kit.contracts.keys import validator_allowed_key, wf_key
from services.kit.contracts.phases import Phase
from services.kit.rpc import validator_pb2

KEEP_S = 30 * 24 * 3600  # a workflow that has not moved for 30 days falls back to the audit projection


class StateGuard:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def problem(self, request: validator_pb2.ValidateTransitionRequest) -> str:
        """"" when the claimed current phase is recorded for the workflow, else why not."""
        wf, current = request.snapshot.workflow_id, request.snapshot.current_phase
        if not wf:
            return "the request names no workflow"
        if not current:
            return "" if request.target_phase == Phase.INITIALIZATION.value else "a workflow starts with INITIALIZATION"
        if await self.redis.sismember(validator_allowed_key(wf), current):
            return ""
        recorded = await self.redis.hget(wf_key(wf), "phase")
        if recorded is not None and recorded.decode() == current:
            return ""
        return f"the workflow was never allowed into {current[:40]}"

    async def record(self, workflow_id: str, target_phase: str) -> None:
        key = validator_allowed_key(workflow_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, target_phase)
            pipe.expire(key, KEEP_S)
            await pipe.execute()
