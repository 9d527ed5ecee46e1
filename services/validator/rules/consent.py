"""GDPR: every data subject the workflow processes consented to its purpose - re-checked at
each transition, so a withdrawal mid-workflow stops the next step."""
from __future__ import annotations

from services.validator.rules.base import Context, Outcome, rule


@rule("consent_recorded")
async def consent_recorded(ctx: Context) -> Outcome:
    subjects, purpose = list(ctx.snapshot.subject_ids), ctx.snapshot.purpose
    if not subjects:
        return False, "no data subjects listed"
    granted = await ctx.deps.store.consent(subjects, purpose)
    if not all(granted.values()) and await ctx.deps.barrier():
        granted = await ctx.deps.store.consent(subjects, purpose)
    missing = sum(1 for ok in granted.values() if not ok)
    if missing:
        return False, f"no consent for purpose {purpose!r} from {missing} of {len(subjects)} data subject(s)"
    return True, f"consent recorded for {len(subjects)} subject(s)"
