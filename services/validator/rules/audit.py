"""The audit trail must already hold the workflow's request before its data is touched, and every
committed transition before review (read from the audit service's Redis projection, waiting up
to a second for it: an audit service that falls further behind stops workflows - fail closed)."""
from __future__ import annotations

import asyncio

from services.validator.rules.base import Context, Outcome, rule


async def _wait_for(ctx: Context, predicate, attempts: int = 100, pause_s: float = 0.01) -> bool:
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

    if await _wait_for(ctx, recorded):
        return True, "workflow recorded in the audit trail"
    return False, "workflow not yet in the audit trail"


@rule("audit_checkpoint")
async def audit_checkpoint(ctx: Context) -> Outcome:
    wf, expected = ctx.snapshot.workflow_id, int(ctx.fact("transitions", 0))

    async def complete() -> bool:
        return await ctx.deps.store.audit_transitions(wf) >= expected

    if expected and await _wait_for(ctx, complete):
        return True, f"all {expected} transitions recorded in the audit trail"
    return False, f"audit trail incomplete (expected {expected} transitions)"
