"""REVIEW: a real approval by someone entitled to give it."""
from __future__ import annotations

from services.validator.rules.base import Context, Outcome, rule

AUTO = "policy:auto-approve"


@rule("human_approval")
async def human_approval(ctx: Context) -> Outcome:
    s, review = ctx.snapshot, ctx.policy.review
    if not s.review_approved:
        return False, "no approving review decision"
    if s.reviewer_id == AUTO:
        if not (s.auto_approve and review.auto_approve_allowed):
            return False, "automatic approval not allowed by policy"
        return True, "auto-approved by request policy"
    if s.reviewer_id.startswith("policy:"):
        return False, "unknown automatic reviewer"
    claims, problem = ctx.deps.tokens.verify(ctx.fact("reviewer_token", ""))
    if problem:
        return False, f"reviewer {problem}"
    if claims.get("sub") != s.reviewer_id:
        return False, "reviewer token does not belong to the reviewer"
    if review.four_eyes and s.reviewer_id == s.requester_id:
        return False, "four-eyes: the requester cannot approve their own workflow"
    return True, f"approved by {s.reviewer_id}"
