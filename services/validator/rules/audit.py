"""The audit trail must already hold the workflow's request before its data is touched, and every
committed transition before review (read from the audit service's Redis projection, waiting up
to two seconds for it). An audit service that falls further behind makes the rule undecidable:
the denial is retryable, and a workflow that still cannot pass ends FAILED - fail closed."""
from __future__ import annotations

import asyncio

from services.validator.rules.base import Context, Outcome, rule


class AuditTrailBehind(Exception):
    """The audit projection has not caught up yet: the rule cannot be evaluated (a retryable
    denial), which is not the same as the trail lacking the record (a policy denial)."""


async def _wait_for(predicate, attempts: int = 200, pause_s: float = 0.01) -> bool:
    for _ in range(attempts):
        if await predicate():
            return True
        await asyncio.sleep(pause_s)
    return False


@rule("audit_record_exists")
async def audit_record_exists(ctx: Context) -> Outcome:
    wf = ctx.snapshot.workflow_id

    async def recorded() -> bool:
        return await ctx.deps.store.audit_recorded(wf)

    if await _wait_for(recorded):
        return True, "workflow recorded in the audit trail"
    raise AuditTrailBehind()


@rule("audit_checkpoint")
async def audit_checkpoint(ctx: Context) -> Outcome:
    wf, expected = ctx.snapshot.workflow_id, int(ctx.fact("transitions", 0))

    async def complete() -> bool:
        return await ctx.deps.store.audit_transitions(wf) >= expected

    if not expected:
        return False, "no transitions to check"
    if await _wait_for(complete):
        return True, f"all {expected} transitions recorded in the audit trail"
    raise AuditTrailBehind()
