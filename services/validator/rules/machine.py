"""The phase machine guards every transition (not configurable by policy)."""
from __future__ import annotations

from services.kit.contracts.phases import is_legal, parse_phase
from services.validator.rules.base import Context, Outcome, rule


@rule("phase_machine")
async def phase_machine(ctx: Context) -> Outcome:
    try:
        current, target = parse_phase(ctx.snapshot.current_phase), parse_phase(ctx.request.target_phase)
    except ValueError:
        return False, "unknown phase"
    if target is None:
        return False, "no target phase"
    if not is_legal(current, target):
        return False, f"illegal transition {current.value if current else 'START'} -> {target.value}"
    return True, "legal transition"
