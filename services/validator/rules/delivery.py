"""COMPLETED only when every delivery is confirmed."""
from __future__ import annotations

from services.validator.rules.base import Context, Outcome, rule


@rule("delivery_confirmation")
async def delivery_confirmation(ctx: Context) -> Outcome:
    s = ctx.snapshot
    if s.deliveries_expected <= 0 or s.deliveries_confirmed != s.deliveries_expected:
        return False, f"{s.deliveries_confirmed} of {s.deliveries_expected} deliveries confirmed"
    return True, f"all {s.deliveries_expected} deliveries confirmed"
