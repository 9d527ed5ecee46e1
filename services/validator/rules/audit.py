"""The audit trail must already hold the workflow's request before its data is touched, and every
committed transition before review (read from the audit service's Redis projection, waiting up
to two seconds for it; the wait is woken by the audit service's progress notifications, it does
not poll). An audit service that falls further behind makes the rule undecidable: the denial is
retryable, and a workflow that still cannot pass ends FAILED - fail closed."""
from __future__ import annotations

from services.validator.rules.base import Context, Outcome, rule


class AuditTrailBehind(Exception):
    """The audit projection has not caught up yet: the rule cannot be evaluated (a retryable
    denial), which is not the same as the trail lacking the record (a policy denial)."""


GATE_WAIT_S = 2.0


@rule("audit_record_exists")
async def audit_record_exists(ctx: Context) -> Outcome:
    wf = ctx.snapshot.workflow_id

    async def recorded() -> bool:
        return await ctx.deps.store.audit_recorded(wf)

    if await ctx.deps.audit_progress.wait_until(wf, recorded, GATE_WAIT_S):
        return True, "workflow recorded in the audit trail"
    raise AuditTrailBehind()


@rule("audit_checkpoint")
async def audit_checkpoint(ctx: Context) -> Outcome:
    wf, expected = ctx.snapshot.workflow_id, int(ctx.fact("transitions", 0))

    async def complete() -> bool:
        return await ctx.deps.store.audit_transitions(wf) >= expected

    if not expected:
        return False, "no transitions to check"
    if await ctx.deps.audit_progress.wait_until(wf, complete, GATE_WAIT_S):
        return True, f"all {expected} transitions recorded in the audit trail"
    raise AuditTrailBehind()
